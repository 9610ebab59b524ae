"""The cache index: run summaries in SQLite under `.git/gitexp/`, keyed by commit id.

A commit never changes, so a cached row is never stale for its key; freshness
comes from reading the refs on every call and loading only commits not seen
before. The file is derived data: missing, corrupt or from another schema, it
is deleted and rebuilt.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitexp.errors import CorruptRecord, GitexpError
from gitexp.store.gitdb import GitDB
from gitexp.store.record import RunInfo, ms_from_iso, parse_mapping
from gitexp.store.runcommit import RecordReader

SCHEMA = "1"
Progress = Callable[[int, int], None]


@dataclass
class RunSummary:
    """What listing and searching need of one run, without metric histories."""

    ref: str
    commit: str
    info: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def id(self) -> str:
        return str(self.info.get("id") or self.ref.rsplit("/", 1)[-1])

    @property
    def name(self) -> str:
        return str(self.info.get("name") or "")

    @property
    def experiment(self) -> str:
        return self.ref.split("/")[3] if self.ref.count("/") >= 4 else str(self.info.get("experiment", ""))

    @property
    def status(self) -> str:
        return "CORRUPT" if self.error else str(self.info.get("status", ""))

    @property
    def start_ms(self) -> int | None:
        return ms_from_iso(self.info.get("start_time"))

    @property
    def end_ms(self) -> int | None:
        return ms_from_iso(self.info.get("end_time"))

    @property
    def duration(self) -> float | None:
        start, end = self.start_ms, self.end_ms
        return None if start is None or end is None else (end - start) / 1000

    def metrics(self) -> dict[str, float]:
        return {k: v.get("last") for k, v in self.summary.items() if isinstance(v, dict)}

    def row(self) -> dict[str, Any]:
        """The shape the filter language evaluates."""
        return {
            "params": self.params, "metrics": self.metrics(), "tags": self.tags,
            "attributes": {
                "status": self.status, "run_name": self.name, "run_id": self.id,
                "experiment": self.experiment, "start_time": self.start_ms, "end_time": self.end_ms,
                "duration": self.duration, "user": self.info.get("user"),
            },
        }


def load_summary(db: GitDB, ref: str, commit: str) -> RunSummary:
    """Read one run commit's record (never raises for a malformed record)."""
    try:
        rec = RecordReader(db, commit)
        info = RunInfo.from_yaml(rec.read("run.yaml") or b"").__dict__
        return RunSummary(
            ref, commit, info,
            parse_mapping(rec.read("params.yaml"), "params.yaml"),
            {str(k): str(v) for k, v in parse_mapping(rec.read("tags.yaml"), "tags.yaml").items()},
            _summary(parse_mapping(rec.read("summary.yaml"), "summary.yaml")),
        )
    except (CorruptRecord, GitexpError, KeyError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, GitexpError) else f"unreadable record ({exc})"
        return RunSummary(ref, commit, {"id": ref.rsplit("/", 1)[-1]}, error=message)


def _summary(raw: dict) -> dict[str, dict[str, Any]]:
    return {str(k): v for k, v in raw.items() if isinstance(v, dict)}


class RunIndex:
    """Summaries of run commits, cached in `.git/gitexp/index.sqlite`."""

    def __init__(self, db: GitDB) -> None:
        self.db = db
        self.path = db.local_dir / "index.sqlite"

    def summaries(self, refs: dict[str, str], progress: Progress | None = None) -> list[RunSummary]:
        """One summary per ref, loading into the cache only commits it lacks."""
        conn = self._connect()
        try:
            cached = self._fetch(conn, set(refs.values())) if conn else {}
            missing = [(ref, sha) for ref, sha in refs.items() if sha not in cached]
            fresh = self._load(missing, progress)
            if conn and fresh:
                self._store(conn, fresh)
        finally:
            if conn:
                conn.close()
        by_sha = {**cached, **{s.commit: s for s in fresh}}
        return [_for_ref(by_sha[sha], ref) for ref, sha in refs.items()]

    def _load(self, missing: list[tuple[str, str]], progress: Progress | None) -> list[RunSummary]:
        out, started = [], time.monotonic()
        for n, (ref, sha) in enumerate(missing, 1):
            out.append(load_summary(self.db, ref, sha))
            if progress and time.monotonic() - started > 1.0 and (n % 50 == 0 or n == len(missing)):
                progress(n, len(missing))
        return out

    def _connect(self) -> sqlite3.Connection | None:
        for attempt in range(2):
            try:
                return self._open()
            except sqlite3.DatabaseError:
                if attempt == 0:
                    _unlink(self.path)  # corrupt or foreign: it is only a cache
        return None  # unusable (read-only folder...): work without a cache

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != SCHEMA:
                conn.executescript(
                    "DROP TABLE IF EXISTS runs;"
                    "CREATE TABLE runs (commit_id TEXT PRIMARY KEY, data TEXT NOT NULL);"
                    f"INSERT OR REPLACE INTO meta VALUES ('schema', '{SCHEMA}');"
                )
            conn.execute("SELECT count(*) FROM runs").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _fetch(self, conn: sqlite3.Connection, shas: set[str]) -> dict[str, RunSummary]:
        out = {}
        try:
            for commit_id, data in conn.execute("SELECT commit_id, data FROM runs"):
                if commit_id in shas:
                    out[commit_id] = _decode(commit_id, data)
        except (sqlite3.DatabaseError, ValueError, KeyError):
            return {}  # unreadable rows: load everything from git this time
        return out

    def _store(self, conn: sqlite3.Connection, rows: Iterable[RunSummary]) -> None:
        try:
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?)",
                             [(r.commit, _encode(r)) for r in rows if not r.error])
            conn.execute("COMMIT")
        except sqlite3.DatabaseError:
            pass  # another process holds the lock too long: the cache just stays colder

    def clear(self) -> None:
        _unlink(self.path)


def _encode(s: RunSummary) -> str:
    return json.dumps({"ref": s.ref, "info": s.info, "params": s.params, "tags": s.tags, "summary": s.summary})


def _decode(commit_id: str, data: str) -> RunSummary:
    raw = json.loads(data)
    return RunSummary(raw["ref"], commit_id, raw["info"], raw["params"], raw["tags"], raw["summary"])


def _for_ref(summary: RunSummary, ref: str) -> RunSummary:
    if summary.ref == ref:
        return summary
    return RunSummary(ref, summary.commit, summary.info, summary.params, summary.tags, summary.summary, summary.error)


def _unlink(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
