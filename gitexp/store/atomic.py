"""Whole files: read at once, and written so that readers never see them half done."""

from __future__ import annotations

import contextlib
import errno
import os


def read_file(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes, as `Path.read_bytes` (the run path loads no pathlib)."""
    with open(path, "rb") as f:
        return f.read()


def make_temp(folder: str | os.PathLike[str], prefix: str) -> tuple[int, str]:
    """A new, exclusively created file in `folder` (0600), open for writing: (fd, path).

    tempfile.mkstemp's contract, without importing tempfile (and `random`) on a run start.
    """
    while True:
        path = os.path.join(folder, prefix + os.urandom(6).hex())
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), path
        except FileExistsError:  # 48 random bits taken: draw again
            continue


def make_folder(folder: str | os.PathLike[str]) -> None:
    """`mkdir -p folder`. A folder that existed at mkdir but is gone at once (`git gc` prunes empty
    fan-out folders) is a FileNotFoundError, which callers retry, not os.makedirs' FileExistsError."""
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        if os.path.lexists(folder):
            raise  # a file in the way: a real error
        raise FileNotFoundError(errno.ENOENT, "folder removed while it was being created", os.fspath(folder)) from None


def write_atomic(target: str | os.PathLike[str], data: bytes, prefix: str = ".gitexp-",
                 mode: int | None = None) -> None:
    """Write `data` to `target` through a unique temp file beside it and a rename.

    Readers see the old file or the whole new one; a failure (a full disk, a kill)
    leaves at most the temp file's name behind, removed here when Python still runs.
    A FileNotFoundError (the folder removed meanwhile, e.g. by `git gc`) reaches the
    caller, which may write again.
    """
    folder = os.path.dirname(target) or "."
    make_folder(folder)
    fd, tmp = make_temp(folder, prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
