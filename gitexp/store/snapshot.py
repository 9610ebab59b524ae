"""Snapshot the working tree into Git objects without touching the index or files.

Tracked files are taken with their working-tree content (the index's stat data
lets unchanged files reuse their blob id without being read, as `git status`
does); untracked files that are not ignored are added under a size cap.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence

from gitexp.slots import Value
from gitexp.store import gitproc
from gitexp.store.atomic import read_file
from gitexp.store.gitindex import IndexRow, read_index
from gitexp.store.location import untracked_command
from gitexp.store.objects import GitObject
from gitexp.store.repo import EXEC, FILE, GITLINK, LINK, Entry, GitDB
from gitexp.store.record import RECORD_DIR
from gitexp.store.secrets import secret_pattern
from gitexp.settings import SnapshotLimits  # settings data: defined there, so reading settings loads no dulwich

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from dulwich.ignore import IgnoreFilterManager
    from dulwich.repo import Repo


_SKIP_WORKTREE = 0x4000  # index extended flag set by sparse checkout


MANY_UNTRACKED_FILES = 1000  # more untracked files than this in a snapshot are worth a word
MANY_UNTRACKED_BYTES = 10 << 20


class Snapshot(Value):
    """A working tree's code as a flat listing of written blobs, and what was left out."""

    files: dict[str, Entry]
    skipped: list[dict]
    untracked: Sequence[tuple[str, int]] = ()  # (path, size) of untracked files taken

    def notices(self) -> list[str]:
        """One line each: many untracked files taken (and how to ignore them); files skipped as too large."""
        out = []
        total = sum(size for _, size in self.untracked)
        if len(self.untracked) > MANY_UNTRACKED_FILES or total > MANY_UNTRACKED_BYTES:
            folders = Counter(path.split("/", 1)[0] + ("/" if "/" in path else "") for path, _ in self.untracked)
            top = ", ".join(f"{name} ({n:,})" for name, n in folders.most_common(3))
            out.append(f"the code snapshot took {len(self.untracked):,} untracked files ({_size(total)}), "
                       f"mostly {top}; if they are data or outputs, add them to .gitignore "
                       "(or to snapshot.ignore in .gitexp.yaml)")
        big = [item for item in self.skipped if str(item.get("reason", "")).startswith(("larger", "snapshot total"))]
        if big:
            shown = ", ".join(f"{item['path']} ({_size(item.get('size', 0))})" for item in big[:5])
            more = f" and {len(big) - 5} more" if len(big) > 5 else ""
            out.append(f"not in the code snapshot (over its size caps): {shown}{more}; see run.yaml's skipped list")
        return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def snapshot_worktree(db: GitDB, limits: SnapshotLimits | None = None) -> Snapshot:
    """Write the working tree's blobs and return the flat file listing."""
    limits = limits or SnapshotLimits()
    if db.place.work_tree is None:
        return Snapshot({}, [])
    files: dict[str, Entry] = {}
    new_blobs: list[GitObject] = []
    skipped: list[dict] = []
    tracked = _tracked(db, files, new_blobs, skipped)
    untracked: list[tuple[str, int]] = []
    skipped += _untracked(db, tracked, limits, files, new_blobs, untracked)
    if new_blobs:
        db.add_objects(new_blobs)
    return Snapshot(files, skipped, untracked)


def _excluded(path: str) -> bool:
    return path == RECORD_DIR or path.startswith(RECORD_DIR + "/")


def _tracked(db: GitDB, files: dict[str, Entry], new_blobs: list[GitObject], skipped: list[dict]) -> set[str]:
    root = db.place.work_tree
    assert root is not None
    index_path = os.path.join(db.place.control_dir, "index")  # where dulwich's Repo.index_path() is
    try:
        with open(index_path, "rb") as f:
            data = f.read()
            index_mtime = os.fstat(f.fileno()).st_mtime_ns
    except FileNotFoundError:  # no index yet
        return set()
    rows = read_index(data, db.hex_length // 2)
    if rows is None:
        rows = _dulwich_rows(db)
    tracked: set[str] = set()
    for raw_path, entry in rows.items():
        path = raw_path.decode("utf-8", "surrogateescape")
        tracked.add(path)
        if _excluded(path) or entry.stage:  # a merge conflict's stages
            continue
        if entry.mode == GITLINK:
            files[path] = _submodule(os.path.join(root, path), entry.sha, path, skipped)
            continue
        if entry.skip_worktree:
            # Sparse checkout: absent from the working tree by design, not deleted; git uses the index.
            files[path] = Entry(entry.mode, entry.sha)
            continue
        got = _file_entry(db, os.path.join(root, path), entry, index_mtime, new_blobs)
        if got is not None:
            files[path] = got
    return tracked


def _dulwich_rows(db: GitDB) -> dict[bytes, IndexRow]:
    """The index as dulwich reads it (a version or layout `gitindex` leaves to it)."""
    from dulwich.index import IndexEntry

    try:
        index = db.repo.open_index(db.config_stack())
    except Exception:  # no index, or none dulwich can read: nothing tracked, as before
        return {}
    rows = {}
    for path, entry in index.items():
        if isinstance(entry, IndexEntry):
            mtime = entry.mtime
            ns = mtime[0] * 10**9 + mtime[1] if isinstance(mtime, tuple) else int(mtime * 10**9)
            rows[path] = IndexRow(entry.mode, entry.sha.decode(), entry.size, ns, 0,
                                  bool(getattr(entry, "extended_flags", 0) & _SKIP_WORKTREE))
        else:  # a merge conflict's stages
            rows[path] = IndexRow(0, "", 0, 0, 1, False)
    return rows


def _submodule(full: str, recorded: str, path: str, skipped: list[dict]) -> Entry:
    """A submodule as its gitlink: the commit checked out in it (else the index's).

    Never walked into: its files belong to its own repository. Uncommitted
    changes in it cannot be in a gitlink, so they are noted in `skipped`.
    """
    from dulwich.repo import Repo  # only repositories with submodules pay for the import

    try:
        with Repo(full) as sub:
            head = sub.head().decode()
            dirty = _submodule_dirty(sub)
    except Exception:  # not initialised (no checkout): the superproject's record stands
        return Entry(GITLINK, recorded)
    if dirty:
        skipped.append({"path": path, "size": 0,
                        "reason": "submodule with uncommitted changes (recorded as its commit)"})
    return Entry(GITLINK, head)


def _submodule_dirty(sub: Repo) -> bool:
    from dulwich import porcelain  # only repositories with submodules pay for the import

    status = porcelain.status(sub, untracked_files="normal")
    return bool(any(status.staged.values()) or status.unstaged or status.untracked)


def _file_entry(db: GitDB, full: str, entry: IndexRow, index_mtime: int, new_blobs: list[GitObject]) -> Entry | None:
    try:
        st = os.lstat(full)
    except OSError:
        return None  # deleted in the working tree
    if stat.S_ISDIR(st.st_mode):
        return None
    mode = _mode(st)
    if _unchanged(st, entry, index_mtime) and mode == entry.mode:
        return Entry(mode, entry.sha)
    return _blob_entry(db, full, st, new_blobs)


def _unchanged(st: os.stat_result, entry: IndexRow, index_mtime: int) -> bool:
    # "racy git": a file modified in the same instant as the index may not match it.
    return st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns and st.st_mtime_ns < index_mtime


def _mode(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode):
        return LINK
    return EXEC if st.st_mode & 0o111 else FILE


def _blob_entry(db: GitDB, full: str, st: os.stat_result, new_blobs: list[GitObject]) -> Entry:
    data = os.readlink(full).encode() if stat.S_ISLNK(st.st_mode) else read_file(full)
    blob = db.make("blob", data)
    new_blobs.append(blob)
    return Entry(_mode(st), blob.id)


def _untracked(db: GitDB, tracked: set[str], limits: SnapshotLimits,
               files: dict[str, Entry], new_blobs: list[GitObject], taken: list[tuple[str, int]]) -> list[dict]:
    root = db.place.work_tree
    assert root is not None
    skipped: list[dict] = []
    total = 0
    for rel, full, st in _untracked_files(db, root, tracked, limits.ignore):
        if pattern := secret_pattern(rel, limits.secrets):
            skipped.append({"path": rel, "size": st.st_size, "reason": f"looks like a credential ({pattern})"})
        elif st.st_size > limits.max_file_size:
            skipped.append({"path": rel, "size": st.st_size, "reason": "larger than the snapshot cap"})
        elif total + st.st_size > limits.max_total_size:
            skipped.append({"path": rel, "size": st.st_size, "reason": "snapshot total cap reached"})
        else:
            total += st.st_size
            files[rel] = _blob_entry(db, full, st, new_blobs)
            taken.append((rel, st.st_size))
    return skipped


def _untracked_files(db: GitDB, root: str, tracked: set[str],
                     patterns: list[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, full path, lstat) of untracked, unignored files, in git's order.

    git says which (`git ls-files -o --exclude-standard`: one process, git's own
    ignore rules); where git cannot answer, dulwich's ignore rules and a walk do.
    """
    listed = _git_untracked(db, root)
    if listed is None:
        from dulwich.ignore import IgnoreFilterManager

        yield from _walk(root, IgnoreFilterManager.from_repo(db.repo), tracked, patterns)
        return
    for rel in listed:
        # "sub/": another repository inside the work tree (git does not look in)
        if rel.endswith("/") or rel in tracked or _excluded(rel) or (patterns and _matches_part(rel, patterns)):
            continue
        full = os.path.join(root, rel)
        try:
            st = os.lstat(full)
        except OSError:  # removed meanwhile
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield rel, full, st


def _git_untracked(db: GitDB, root: str) -> list[str] | None:
    """The untracked, unignored paths git lists, or None when git cannot answer."""
    try:
        code, out, _ = gitproc.run(*untracked_command(db.place))
    except gitproc.GitCommandError:  # git is not installed
        return None
    if code != 0:
        return None
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def _matches_part(rel: str, patterns: list[str]) -> bool:
    """Whether `rel` or one of its folders matches a snapshot ignore pattern."""
    parts = rel.split("/")
    return any(_matches("/".join(parts[:i]), patterns) for i in range(1, len(parts) + 1))


def _walk(root: str, ignore: IgnoreFilterManager, tracked: set[str], patterns: list[str]):
    """Yield (relative path, full path, lstat) of untracked, unignored files (without git)."""
    tracked_dirs = {p[:i] for p in tracked for i, c in enumerate(p) if c == "/"}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel_dir) if rel_dir else root))
        except OSError:
            continue
        for item in entries:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if item.name == ".git" or _excluded(rel) or _matches(rel, patterns):
                continue
            if item.is_dir(follow_symlinks=False):
                if rel in tracked or os.path.lexists(os.path.join(item.path, ".git")):
                    continue  # a submodule (its gitlink is recorded) or another repository
                if rel in tracked_dirs or not ignore.is_ignored(rel + "/"):
                    stack.append(rel)
            elif rel not in tracked and not ignore.is_ignored(rel):
                yield rel, item.path, item.stat(follow_symlinks=False)


def _matches(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)
