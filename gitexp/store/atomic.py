"""Whole-file writes that readers never see half done."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(target: Path, data: bytes, prefix: str = ".gitexp-", mode: int | None = None) -> None:
    """Write `data` to `target` through a unique temp file beside it and a rename.

    Readers see the old file or the whole new one; a failure (a full disk, a kill)
    leaves at most the temp file's name behind, removed here when Python still runs.
    A FileNotFoundError (the folder removed meanwhile, e.g. by `git gc`) reaches the
    caller, which may write again.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=prefix)
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
