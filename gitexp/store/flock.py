"""An exclusive, blocking flock on a file: the kernel drops it when the holder dies; the host name
that lock files written by gitexp (name reservations, `gc.pid`) record beside a pid, and the
digest that names lock files after free text (run names, a params file's path)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking, as before
    fcntl = None  # type: ignore[assignment]
try:
    from _sha1 import sha1  # CPython's own SHA-1: importing hashlib loads OpenSSL, milliseconds of a run start
except ImportError:  # pragma: no cover - a build without it
    from hashlib import sha1


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if absent) for the `with` block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def host_name() -> str:
    """This machine's name, as `socket.gethostname()` gives it (uname's node name), without importing socket."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # pragma: no cover - Windows

    return socket.gethostname()


def sha1_hex(data: bytes) -> str:
    """The SHA-1 of `data` in hex, as `hashlib.sha1(data).hexdigest()`."""
    return sha1(data).hexdigest()
