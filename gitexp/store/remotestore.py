"""A remote artifact store: the side store's objects (named by sha256) somewhere else.

A directory path or `file://` URL works out of the box; any fsspec URL (`s3://`,
`gs://`, `az://`, `ssh://`…) with the optional extra `pip install 'gitexp[cloud]'`.

An object is present only under its final name, and only once its bytes were
checked against its hash: uploads go to `<name>.partial` first (a directory
store resumes an interrupted one from where it stopped), are hashed again where
they landed, then renamed. A partial object never counts as present.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

from gitexp.errors import ConfigError, GitexpError
from gitexp.store.sidestore import CHUNK, SideStore

PARTIAL = ".partial"


class RemoteStore(Protocol):
    location: str

    def has(self, sha256: str) -> bool: ...

    def upload(self, source: Path, sha256: str) -> int: ...

    def download(self, sha256: str, target: Path) -> None: ...


def open_store(location: str, base: Path | None = None) -> RemoteStore:
    """The store at `location`; a relative path is taken from `base` (the repository root)."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        path = Path(parsed.path if parsed.scheme == "file" else location).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return DirStore(path, location)
    try:
        import fsspec  # noqa: F401
    except ImportError:
        raise ConfigError(f"the artifact store {location} needs fsspec",
                          hint="pip install 'gitexp[cloud]'  (fsspec and s3fs)") from None
    return FsspecStore(location)


def _key(sha256: str) -> str:
    SideStore(Path(".")).path_of(sha256)  # validates the hash's shape
    return f"{sha256[:2]}/{sha256[2:]}"


def _hash_prefix(path: Path, size: int) -> str:
    digest, left = hashlib.sha256(), size
    with open(path, "rb") as f:
        while left > 0 and (chunk := f.read(min(CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class DirStore:
    """A store in a directory (a shared disk, an NFS mount): `root/ab/cdef…`."""

    def __init__(self, root: Path, location: str) -> None:
        self.root = root
        self.location = location

    def _path(self, sha256: str) -> Path:
        return self.root / _key(sha256)

    def has(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def upload(self, source: Path, sha256: str) -> int:
        """Copy `source` in; resume a `.partial` left by an interrupted upload. Bytes sent."""
        target = self._path(sha256)
        if target.is_file():
            return 0
        if not self.root.is_dir():
            raise GitexpError(f"the artifact store {self.location} does not exist",
                              hint=f"create it (mkdir -p {self.root}) or fix it: gitexp store set REMOTE LOCATION")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + PARTIAL)
        have = partial.stat().st_size if partial.exists() else 0
        size = source.stat().st_size
        if have > size or (have and _hash_prefix(partial, have) != _hash_prefix(source, have)):
            have = 0  # not a prefix of this file: start again
        sent = 0
        with open(source, "rb") as src, open(partial, "r+b" if have else "wb") as out:
            src.seek(have)
            out.seek(have)
            out.truncate()
            while chunk := src.read(CHUNK):
                out.write(chunk)
                sent += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if _hash_file(partial) != sha256:
            partial.unlink()
            raise GitexpError(f"upload of artifact {sha256[:12]} to {self.location} did not verify (hash mismatch)",
                              hint="push again")
        os.replace(partial, target)
        return sent

    def download(self, sha256: str, target: Path) -> None:
        _copy_verified(lambda: open(self._path(sha256), "rb"), sha256, target, self.location)


class FsspecStore:
    """A store behind any fsspec URL (`s3://bucket/prefix`, `gs://…`)."""

    def __init__(self, location: str) -> None:
        import fsspec

        self.location = location
        self.fs, self.root = fsspec.core.url_to_fs(location)
        self.root = self.root.rstrip("/")

    def _path(self, sha256: str) -> str:
        return f"{self.root}/{_key(sha256)}"

    def has(self, sha256: str) -> bool:
        try:
            return bool(self.fs.isfile(self._path(sha256)))
        except FileNotFoundError:
            return False

    def upload(self, source: Path, sha256: str) -> int:
        """Upload to `<key>.partial`, hash what landed, then move it to its key."""
        final = self._path(sha256)
        if self.has(sha256):
            return 0
        partial = final + PARTIAL
        self.fs.put_file(str(source), partial)
        digest = hashlib.sha256()
        with self.fs.open(partial, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            self.fs.rm_file(partial)
            raise GitexpError(f"upload of artifact {sha256[:12]} to {self.location} did not verify (hash mismatch)",
                              hint="push again")
        self.fs.mv(partial, final)
        return source.stat().st_size

    def download(self, sha256: str, target: Path) -> None:
        _copy_verified(lambda: self.fs.open(self._path(sha256), "rb"), sha256, target, self.location)


def _copy_verified(opener: Callable[[], BinaryIO], sha256: str, target: Path, where: str) -> None:
    """Write the object to `target` through a temp file; a hash mismatch leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".gitexp-dl-")
    try:
        digest = hashlib.sha256()
        try:
            src = opener()
        except FileNotFoundError:
            raise GitexpError(f"artifact {sha256[:12]} is not in the store {where}",
                              hint="ask whoever made the run to push it: gitexp push") from None
        with os.fdopen(fd, "wb") as out, src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise GitexpError(f"artifact {sha256[:12]} from {where} is corrupt (hash mismatch); nothing was written",
                              hint="ask whoever pushed it to push it again")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
