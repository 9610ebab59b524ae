"""Refs: compare-and-swap updates with reflog messages, and fast listing under a prefix.

A mixin of `GitDB` (it uses `self.repo` and `self.place`); and `write_packed_refs`,
packed-refs rewritten in one go for the refs only gitexp writes (no dulwich).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping

from gitexp.errors import ConcurrentUpdate
from gitexp.store.atomic import make_folder, read_file
from gitexp.store.ids import to_oid, to_ref

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Protocol

    from dulwich.repo import Repo

    from gitexp.store.location import Location

    class DirCache(Protocol):
        """Remembers the refs and the subfolder names of a folder for one mtime (see RefsMixin.refs_under)."""

        def get(self, folder: str, mtime_ns: int) -> tuple[dict[str, str], list[str]] | None: ...

        def put(self, folder: str, mtime_ns: int, refs: dict[str, str], subfolders: list[str]) -> None: ...


# How long a ref lock held by someone else is waited for before giving up, as git's
# core.filesRefLockTimeout does (git waits 100 ms for refs, 1 s for packed-refs).
LOCK_TIMEOUT = 1.0
_VANISHED_ATTEMPTS = 5  # a ref folder removed by a concurrent `git pack-refs` is created again
_PER_WORKTREE = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")  # kept in each worktree's git dir


# The core.fsync words that include references (git's `reference`, `committed`, `added`, `all`).
_REF_WORDS = ("reference", "committed", "added", "all")


def fsyncs_refs(value: str | None) -> bool:
    """Whether git flushes references to disk with `core.fsync` set to `value` (unset: it does not).

    As git reads the value: words between commas (leading blanks skipped); a word names
    each component it is a prefix of; `-word` removes from the default only, which has no
    references; a lone `-` ends the list.
    """
    for word in (value or "").split(","):
        word = word.lstrip(" \t\n\r")
        if word == "-":
            break
        if word and word[0] != "-" and any(name.startswith(word) for name in _REF_WORDS):
            return True
    return False


class RefLocked(Exception):
    """Someone holds the lock file of a ref (git's `<ref>.lock`, or dulwich's)."""

    def __init__(self, lockfile: str) -> None:
        super().__init__(lockfile)
        self.lockfile = lockfile


class RefsMixin:
    """Ref reads and compare-and-swap writes.

    Loose refs and packed-refs are read and written as git does (`<ref>.lock` created
    exclusively, the old value checked under it, the new one renamed into place, a
    reflog line appended), without dulwich; a repository whose refs are not files
    (reftable) goes through dulwich.
    """

    place: Location
    hex_length: int
    identity: Callable[[], bytes]  # GitDB's: the committer, also in reflogs

    @property
    def repo(self) -> Repo:  # provided by GitDB
        raise NotImplementedError

    def config(self, section: str, key: str) -> str | None:  # provided by GitDB
        raise NotImplementedError

    @property
    def _files_refs(self) -> bool:
        """Whether refs are loose files and packed-refs (not reftable): then gitexp reads and writes them."""
        return self.place.plain or type(self.repo.refs).__name__ == "DiskRefsContainer"

    def read_ref(self, ref: str) -> str | None:
        """The object `ref` points at (symbolic refs followed), or None."""
        if not self._files_refs:
            try:
                return self.repo.refs[to_ref(ref)].decode()
            except KeyError:
                return None
        name = self._follow(ref)
        value = self._loose_value(name) or self._packed_ref(name)
        return value if value and len(value) == self.hex_length else None

    def _follow(self, ref: str) -> str:
        """The ref a chain of symbolic refs (`ref: …`) ends at (itself when not symbolic)."""
        for _ in range(5):  # git's limit of symbolic-ref depth
            value = self._loose_value(ref)
            if value is None or not value.startswith("ref: "):
                return ref
            ref = value[5:]
        return ref

    def _ref_path(self, ref: str, folder: str = "") -> str:
        """A loose ref's file (or its reflog's, `folder="logs"`): HEAD and other per-worktree
        refs live in the worktree's own git dir."""
        per_worktree = not ref.startswith("refs/") or ref.startswith(_PER_WORKTREE)
        return os.path.join(self.place.control_dir if per_worktree else self.place.common_dir, folder, ref)

    def _loose_value(self, ref: str) -> str | None:
        try:
            with open(self._ref_path(ref), "rb") as f:
                return f.read(4096).strip().decode("utf-8", "surrogateescape")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def set_ref(self, ref: str, old: str | None, new: str, message: str) -> None:
        """Compare-and-swap `ref` from `old` (None: must not exist) to `new`."""
        msg = b"gitexp: " + message.encode()
        who = self.identity()  # the reflog's; read once per GitDB
        self._reflog_folder(ref)
        if self._files_refs:
            ok = self._retry_locked(ref, lambda: self._swap(self._follow(ref), old, new, msg))
        elif old is None:
            ok = self._retry_locked(ref, _dulwich_locked(
                lambda: self.repo.refs.add_if_new(to_ref(ref), to_oid(new), message=msg, committer=who)))
        else:
            ok = self._retry_locked(ref, _dulwich_locked(lambda: self.repo.refs.set_if_equals(
                to_ref(ref), to_oid(old), to_oid(new), message=msg, committer=who)))
        if not ok and self.read_ref(ref) != new:  # (== new: an attempt that raised had moved it)
            raise ConcurrentUpdate(f"{ref} changed while gitexp was updating it", hint="retry the command")

    def _swap(self, ref: str, old: str | None, new: str, message: bytes) -> bool:
        """One attempt at git's loose-ref update: lock, check, write, log, rename. False: `old` was stale.

        A crash leaves at most `<ref>.lock` (reported with how to remove it), never a
        half-written ref: the new value is complete before the rename. It is flushed to
        disk first when git's `core.fsync` asks for references, as git does (by default
        git does not: a machine crash is left to the file system, as for git's own refs).
        """
        path = self._ref_path(ref)
        lock = f"{path}.lock"
        make_folder(os.path.dirname(path))
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise RefLocked(lock) from None
        try:
            with os.fdopen(fd, "wb") as f:
                current = self._loose_value(ref) or self._packed_ref(ref)  # read under the lock
                if current != old or current == new:
                    os.unlink(lock)
                    return current == new
                f.write(new.encode() + b"\n")
                f.flush()
                if fsyncs_refs(self.config("core", "fsync")):
                    os.fsync(f.fileno())
            self._append_reflog(ref, old, new, message)
            os.replace(lock, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
            raise
        return True

    def _append_reflog(self, ref: str, old: str | None, new: str, message: bytes) -> None:
        """One line of `<ref>`'s reflog in git's format (the message on one line, as git keeps it)."""
        line = b"%s %s %s %d +0000\t%s\n" % ((old or "0" * self.hex_length).encode(), new.encode(),
                                               self.identity(), int(time.time()), b" ".join(message.split()))
        path = self._ref_path(ref, "logs")
        make_folder(os.path.dirname(path))
        with open(path, "ab") as f:
            f.write(line)

    def _reflog_folder(self, ref: str) -> None:
        """Create the reflog's folder first: dulwich creates it after moving the ref,
        without exist_ok, so two processes logging their first run of an experiment
        at once could see the ref updated and yet get FileExistsError."""
        os.makedirs(os.path.dirname(os.path.join(self.place.common_dir, "logs", ref)), exist_ok=True)

    def _retry_locked(self, ref: str, update: Callable[[], bool]) -> bool:
        """Run a ref update, waiting (with backoff) a short while for a lock someone holds.

        git itself holds `<ref>.lock` or `packed-refs.lock` for a moment during
        `git gc`, `git pack-refs` or a fetch: that is no reason to fail a run. Nor is
        a folder that `git pack-refs` removed (emptied) just as the update created it.
        """
        deadline = time.monotonic() + LOCK_TIMEOUT
        delay = 0.002
        vanished = 0
        while True:
            try:
                return update()
            except RefLocked as exc:
                if time.monotonic() >= deadline:
                    raise self._locked(ref, exc.lockfile) from None
            except FileNotFoundError:
                vanished += 1
                if vanished == _VANISHED_ATTEMPTS:
                    raise
            import random  # here: only a wait for a lock needs it, not every run start

            time.sleep(random.uniform(delay, 2 * delay))
            delay = min(delay * 2, 0.1)

    def _locked(self, ref: str, lock: str) -> ConcurrentUpdate:
        lock = lock or f"{os.path.join(self.place.common_dir, ref)}.lock"
        return ConcurrentUpdate(
            f"{ref} is locked by another writer: {lock} existed for over {LOCK_TIMEOUT:g} s",
            hint=f"retry; if no git or gitexp process is running in this repository, the lock is "
                 f"stale (left by a crash): remove it with: rm {lock}",
        )

    def delete_ref(self, ref: str, old: str, message: str) -> None:
        """Compare-and-delete `ref` (it must still point at `old`)."""
        self._reflog_folder(ref)
        msg = b"gitexp: " + message.encode()
        who = self.identity()
        ok = self._retry_locked(ref, _dulwich_locked(lambda: self.repo.refs.remove_if_equals(
            to_ref(ref), to_oid(old), message=msg, committer=who)))
        if not ok:
            raise ConcurrentUpdate(f"{ref} changed while gitexp was removing it", hint="retry the command")

    def refs_under(self, prefix: str, dir_cache: DirCache | None = None) -> dict[str, str]:
        """{full ref name: sha} for every ref under `prefix` (which ends in '/').

        Reads loose ref files and packed-refs directly: far cheaper than dulwich's
        generic path when there are thousands of run refs. With `dir_cache`, a
        folder whose mtime has not moved is neither listed nor read again: git and
        dulwich update loose refs by renaming a lock file into place, and a new
        subfolder is an entry of its parent, so either always touches it.
        """
        # Loose refs first, then packed-refs: `git pack-refs` writes packed-refs
        # before it deletes the loose files, so a ref is always seen in one of them.
        loose: dict[str, str] = {}
        folders = [prefix.rstrip("/")]
        while folders:
            rel = folders.pop()
            found = self._loose_folder(rel, dir_cache)
            if found is not None:
                loose.update(found[0])
                folders.extend(f"{rel}/{name}" for name in reversed(found[1]))
        out = self._packed_refs(prefix)
        out.update(loose)
        return out

    def _loose_folder(self, rel: str, dir_cache: DirCache | None) -> tuple[dict[str, str], list[str]] | None:
        """(refs, subfolder names) of the ref folder `rel`, remembered by `dir_cache` for its mtime;
        None when it is gone (`git pack-refs` removes emptied folders) or cannot be listed."""
        path = os.path.join(self.place.common_dir, rel)
        try:
            mtime = os.stat(path).st_mtime_ns if dir_cache is not None else 0
            found = dir_cache.get(rel, mtime) if dir_cache is not None else None
            if found is not None:
                return found
            with os.scandir(path) as entries:
                listed = [(e.name, e.is_dir(), e.is_symlink()) for e in entries]
        except OSError:
            return None
        files = [name for name, is_dir, _ in listed if not is_dir]
        subfolders = [name for name, is_dir, link in listed if is_dir and not link]  # as os.walk: links not followed
        found = read_loose_refs(path, rel + "/", files, self.hex_length), subfolders
        if dir_cache is not None:
            dir_cache.put(rel, mtime, *found)
        return found

    def _packed_refs(self, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            with open(os.path.join(self.place.common_dir, "packed-refs"), "rb") as f:
                for line in f:
                    if line[:1] in (b"#", b"^"):
                        continue
                    sha, _, name = line.rstrip(b"\n").partition(b" ")
                    ref = name.decode("utf-8", "replace")
                    if ref.startswith(prefix) and len(sha) == self.hex_length:
                        out[ref] = sha.decode()
        except FileNotFoundError:
            pass
        return out

    def _packed_ref(self, ref: str) -> str | None:
        """One ref's id in packed-refs, found without parsing the other lines (10,000 runs: one search)."""
        try:
            with open(os.path.join(self.place.common_dir, "packed-refs"), "rb") as f:
                data = f.read() + b"\n"
        except FileNotFoundError:
            return None
        key = b" " + ref.encode() + b"\n"
        at = data.find(key)
        while at != -1:
            sha = data[data.rfind(b"\n", 0, at) + 1:at]  # the line's start (0 on the first line)
            if len(sha) == self.hex_length and sha[:1] not in (b"#", b"^"):
                return sha.decode()
            at = data.find(key, at + 1)
        return None

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository with no commits."""
        return self.read_ref("HEAD")

    def head_branch(self) -> str | None:
        """The branch HEAD is on (`main`, or `feature/x`), None when detached; linked worktrees have their own."""
        if self._files_refs:
            target = self._loose_value("HEAD") or ""
        else:
            try:
                target = (self.repo.refs.read_ref(to_ref("HEAD")) or b"").decode("utf-8", "replace")
            except Exception:
                return None
        return target[len("ref: refs/heads/"):] if target.startswith("ref: refs/heads/") else None


def _dulwich_locked(update: Callable[[], bool]) -> Callable[[], bool]:
    """`update` (a dulwich ref update) with dulwich's FileLocked raised as RefLocked."""
    def attempt() -> bool:
        from dulwich.file import FileLocked

        try:
            return update()
        except FileLocked as exc:
            lock = exc.lockfilename
            raise RefLocked(os.fsdecode(lock) if lock else "") from None
    return attempt


def read_loose_refs(dirpath: str, lead: str, files: list[str], hex_length: int) -> dict[str, str]:
    """{lead + file name: id} of the loose ref files `files` in `dirpath` (locks and junk skipped)."""
    found = {}
    for name in files:
        if name.endswith(".lock"):
            continue
        try:
            with open(os.path.join(dirpath, name), "rb") as f:
                value = f.read(100).strip()
        except OSError:
            continue
        if len(value) == hex_length:
            found[lead + name] = value.decode()
    return found


# -- packed-refs, written whole (refs only gitexp writes: tracking copies, a push's own) --
PACKED_HEADER = b"# pack-refs with:"


def write_packed_refs(common_dir: str | os.PathLike[str], refs: Mapping[str, str | None]) -> bool:
    """Set (None: delete) `refs` in packed-refs and remove their loose files; False if it is locked.

    One file rewritten under git's `packed-refs.lock`, sorted by name as git keeps it
    (its header says `sorted`; peeled `^` lines stay with their refs). No
    compare-and-swap: only for refs that gitexp alone writes, whose readers may see
    an old value (never none) while the file is replaced: the new file is in place
    before a loose file is removed. False too in a reftable repository.
    """
    if not refs:
        return True
    if os.path.isdir(os.path.join(common_dir, "reftable")):
        return False
    path = os.path.join(common_dir, "packed-refs")
    lock = os.path.join(common_dir, "packed-refs.lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:  # a gc or pack-refs holds it now (or the folder is read-only)
        return False
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_packed_text(path, refs))
        os.replace(lock, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        raise
    for ref in refs:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(common_dir, ref))
    return True


def _packed_text(path: str, refs: Mapping[str, str | None]) -> bytes:
    """packed-refs' new content: its lines (a ref with its `^` line) with `refs` applied, sorted."""
    try:
        old = read_file(path)
    except FileNotFoundError:
        old = b""
    traits = old.split(b"\n", 1)[0].split() if old.startswith(PACKED_HEADER) else []
    peeled = not old or b"peeled" in traits  # refs/tags/ lines carry their `^` lines: keep saying so
    entries: dict[bytes, bytes] = {}
    last = b""
    for line in old.splitlines(keepends=True):
        if line.startswith(b"^") and last:
            entries[last] += line
        elif not line.startswith(b"#") and b" " in line:
            last = line.rstrip(b"\n").partition(b" ")[2]
            entries[last] = line if line.endswith(b"\n") else line + b"\n"
    for ref, sha in refs.items():
        name = ref.encode()
        if sha is None:
            entries.pop(name, None)
        else:
            entries[name] = b"%s %s\n" % (sha.encode(), name)
    header = PACKED_HEADER + (b" peeled" if peeled else b"") + b" sorted \n"
    return header + b"".join(entries[name] for name in sorted(entries))
