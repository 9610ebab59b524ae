"""Run refs picked by name before any ref file is read: the cheap listing a git hook needs.

`RefsMixin.refs_under` reads every loose ref; with 10,000 runs that is 10,000 small
reads. A hook only wants runs started after a point in time, and run ids carry their
start time, so the names alone decide which files are worth opening.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def refs_named(common_dir: Path, prefix: str, keep: Callable[[str], bool], min_name: str = "") -> dict[str, str]:
    """{ref: sha} of refs under `prefix` (ending in '/') whose last component passes `keep`.

    Names sorting before `min_name` are skipped without calling `keep` (run ids sort by
    start time, so a hook skips 10,000 old runs by comparing bytes).
    """
    out: dict[str, str] = {}
    low, pre = min_name.encode(), prefix.encode()
    try:
        with open(common_dir / "packed-refs", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
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
    for dirpath, _dirs, files in os.walk(common_dir / prefix):
        rel = Path(dirpath).relative_to(common_dir).as_posix()
        for name in files:
            if name.endswith(".lock") or name < min_name or not keep(name):
                continue
            try:
                with open(os.path.join(dirpath, name), "rb") as f:
                    value = f.read(100).strip()
            except OSError:
                continue
            if len(value) == 40:
                out[f"{rel}/{name}"] = value.decode()  # a loose ref wins over its packed copy
    return out
