"""Git objects formatted and hashed as git does, with no dulwich: blobs, trees, commits.

A run start or end writes a few dozen small objects; formatting them here (and
writing them loose in `GitDB`) spares the ~100 ms of importing dulwich. The bytes
are git's own: `tests/test_objects.py` checks them against `git hash-object`,
`git mktree` and `git commit-tree`, in SHA-1 and SHA-256 repositories.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from gitexp.slots import Value
from gitexp.store.flock import sha1 as _small_sha1  # CPython's built-in SHA-1 (hashlib loads OpenSSL)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Any

try:
    from _sha256 import sha256 as _small_sha256  # Python 3.11
except ImportError:  # pragma: no cover - 3.12+: _sha2
    try:
        from _sha2 import sha256 as _small_sha256
    except ImportError:
        from hashlib import sha256 as _small_sha256
_BUILTIN_UP_TO = 1 << 20  # bytes: larger objects are hashed by OpenSSL

DIR = 0o040000
TYPE_NUMBERS = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}  # as packs number them


class GitObject(Value):
    """One object: its type (`blob`, `tree`, `commit`, `tag`), content and hex id."""

    kind: str
    data: bytes
    id: str

    def loose(self, level: int) -> bytes:
        """The object as a loose file holds it: `<kind> <size>\\0<data>`, deflated."""
        return zlib.compress(_header(self.kind, self.data) + self.data, level)


def make(kind: str, data: bytes, hex_length: int = 40) -> GitObject:
    """The object `kind` with `data`, its id hashed with SHA-1 (40 hex digits) or SHA-256 (64)."""
    full = _header(kind, data) + data
    return GitObject(kind, data, _hasher(hex_length == 40, len(full))(full).hexdigest())


def _hasher(sha1: bool, size: int) -> Any:
    """CPython's built-in SHA for what a run writes (importing hashlib loads OpenSSL: milliseconds
    of every run start); OpenSSL's, faster on large data, for big files."""
    if size < _BUILTIN_UP_TO:
        return _small_sha1 if sha1 else _small_sha256
    import hashlib

    return hashlib.sha1 if sha1 else hashlib.sha256


def _header(kind: str, data: bytes) -> bytes:
    return b"%s %d\0" % (kind.encode(), len(data))


def tree_data(entries: Iterable[tuple[str, int, str]]) -> bytes:
    """A tree's content from (name, mode, hex id) entries, in git's order.

    git sorts entries by name bytes, a folder's name compared as if it ended in `/`
    (so `a.txt` comes before folder `a`, and folder `a` before `a0`).
    """
    rows = [(name.encode("utf-8", "surrogateescape"), mode, sha) for name, mode, sha in entries]
    rows.sort(key=lambda row: row[0] + b"/" if row[1] == DIR else row[0])
    return b"".join(b"%o %s\0%s" % (mode, name, bytes.fromhex(sha)) for name, mode, sha in rows)


def commit_data(tree: str, parents: Iterable[str], ident: bytes, when: int, message: bytes,
                encoding: bytes | None = b"UTF-8") -> bytes:
    """A commit's content: author and committer `ident` at `when` (UTC), as gitexp writes them.

    The `encoding` header is what gitexp has always written (git itself leaves it out for
    UTF-8); `encoding=None` gives `git commit-tree`'s bytes.
    """
    stamp = b"%s %d +0000\n" % (ident, when)
    lines = [b"tree %s\n" % tree.encode(), *(b"parent %s\n" % p.encode() for p in parents),
             b"author " + stamp, b"committer " + stamp]
    if encoding is not None:
        lines.append(b"encoding %s\n" % encoding)
    return b"".join(lines) + b"\n" + message
