"""Run refs picked by name before any ref file is read: the cheap listing a git hook needs.

`RefsMixin.refs_under` reads every loose ref; with 10,000 runs that is 10,000 small
reads. A hook only wants runs started after a point in time, and run ids carry their
start time, so the names alone decide which files are worth opening; and a folder
not changed since then holds none of them (writing a ref renames a file into its
folder), so it is not even listed.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: git hooks import this module
if TYPE_CHECKING:
    from collections.abc import Callable


def refs_named(common_dir: str, prefix: str, keep: Callable[[str], bool], min_name: str = "",
               since: float = 0) -> dict[str, str]:
    """{ref: sha} of the refs `<prefix><folder>/<name>` (`prefix` ends in '/') whose name passes `keep`.

    Names sorting before `min_name` are skipped without calling `keep` (run ids sort by
    start time, so a hook skips 10,000 old runs by comparing strings); loose refs in a
    folder last changed before `since` (Unix seconds) are skipped without listing it.
    """
    out = _packed(common_dir, prefix, keep, min_name)
    top = os.path.join(common_dir, prefix)
    try:
        folders = os.listdir(top)
    except OSError:
        return out
    for folder in folders:
        path = os.path.join(top, folder)
        try:
            names = [n for n in os.listdir(path) if n >= min_name] if os.stat(path).st_mtime >= since else []
        except OSError:  # not a folder, or gone meanwhile
            continue
        for name in names:
            if name.endswith(".lock") or not keep(name):
                continue
            try:
                with open(os.path.join(top, folder, name), "rb") as f:
                    value = f.read(100).strip()
            except OSError:
                continue
            if len(value) in (40, 64):  # SHA-1 or SHA-256
                out[f"{prefix}{folder}/{name}"] = value.decode()  # a loose ref wins over its packed copy
    return out


def _packed(common_dir: str, prefix: str, keep: Callable[[str], bool], min_name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    low, pre = min_name.encode(), prefix.encode()
    try:
        with open(os.path.join(common_dir, "packed-refs"), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return out
    for line in data.split(b"\n"):
        sha, _, raw = line.partition(b" ")
        if not raw.startswith(pre) or line[:1] in (b"#", b"^"):
            continue
        last = raw[raw.rfind(b"/") + 1:]
        if last < low:
            continue
        ref = raw.decode("utf-8", "replace")
        if keep(ref.rsplit("/", 1)[-1]):
            out[ref] = sha.decode()
    return out
