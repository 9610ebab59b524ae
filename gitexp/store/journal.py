"""Append-only local journals that buffer an active run's data under `.git/gitexp/active/`.

Each process attached to a run appends to its own journal file, so writers never
interleave. Lines are tab-separated and self-describing; a torn last line (a
process killed mid-write) is ignored on reading.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitexp.store.record import Artifact, Point


class JournalWriter:
    """One process's journal. Metrics are queued in memory and written by flush()."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"journal-{os.getpid()}-{secrets.token_hex(4)}.tsv"
        self.path = folder / name
        self._file = open(self.path, "a", encoding="utf-8", buffering=1 << 16)
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
                self._file.write("".join(f"m\t{k}\t{s}\t{v!r}\t{round(t * 1000)}\n" for k, s, v, t in batch))
            self._file.flush()

    def event(self, kind: str, key: str, payload: Any) -> None:
        """Record a param (`p`), tag (`t`, payload None deletes) or artifact (`a`) now."""
        line = f"{kind}\t{key}\t{json.dumps(payload, allow_nan=True)}\n"
        with self._lock:
            self._file.write(line)
        self.flush()

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._file.close()


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
    try:
        paths = sorted(folder.glob("journal-*.tsv"), key=_mtime)
    except OSError:  # the folder went away meanwhile: its run just ended and was committed
        return data
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines(keepends=True):
            if line.endswith("\n"):
                _apply(data, line[:-1])
    return data


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed meanwhile (its run just ended): read_text below skips it
        return 0


def _apply(data: JournalData, line: str) -> None:
    parts = line.split("\t")
    try:
        if parts[0] == "m" and len(parts) == 5:
            point = (int(parts[2]), float(parts[3]), int(parts[4]))
            data.metrics.setdefault(parts[1], []).append(point)
        elif parts[0] == "p" and len(parts) == 3:
            data.params[parts[1]] = json.loads(parts[2])
        elif parts[0] == "t" and len(parts) == 3:
            data.tags[parts[1]] = json.loads(parts[2])
        elif parts[0] == "a" and len(parts) == 3:
            data.artifacts.append(Artifact(**json.loads(parts[2])))
    except (ValueError, TypeError):
        pass  # a damaged line loses only itself
