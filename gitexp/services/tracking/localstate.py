"""Local state of active runs: `.git/gitexp/active/<run-id>/` with an owner lock.

The process that owns a run holds an exclusive flock on `owner.lock` for the
run's lifetime. The kernel drops it when the process dies (even on kill -9),
so any later process that can take the lock knows the owner is gone and may
finalise the run as KILLED from what its journals hold.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from gitexp.errors import CorruptRecord
from gitexp.names import is_run_id
from gitexp.slots import Value
from gitexp.store.flock import exclusive, host_name
from gitexp.store.sidestore import SideStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # json's own string encoder: a run start writes its owner without loading json (and its regexes)
    from _json import encode_basestring_ascii as _json_string
except ImportError:  # pragma: no cover - an interpreter without json's C part
    from json.encoder import encode_basestring_ascii as _json_string


class ActiveDir(Value):
    """Paths of one run's buffer folder."""

    path: str

    @classmethod
    def of(cls, local_dir: str | os.PathLike[str], run_id: str) -> "ActiveDir":
        """The folder of run `run_id`; an id that is not a run id (`../../hooks`) is refused."""
        if not isinstance(run_id, str) or not is_run_id(run_id):
            raise CorruptRecord(f"{run_id!r:.40} is not a run id; refusing to use it as a local path")
        return cls(os.path.join(local_dir, "active", run_id))

    @property
    def run_id(self) -> str:
        return os.path.basename(self.path)

    @property
    def staged(self) -> SideStore:
        """Inline artifacts logged during the run, by sha256, until the final commit."""
        return SideStore(self.file("staged"))

    @property
    def output_log(self) -> str:
        return self.file("output.log")

    def file(self, name: str) -> str:
        """The path of `name` in the folder."""
        return os.path.join(self.path, name)

    def write_owner(self, ref: str) -> None:
        """Write `run.json`: the run's ref and this process (pid, host), as `json.dumps` writes them."""
        tmp = self.file("run.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f'{{"ref": {_json_string(ref)}, "pid": {os.getpid()}, "host": {_json_string(host_name())}}}')
        os.replace(tmp, self.file("run.json"))

    def read_meta(self) -> dict | None:
        import json

        try:
            with open(self.file("run.json"), encoding="utf-8") as f:
                return json.loads(f.read())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the folder and all in it, errors ignored (as `shutil.rmtree`, whose import would
        cost every run's end more than the removal)."""
        for folder, subfolders, files in os.walk(self.path, topdown=False):  # links are not followed
            for name in files:
                _quietly(os.unlink, os.path.join(folder, name))
            for name in subfolders:
                path = os.path.join(folder, name)
                _quietly(os.unlink if os.path.islink(path) else os.rmdir, path)
        _quietly(os.rmdir, self.path)


def _quietly(remove: Callable[[str], None], path: str) -> None:
    with suppress(OSError):
        remove(path)


class Flock:
    """A non-blocking flock on a file of an active folder, exclusive or shared."""

    def __init__(self, path: str, exclusive: bool = True) -> None:
        self.path, self.exclusive = path, exclusive
        self._fd: int | None = None

    def try_lock(self) -> bool:
        """Take the lock; False if another process holds it (always True without flock)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def forget(self) -> None:
        """In a forked child: close our copy of the descriptor; the parent keeps the lock."""
        self.release()  # a flock belongs to the open file, which the parent's descriptor keeps open


def owner_lock(folder: str | os.PathLike[str]) -> Flock:
    """Held (exclusive) by the process that owns the run for the run's lifetime."""
    return Flock(os.path.join(folder, "owner.lock"))


def attached_lock(folder: str | os.PathLike[str]) -> Flock:
    """Held (shared) by every process attached to a run it does not own (`gitexp run`'s child)."""
    return Flock(os.path.join(folder, "attached.lock"), exclusive=False)


def claim_abandoned(folder: str | os.PathLike[str]) -> Flock | None:
    """The owner lock of a run that no live process works on any more, else None.

    A run is abandoned when neither its owner nor any attached process is alive:
    if `gitexp run` is killed while its child still logs, the run is left alone
    until the child exits too. Without flock (Windows) nothing can be told
    apart, so no run is ever claimed.
    """
    if fcntl is None:
        return None
    owner = owner_lock(folder)
    if not owner.try_lock():
        return None
    helpers = Flock(os.path.join(folder, "attached.lock"))
    if not helpers.try_lock():
        owner.release()
        return None
    helpers.release()
    return owner


@contextmanager
def finalizing(folder: ActiveDir) -> Iterator[None]:
    """Exclusive: no other process appends to the run's journals meanwhile."""
    with exclusive(folder.file("finalize.lock")):
        yield


@contextmanager
def appending(folder: ActiveDir) -> Iterator[bool]:
    """Shared: yields True while the run still takes journal entries from others.

    False means the owner finalised the run (its folder is gone); the caller
    must then edit the run's commit instead.
    """
    try:
        fd = os.open(folder.file("finalize.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        yield False
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield os.fstat(fd).st_nlink > 0 and os.path.exists(folder.file("run.json"))
    finally:
        os.close(fd)


def active_dirs(local_dir: str | os.PathLike[str]) -> list[ActiveDir]:
    """Every run folder under `.git/gitexp/active/`."""
    root = os.path.join(local_dir, "active")
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [ActiveDir(e.path) for e in entries if e.is_dir()]
