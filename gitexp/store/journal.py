"""Append-only local journals that buffer an active run's data under `.git/gitexp/active/`.

Each process attached to a run appends to its own files, so writers never
interleave. Params, tags and artifacts are tab-separated lines in
`journal-*.tsv`; a torn last line (a process killed mid-write) is ignored.
Metric points, the bulk, go to `metrics-*.bin` as checksummed frames of
marshalled (key, step, value, time) tuples: writing a frame costs ~60 ns a
point against ~1 us to format text. A torn or damaged frame is skipped.
Journals are local state, never pushed or pulled.
"""

from __future__ import annotations

import json
import marshal
import os
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitexp.store.record import Artifact, Point


_MAGIC = b"GXM1"
_FRAME = struct.Struct("<4sII")  # magic, payload length, crc32 of the payload


class JournalWriter:
    """One process's journal. Metrics are queued in memory and written by flush()."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.path = folder / f"journal-{stem}.tsv"
        self._file = open(self.path, "a", encoding="utf-8", buffering=1 << 16)
        self._points = open(folder / f"metrics-{stem}.bin", "ab")
        # Appended to by the hot path: (key, step, value, time in float seconds).
        self.pending: list[tuple[str, int, float, float]] = []
        self._lock = threading.Lock()

    def flush(self) -> None:
        """Write queued metric points and push them to the OS (survives kill -9)."""
        with self._lock:
            if self._file.closed:
                return
            # Keep the same list object: the hot path holds a bound `append` to it.
            size = len(self.pending)
            batch = self.pending[:size]
            del self.pending[:size]
            if batch:
                payload = marshal.dumps(batch)
                self._points.write(_FRAME.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload)
                self._points.flush()
            self._file.flush()

    def event(self, kind: str, key: str, payload: Any) -> None:
        """Record a param (`p`), tag (`t`, payload None deletes) or artifact (`a`) now.

        Events carry their time in ns, so journals of several processes merge in
        the order things happened, not the order of the files.
        """
        line = f"{kind}\t{key}\t{json.dumps(payload, allow_nan=True)}\t{time.time_ns()}\n"
        with self._lock:
            self._file.write(line)
        self.flush()

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._file.close()
            self._points.close()


@dataclass
class JournalData:
    """Everything read back from a run's journals."""

    metrics: dict[str, list[Point]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.metrics or self.params or self.tags or self.artifacts)


def read_journals(folder: Path) -> JournalData:
    """Merge every journal in `folder`; unreadable lines are skipped, never fatal."""
    data = JournalData()
    events: list[tuple[int, int, list[str]]] = []
    try:
        paths = sorted(folder.glob("journal-*.tsv"))
        frames = sorted(folder.glob("metrics-*.bin"))
    except OSError:  # the folder went away meanwhile: its run just ended and was committed
        return data
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                continue  # torn by a crash mid-write
            parts = line[:-1].split("\t")
            if parts[0] == "m":
                _metric(data, parts)
            elif len(parts) == 4 and parts[3].isdigit():
                events.append((int(parts[3]), len(events), parts))
    for _, _, parts in sorted(events):
        _event(data, parts)
    for path in frames:
        _read_frames(data, path)
    return data


def _read_frames(data: JournalData, path: Path) -> None:
    """Add the points of every intact frame; stop at the first torn or damaged one."""
    try:
        raw = path.read_bytes()
    except OSError:
        return
    offset = 0
    while offset + _FRAME.size <= len(raw):
        magic, size, crc = _FRAME.unpack_from(raw, offset)
        payload = raw[offset + _FRAME.size: offset + _FRAME.size + size]
        if magic != _MAGIC or len(payload) != size or zlib.crc32(payload) != crc:
            return
        offset += _FRAME.size + size
        try:
            batch = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return
        for item in batch if isinstance(batch, list) else ():
            _point(data, item)


def _point(data: JournalData, item: object) -> None:
    if isinstance(item, tuple) and len(item) == 4:
        key, step, value, seconds = item
        if isinstance(key, str) and type(step) is int and type(value) is float and isinstance(seconds, float):
            data.metrics.setdefault(key, []).append((step, value, round(seconds * 1000)))


def _metric(data: JournalData, parts: list[str]) -> None:
    try:
        if len(parts) == 5:
            point = (int(parts[2]), float(parts[3]), int(parts[4]))
            data.metrics.setdefault(parts[1], []).append(point)
    except ValueError:
        pass  # a damaged line loses only itself


def _event(data: JournalData, parts: list[str]) -> None:
    kind, key, payload = parts[0], parts[1], parts[2]
    try:
        if kind == "p":
            data.params[key] = json.loads(payload)
        elif kind == "t":
            data.tags[key] = json.loads(payload)
        elif kind == "a":
            data.artifacts.append(Artifact(**json.loads(payload)))
    except (ValueError, TypeError):
        pass
