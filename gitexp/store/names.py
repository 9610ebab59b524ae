"""Run-name reservations: one file per name under `.git/gitexp/names/`, created exclusively.

Two processes that start a run with the same name at once both try to create
the same file; the kernel lets exactly one succeed (`link(2)` of a complete
temp file, so a reader never sees a half-written reservation). A reservation
costs one file create however many runs the repository holds.

A reservation is a symbolic link whose target is the holder, `<experiment>/<id>
[<pid> <host>]`: symlink(2) creates it complete or not at all, and a target
under 60 bytes lives in the inode, so 2,000 reservations take no disk blocks
(a file each took 4 KiB). Where links cannot be made, and for reservations
written before, it is a JSON file, created by linking a complete temp file.

A reservation says which run ref holds the name. It may outlive its run (the
run was removed, renamed, or its start failed after a crash): the caller tells
whether a holder still holds the name, and a stale reservation is taken over
under `names/.lock`, so two takers never both win.

Reservations are local to a clone (never pushed): runs pulled from others may
carry a name that is reserved here too; such a name is ambiguous, and ids
tell the runs apart.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable, Iterator

from gitexp.slots import Value
from gitexp.store.atomic import make_temp, read_file
from gitexp.store.flock import exclusive, host_name, sha1_hex

RUNS_PREFIX = "refs/gitexp/runs/"  # repo.RUNS_PREFIX (this module stays free of dulwich)


SEEDED = ".seeded"  # written once the folder holds the names of the runs that existed before it


class Holder(Value):  # a namedtuple: made in a tenth of a dataclass's time, on every run start
    """Who holds a name: a run ref, and the process that reserved it (for starts in progress)."""

    name: str
    ref: str
    pid: int = 0
    host: str = ""

    def process_alive(self) -> bool | None:
        """True/False for a process on this machine; None when it ran on another one."""
        if self.host != host_name() or self.pid <= 0:
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


Holds = Callable[[Holder], bool]  # does this holder still hold its name? (its run exists and carries it)


class NameBook:
    """The reservations of one clone."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)

    def path(self, name: str) -> str:
        # Names are free text (any characters, up to 250): a digest makes a safe, short file name.
        return os.path.join(self.folder, sha1_hex(name.encode("utf-8", "surrogateescape")))

    def holder(self, name: str) -> Holder | None:
        """The reservation of `name`, or None (also for an unreadable one)."""
        path = self.path(name)
        try:
            return _from_link(name, os.readlink(path))
        except OSError:
            pass  # not a link: a JSON file (or nothing)
        try:
            import json  # here: reservations are links, a JSON file only where links fail

            raw = json.loads(read_file(path))
            return Holder(str(raw["name"]), str(raw["ref"]), int(raw.get("pid", 0)), str(raw.get("host", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def try_reserve(self, name: str, ref: str) -> Holder | None:
        """Reserve `name` for `ref` if nobody has; None on success, else the current holder.

        An unreadable reservation file counts as held (by nobody known).
        """
        if self.create(name, ref):
            return None
        return self.holder(name) or Holder(name, "")

    def create(self, name: str, ref: str) -> bool:
        """Reserve `name` for `ref` if nobody has; True if this call made the reservation.

        For a caller that moves on to another name when this one is taken (generated
        names): the holder is not read.
        """
        return self._create(Holder(name, ref, os.getpid(), host_name()))

    def reserve(self, name: str, ref: str, holds: Holds) -> Holder | None:
        """Reserve `name` for `ref`, taking over a stale reservation; None on success, else the holder."""
        other = self.try_reserve(name, ref)
        if other is None or other.ref == ref:
            return None
        if holds(other):
            return other
        with self._locked():
            current = self.holder(name)
            if current is not None and current != other and (current.ref == ref or holds(current)):
                return None if current.ref == ref else current
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(name))
            return self.try_reserve(name, ref)  # still exclusive: a lock-free reserver may have come first

    def release(self, name: str, ref: str) -> None:
        """Drop the reservation of `name` if `ref` holds it (a removed or renamed run, a failed start)."""
        with self._locked():
            current = self.holder(name)
            if current is not None and current.ref == ref:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(name))

    # -- filling the folder once ---------------------------------------------------
    @property
    def seeded(self) -> bool:
        return os.path.exists(os.path.join(self.folder, SEEDED))

    def seed(self, names: Iterable[tuple[str, str]]) -> int:
        """Reserve (name, ref) pairs of existing runs where not reserved yet; mark the folder filled."""
        made = 0
        with self._locked():
            if self.seeded:
                return 0
            os.makedirs(self.folder, exist_ok=True)
            for name, ref in names:
                made += self._create(Holder(name, ref))
            os.close(os.open(os.path.join(self.folder, SEEDED), os.O_WRONLY | os.O_CREAT, 0o666))
        return made

    # -- files -----------------------------------------------------------------------
    def _create(self, holder: Holder) -> bool:
        """Create the reservation if absent, complete or not at all; True if this call made it."""
        os.makedirs(self.folder, exist_ok=True)
        target = self.path(holder.name)
        link = _to_link(holder)
        if link is not None:
            try:
                os.symlink(link, target)  # atomic create-if-absent of a complete reservation
                return True
            except FileExistsError:
                return False
            except OSError as exc:  # no symbolic links here (some network or FAT file systems)
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
        import json

        return _create_file(self.folder, target, json.dumps(holder._asdict()).encode())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.folder, exist_ok=True)
        with exclusive(os.path.join(self.folder, ".lock")):
            yield


def _to_link(holder: Holder) -> str | None:
    """The link target of a reservation, or None when it does not fit one (not a run ref, odd host)."""
    if not holder.ref.startswith(RUNS_PREFIX) or any(c.isspace() for c in holder.host + holder.ref):
        return None
    process = f" {holder.pid} {holder.host}" if holder.pid > 0 and holder.host else ""
    return holder.ref[len(RUNS_PREFIX):] + process


def _from_link(name: str, text: str) -> Holder | None:
    ref, _, process = text.partition(" ")
    pid, _, host = process.partition(" ")
    try:
        return Holder(name, RUNS_PREFIX + ref, int(pid or 0), host)
    except ValueError:
        return None


def _create_file(folder: str, target: str, data: bytes) -> bool:
    """A JSON reservation: a complete temp file hard-linked into place (exclusive open without links)."""
    fd, tmp = make_temp(folder, "tmp_")
    try:
        os.write(fd, data)
        os.close(fd)
        fd = -1
        try:
            os.link(tmp, target)  # atomic create-if-absent of a complete file
            return True
        except FileExistsError:
            return False
        except OSError as exc:  # no hard links here either
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                raise
        return _create_exclusive(target, data)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _create_exclusive(target: str, data: bytes) -> bool:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True
