"""Append-only local journals that buffer an active run's data under `.git/gitexp/active/`.

Each process attached to a run appends to its own files, so writers never
interleave. Params, tags and artifacts are tab-separated lines in
`journal-*.tsv`; a torn last line (a process killed mid-write) is ignored.
Metric points, the bulk, go to `metrics-*.bin` as checksummed frames of one
marshalled dict {key: [step, value, time, step, ...]} (frames of older versions
hold a flat list key, step, value, time, key, ... or (key, step, value, time)
tuples, and read alike): writing a frame costs ~60 ns a point against ~1 us to
format text. A torn or damaged frame is skipped and
reading resumes at the next intact frame.
Journals are local state, never pushed or pulled.
"""

from __future__ import annotations

import contextlib
import errno
import marshal
import os
import struct
import threading
import time
import zlib

from gitexp.errors import WriteFailed
from gitexp.slots import Slots
from gitexp.store.record import Artifact, Point

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Any, Iterable


_MAGIC = b"GXM1"
POINT = 3  # items a point takes in its key's queue and frames: step, value, time
_FRAME = struct.Struct("<4sII")  # magic, payload length, crc32 of the payload


class JournalWriter:
    """One process's journal. Metrics are queued in memory and written by flush().

    Writes go straight to the file descriptors (no userspace buffer), so a failed
    write is known at once: the file is cut back to its last complete record and
    the data stays queued, in order, for the next flush (a full disk loses nothing
    that fits again once space is freed).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        os.makedirs(folder, exist_ok=True)
        stem = f"{os.getpid()}-{os.urandom(4).hex()}"  # as secrets.token_hex(4), without its imports
        self.path = os.path.join(folder, f"journal-{stem}.tsv")
        self.points_path = os.path.join(folder, f"metrics-{stem}.bin")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self._events_fd = os.open(self.path, flags, 0o644)
        self._points_fd = os.open(self.points_path, flags, 0o644)
        # Offset after the last complete write of each file: a failed write is cut back to it.
        self._ends = {fd: os.fstat(fd).st_size for fd in (self._events_fd, self._points_fd)}
        # A flat list per metric key (step, value, time in float seconds, step, ...),
        # extended by the hot path a point at a time; no tuple per point stays alive
        # for the garbage collector to look at. A step of None is automatic: one after
        # the key's step before it (flush() writes it as a number). New keys are added
        # under the lock.
        self.series: dict[str, list[Any]] = {}
        self.last_steps: dict[str, int] = {}  # each key's last step written (or resumed from)
        self._lines: list[str] = []  # event lines not written yet
        self._lock = threading.Lock()
        self._closed = False
        self._write = os.write  # tests swap in a writer that fails like a full disk

    @property
    def queued(self) -> int:
        """Points queued, not yet written."""
        return sum(map(len, list(self.series.values()))) // POINT

    @property
    def unwritten(self) -> int:
        """Points and events queued but not yet handed to the OS."""
        return self.queued + len(self._lines)

    def series_of(self, key: str) -> list[Any]:
        """The queue of `key`'s points, made on first use (the hot path keeps its `extend`)."""
        series = self.series.get(key)
        if series is None:
            with self._lock:
                series = self.series.setdefault(key, [])
        return series

    def last_step(self, key: str) -> int | None:
        """The step of `key`'s last point queued or written, None before its first.

        Takes no lock: for a forked child, whose copy of the lock may be held by
        a thread that did not come along (the fork itself waits for the lock,
        see tracking.run._before_fork, so no flush is half done).
        """
        before = self.last_steps.get(key)
        queued = self.series.get(key)
        if not queued:
            return before
        return steps_of(queued[0::POINT], -1 if before is None else before)[-1]

    def queue(self, points: Iterable[tuple[str, int | None, float, float]]) -> None:
        """Queue (key, step or None, value, seconds) points for the next flush."""
        for key, *point in points:
            self.series_of(key).extend(point)

    def flush(self) -> None:
        """Write queued points and events and push them to the OS (survives kill -9).

        Raises WriteFailed if the disk refuses them; they then stay queued.
        """
        with self._lock:
            if self._closed:
                return
            taken = {}  # whole points only: each extend is atomic, so a queue holds whole points
            for key, series in self.series.items():
                size = len(series) // POINT * POINT
                if size:
                    points = taken[key] = series[:size]
                    points[0::POINT] = steps_of(points[0::POINT], self.last_steps.get(key, -1))
            if taken:
                payload = marshal.dumps(taken)
                self._append(self._points_fd, _FRAME.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload)
                for key, points in taken.items():  # only once written: a failed write keeps them
                    self.last_steps[key] = points[-POINT]
                    del self.series[key][:len(points)]  # the same list: the hot path holds its extend
            if self._lines:
                self._append(self._events_fd, "".join(self._lines).encode())
                self._lines.clear()

    def _append(self, fd: int, data: bytes) -> None:
        """Write all of `data` or nothing: a short or failed write is truncated away."""
        end = self._ends[fd]
        view = memoryview(data)
        try:
            while view:
                n = self._write(fd, view)
                if n <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[n:]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)  # no torn record stays behind the good ones
            error = WriteFailed(
                f"could not write to the run journal {os.path.dirname(self.points_path)}: "
                f"{exc.strerror or exc}; {self.unwritten} points and events are kept queued",
                hint="free disk space; the queued data is written on the next flush",
            )
            error.reason = exc.strerror or str(exc)
            raise error from None
        self._ends[fd] = end + len(data)

    def event(self, kind: str, key: str, payload: Any) -> None:
        """Record a param (`p`), tag (`t`, payload None deletes) or artifact (`a`) now.

        Events carry their time in ns, so journals of several processes merge in
        the order things happened, not the order of the files. If the disk is
        full the event stays queued (the background flush retries and says so).
        """
        import json  # here: a run's start and end write no event

        line = f"{kind}\t{key}\t{json.dumps(payload, allow_nan=True)}\t{time.time_ns()}\n"
        with self._lock:
            if self._closed:
                raise ValueError("the journal is closed")
            self._lines.append(line)
        with contextlib.suppress(WriteFailed):
            self.flush()

    def close(self) -> None:
        """Flush and close; raises WriteFailed (after closing) if data could not be written."""
        try:
            self.flush()
        finally:
            with self._lock:
                if not self._closed:
                    self._closed = True
                    os.close(self._events_fd)
                    os.close(self._points_fd)


def steps_of(steps: list[int | None], before: int) -> list[int] | range:
    """The steps of a key's points, where None (an automatic step) is one after the step before it.

    `before` is the step before the first point (-1 for none). Steps of a queue
    are nearly always all automatic or all given, both settled without a Python loop.
    """
    nones = steps.count(None)
    if not nones:
        return steps  # type: ignore[return-value]
    if nones == len(steps):
        return range(before + 1, before + 1 + nones)
    out = []
    for step in steps:
        before = before + 1 if step is None else step
        out.append(before)
    return out


class JournalData(Slots):
    """Everything read back from a run's journals."""

    __slots__ = ("metrics", "params", "tags", "artifacts")

    def __init__(self, metrics: dict[str, list[Point]] | None = None, params: dict[str, Any] | None = None,
                 tags: dict[str, str | None] | None = None, artifacts: list[Artifact] | None = None) -> None:
        self.metrics: dict[str, list[Point]] = metrics if metrics is not None else {}
        self.params: dict[str, Any] = params if params is not None else {}
        self.tags: dict[str, str | None] = tags if tags is not None else {}
        self.artifacts: list[Artifact] = artifacts if artifacts is not None else []

    @property
    def empty(self) -> bool:
        return not (self.metrics or self.params or self.tags or self.artifacts)


def read_journals(folder: str | os.PathLike[str]) -> JournalData:
    """Merge every journal in `folder`; unreadable lines are skipped, never fatal."""
    data = JournalData()
    events: list[tuple[int, int, list[str]]] = []
    try:  # listdir, not glob: a run's end should not pay for compiling glob's regexes
        names = sorted(os.listdir(folder))
    except OSError:  # the folder went away meanwhile: its run just ended and was committed
        return data
    paths = [os.path.join(folder, n) for n in names if n.startswith("journal-") and n.endswith(".tsv")]
    frames = [os.path.join(folder, n) for n in names if n.startswith("metrics-") and n.endswith(".bin")]
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
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


def _read_frames(data: JournalData, path: str) -> None:
    """Add the points of every intact frame.

    After a torn or damaged frame (a crash mid-write, a bad sector) reading
    resumes at the next frame header whose checksum holds, so one bad frame
    loses only its own points.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return
    offset = 0
    while offset + _FRAME.size <= len(raw):
        batch = _frame_at(raw, offset)
        if batch is None:
            offset = raw.find(_MAGIC, offset + 1)
            if offset < 0:
                return
            continue
        offset += _FRAME.size + _FRAME.unpack_from(raw, offset)[1]
        if isinstance(batch, dict):
            _add_series(data.metrics, batch)
        elif isinstance(batch, list):
            _add_points(data.metrics, batch)


def _frame_at(raw: bytes, offset: int) -> object | None:
    """The decoded batch of an intact frame at `offset`, else None."""
    magic, size, crc = _FRAME.unpack_from(raw, offset)
    payload = raw[offset + _FRAME.size: offset + _FRAME.size + size]
    if magic != _MAGIC or len(payload) != size or zlib.crc32(payload) != crc:
        return None
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


def _add_series(metrics: dict[str, list[tuple[int, float, int]]], batch: dict) -> None:
    """Append a frame's well-formed (step, value, seconds) points of each key; skip anything else.

    The one hot loop of `end_run` (every point logged passes here once).
    """
    for key, flat in batch.items():
        if type(key) is not str or type(flat) is not list:
            continue
        items = iter(flat)
        good = [(step, value, round(seconds * 1000)) for step, value, seconds in zip(items, items, items)
                if type(step) is int and type(value) is float and type(seconds) is float]
        if good:
            metrics.setdefault(key, []).extend(good)


def _add_points(metrics: dict[str, list[tuple[int, float, int]]], batch: list) -> None:
    """Add the points of an older version's frame: a flat list key, step, value, seconds, key, ...
    or a list of such tuples."""
    if batch and type(batch[0]) is tuple:
        batch = [x for item in batch if type(item) is tuple and len(item) == 4 for x in item]
    series: dict[str, list] = {}
    items = iter(batch)
    for key, step, value, seconds in zip(items, items, items, items):
        if type(key) is str:
            series.setdefault(key, []).extend((step, value, seconds))
    _add_series(metrics, series)


def _metric(data: JournalData, parts: list[str]) -> None:
    try:
        if len(parts) == 5:
            point = (int(parts[2]), float(parts[3]), int(parts[4]))
            data.metrics.setdefault(parts[1], []).append(point)
    except ValueError:
        pass  # a damaged line loses only itself


def _event(data: JournalData, parts: list[str]) -> None:
    import json  # (events are rare: params, tags, artifacts)

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
