"""A content-addressed store for large artifacts: files named by their sha256."""

from __future__ import annotations

import os

from gitexp.errors import GitexpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(hex sha256, size) of a file, read in chunks."""
    import hashlib  # here: a listing knows of side stores (active runs' staged files) without hashing

    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class SideStore:
    """Files under `root/ab/cdef…`; writes are atomic, reads verify the hash."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from pathlib import Path  # here: a run's buffer folder names its store without making it

        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise GitexpError(f"invalid artifact hash {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()

    def put(self, source: str | os.PathLike[str], sha256: str) -> Path:
        """Copy `source` in under `sha256` (already computed by the caller)."""
        target = self.path_of(sha256)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        import shutil
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            got, _ = sha256_file(tmp)
            if got != sha256:
                raise GitexpError(f"{source} changed while it was being stored; log it again")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def open_verified(self, sha256: str) -> bytes:
        """The stored bytes, after checking they still hash to `sha256`."""
        path = self.path_of(sha256)
        if not path.exists():
            raise GitexpError(f"artifact {sha256[:12]} is not in the local store {self.root}",
                              hint="pull it from your team's store (gitexp pull)")
        data = path.read_bytes()
        import hashlib

        if hashlib.sha256(data).hexdigest() != sha256:
            raise GitexpError(f"artifact {sha256[:12]} in {self.root} is corrupt (hash mismatch)",
                              hint=f"delete {path} and pull it again")
        return data
