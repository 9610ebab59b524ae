"""Git's index file read in one pass: what a snapshot needs of each entry (its blob, mode and stat data).

A run start reads the whole index; dulwich's reader builds an object per entry
field by field and costs a run more to import than this module takes to read a
few thousand entries. Versions 2, 3 and 4 (path prefix compression, with git's
own varint) are read here; anything else returns None and dulwich reads it.
"""

from __future__ import annotations

import struct

from gitexp.slots import Value

_STAT = struct.Struct(">10L")  # ctime s, ns, mtime s, ns, dev, ino, mode, uid, gid, size
_FLAGS = struct.Struct(">H")
_EXTENDED = 0x4000
_SKIP_WORKTREE = 0x4000  # in the extended flags: sparse checkout


class IndexRow(Value):
    """One path of the index: `stage` > 0 for a merge conflict (then the other fields are of one stage)."""

    mode: int
    sha: str
    size: int  # the low 32 bits, as git stores it
    mtime_ns: int
    stage: int
    skip_worktree: bool


def read_index(data: bytes, oid_bytes: int) -> dict[bytes, IndexRow] | None:
    """{path: row} of an index file's bytes; None for a version or a layout left to dulwich."""
    if data[:4] != b"DIRC" or len(data) < 12:
        return None
    version, count = struct.unpack_from(">LL", data, 4)
    if version not in (2, 3, 4):
        return None
    try:
        return _entries(data, version, count, oid_bytes)
    except (struct.error, ValueError, IndexError):
        return None  # truncated or malformed: dulwich says what is wrong


def _entries(data: bytes, version: int, count: int, oid_bytes: int) -> dict[bytes, IndexRow]:
    rows: dict[bytes, IndexRow] = {}
    pos, previous = 12, b""
    fixed = _STAT.size + oid_bytes
    for _ in range(count):
        start = pos
        _, _, mtime_s, mtime_ns, _, _, mode, _, _, size = _STAT.unpack_from(data, pos)
        sha = data[pos + _STAT.size:pos + fixed].hex()
        (flags,) = _FLAGS.unpack_from(data, pos + fixed)
        pos += fixed + 2
        extended = 0
        if flags & _EXTENDED:
            if version < 3:
                raise ValueError("extended flags in a version 2 index")
            (extended,) = _FLAGS.unpack_from(data, pos)
            pos += 2
        if version >= 4:
            strip, pos = _varint(data, pos)
            if strip > len(previous):
                raise ValueError("bad path compression")
            end = data.index(b"\0", pos)
            path = previous[:len(previous) - strip] + data[pos:end]
            pos = end + 1
        else:
            end = data.index(b"\0", pos)  # the NUL, not the 12-bit length field (0xFFF for long names)
            path = data[pos:end]
            pos = start + ((end - start + 8) & ~7)  # padded with 1 to 8 NULs to a multiple of 8
        previous = path
        stage = (flags >> 12) & 3
        if stage or path not in rows:  # any stage of a conflict marks the path conflicted
            rows[path] = IndexRow(mode, sha, size, mtime_s * 1_000_000_000 + mtime_ns, stage,
                                  bool(extended & _SKIP_WORKTREE))
    return rows


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """git's offset varint (varint.c): big-endian 7-bit groups, each continuation adding one."""
    byte = data[pos]
    value = byte & 0x7F
    pos += 1
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        value = ((value + 1) << 7) | (byte & 0x7F)
    return value, pos
