"""The cache index: run summaries in SQLite under `.git/gitexp/`, keyed by commit id.

A commit never changes, so a cached row is never stale for its key; freshness
comes from reading the refs on every call and loading only commits not seen
before. Ref folders are remembered by mtime, so thousands of loose refs are
not re-read while nothing moves. The file is derived data: missing, corrupt or
of another schema, it is deleted and rebuilt.

Rows keep params, tags and metrics as JSON text, decoded only when a caller
reads them: a filter on `metrics.acc` never pays for decoding params.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitexp.errors import CorruptRecord, GitexpError, NewerFormat
from gitexp.store.repo import GitDB
from gitexp.store.record import RunInfo, ms_from_iso, parse_mapping
from gitexp.store.runcommit import RecordReader

SCHEMA = "3"
Progress = Callable[[int, int], None]
PARALLEL_FROM = 400  # commits to load before worker processes pay for their start-up
RACY_NS = 2_000_000_000  # a folder modified this recently may change again within its mtime tick
_LATER = object()  # a field not fetched yet: RunSummary.loader fetches it on first use
LAZY_FIELDS = ("info", "params", "tags", "summary")
_COLUMNS = ("commit_id, ref, run_id, name, experiment, status, start_ms, end_ms, user,"
            " info, params, tags, summary, last")


class RunSummary:
    """What listing and searching need of one run, without metric histories.

    Attributes (id, name, status, times) are plain fields; params, tags, the
    metric summary and the rest of run.yaml stay JSON text until first read.
    """

    def __init__(self, ref: str, commit: str, info: dict[str, Any] | str, params: dict | str = "{}",
                 tags: dict | str = "{}", summary: dict | str = "{}", error: str | None = None,
                 scalars: tuple | None = None, last: dict | str | None = None) -> None:
        self.ref, self.commit, self.error = ref, commit, error
        self.loader: Callable[[RunSummary, str, bool], Any] | None = None
        self._raw: dict[str, Any] = {"info": info, "params": params, "tags": tags, "summary": summary,
                                     "last": last}
        if scalars is None:
            scalars = _scalars(info if isinstance(info, dict) else json.loads(info), ref)
        self.id, self.name, self.experiment, status, self.start_ms, self.end_ms, self.user = scalars
        self.status = "CORRUPT" if error else status

    def _get(self, field: str) -> Any:
        value = self._raw[field]
        if value is _LATER:
            value = self._raw[field] = self._load(field, from_git=False)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:  # a damaged cache row: the record in git is the truth
                value = self._load(field, from_git=True)
            self._raw[field] = value
        return value

    def _load(self, field: str, from_git: bool) -> Any:
        if self.loader is None:
            raise CorruptRecord(f"cached summary of {self.commit[:12]} is unreadable")
        return self.loader(self, field, from_git)

    def _set(self, field: str, value: Any) -> None:
        self._raw[field] = value
        if field == "summary":
            self._raw["last"] = None

    info = property(lambda self: self._get("info"))
    params = property(lambda self: self._get("params"), lambda self, v: self._set("params", v))
    tags = property(lambda self: self._get("tags"), lambda self, v: self._set("tags", v))
    summary = property(lambda self: self._get("summary"), lambda self, v: self._set("summary", v))

    @property
    def duration(self) -> float | None:
        start, end = self.start_ms, self.end_ms
        return None if start is None or end is None else (end - start) / 1000

    def metrics(self) -> dict[str, float]:
        """The last value of each metric."""
        if self._raw["last"] is None:
            self._raw["last"] = {k: v.get("last") for k, v in self.summary.items() if isinstance(v, dict)}
        return self._get("last")

    def row(self, kinds: Iterable[str] = ("params", "metrics", "tags", "attributes")) -> dict[str, Any]:
        """The shape the filter language evaluates; only `kinds` are filled in."""
        return {
            "params": self.params if "params" in kinds else {},
            "metrics": self.metrics() if "metrics" in kinds else {},
            "tags": self.tags if "tags" in kinds else {},
            "attributes": self.attributes() if "attributes" in kinds else {},
        }

    def attributes(self) -> dict[str, Any]:
        return {
            "status": self.status, "run_name": self.name, "run_id": self.id,
            "experiment": self.experiment, "start_time": self.start_ms, "end_time": self.end_ms,
            "duration": self.duration, "user": self.user,
        }

    def __repr__(self) -> str:
        return f"<RunSummary {self.name} ({self.id}) {self.status}>"


def _scalars(info: dict[str, Any], ref: str) -> tuple:
    parts = ref.split("/")
    experiment = parts[3] if len(parts) >= 5 else str(info.get("experiment", ""))
    start = info.get("start_ms") or ms_from_iso(info.get("start_time"))
    end = info.get("end_ms") or ms_from_iso(info.get("end_time"))
    return (str(info.get("id") or parts[-1]), str(info.get("name") or ""), experiment,
            str(info.get("status", "")), start, end, info.get("user"))


def load_summary(db: GitDB, ref: str, commit: str) -> RunSummary:
    """Read one run commit's record (never raises for a malformed record)."""
    try:
        rec = RecordReader(db, commit)
        info = _listing_info(RunInfo.from_yaml(rec.read("run.yaml") or b"", ref))
        tags = parse_mapping(rec.read("tags.yaml"), "tags.yaml")
        summary = parse_mapping(rec.read("summary.yaml"), "summary.yaml")
        return RunSummary(
            ref, commit, info, parse_mapping(rec.read("params.yaml"), "params.yaml"),
            {str(k): str(v) for k, v in tags.items()},
            {str(k): v for k, v in summary.items() if isinstance(v, dict)},
        )
    except (CorruptRecord, GitexpError, KeyError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, GitexpError) else f"unreadable record ({exc})"
        bad = RunSummary(ref, commit, {"id": ref.rsplit("/", 1)[-1]}, error=message)
        if isinstance(exc, NewerFormat):
            bad.status = "NEWER"  # not damaged: this gitexp is too old to read it
        return bad


def _listing_info(info: RunInfo) -> dict[str, Any]:
    keep = ("id", "name", "experiment", "status", "start_time", "end_time", "user", "host",
            "exit_code", "baseline", "dirty", "parent_run", "description")
    out = {k: getattr(info, k) for k in keep}
    out["start_ms"], out["end_ms"] = ms_from_iso(info.start_time), ms_from_iso(info.end_time)
    return out


@contextmanager
def running_gc() -> Iterator[None]:
    """GC on, whatever the caller paused: parsing records makes cyclic garbage."""
    was_on = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was_on:
            gc.disable()


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic GC passes while thousands of short-lived, acyclic objects are made.

    Listing 10,000 runs allocates enough to trigger several full collections,
    which find nothing to free and cost ~20% of a search.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


class RunIndex:
    """Summaries of run commits, cached in `.git/gitexp/index.sqlite`."""

    def __init__(self, db: GitDB) -> None:
        self.db = db
        self.path = db.local_dir / "index.sqlite"
        self._reader: sqlite3.Connection | None = None

    def refs(self, prefix: str) -> dict[str, str]:
        """{ref: commit} under `prefix`, skipping ref folders that have not changed."""
        conn = self._connect()
        if conn is None:
            return self.db.refs_under(prefix)
        with conn:
            cache = _DirCache(conn)
            refs = self.db.refs_under(prefix, cache)
            cache.save()
        conn.close()
        return refs

    def summaries(self, refs: dict[str, str], progress: Progress | None = None,
                  fields: Iterable[str] = LAZY_FIELDS) -> list[RunSummary]:
        """One summary per ref, loading into the cache only commits it lacks.

        `fields` are fetched at once; the others are read from the cache when a
        caller first touches them (listing 10,000 runs to show 20 reads little).
        """
        conn = self._connect()
        try:
            cached = self._fetch(conn, set(refs.values()), set(fields)) if conn else {}
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
        """Read records of commits not in the cache, on every core when there are many."""
        with running_gc():
            return self._load_records(missing, progress)

    def _load_records(self, missing: list[tuple[str, str]], progress: Progress | None) -> list[RunSummary]:
        workers = min(os.cpu_count() or 1, 8)
        if len(missing) >= PARALLEL_FROM and workers > 1:
            try:
                return self._load_parallel(missing, workers, progress)
            except Exception:  # no worker processes to be had here: read them in this one
                pass
        chunks = ([load_summary(self.db, r, s)] for r, s in missing)
        return _collect(chunks, len(missing), progress)

    def _load_parallel(self, missing: list[tuple[str, str]], workers: int,
                       progress: Progress | None) -> list[RunSummary]:
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor

        size = max(50, len(missing) // (workers * 8))
        parts = [missing[i:i + size] for i in range(0, len(missing), size)]
        # fork is cheapest, but only safe while this process has no other threads.
        method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
            chunks = pool.map(_load_part, [str(self.db.common_dir)] * len(parts), parts)
            return _collect(chunks, len(missing), progress)

    def _connect(self) -> sqlite3.Connection | None:
        for attempt in range(2):
            try:
                return self._open()
            except sqlite3.DatabaseError:
                if attempt == 0:
                    _unlink(self.path)  # corrupt or foreign: it is only a cache
            except OSError:
                break
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
                    "DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS refdirs;"
                    f"CREATE TABLE runs ({_COLUMNS.replace('commit_id', 'commit_id TEXT PRIMARY KEY')});"
                    "CREATE TABLE refdirs (folder TEXT PRIMARY KEY, mtime_ns INTEGER, refs TEXT);"
                    f"INSERT OR REPLACE INTO meta VALUES ('schema', '{SCHEMA}');"
                )
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone()  # readable at all?
        except BaseException:
            conn.close()
            raise
        return conn

    def _fetch(self, conn: sqlite3.Connection, shas: set[str], fields: set[str]) -> dict[str, RunSummary]:
        wanted = [f if f in fields else "NULL" for f in LAZY_FIELDS]
        # Rows whose columns lost their types (a damaged cache) are left out: they
        # count as missing and are read again from git.
        sane = " AND ".join([*(f"typeof({c}) = 'text'" for c in ("ref", "run_id", "name", "experiment", "status")),
                             *(f"typeof({c}) IN ('integer', 'null')" for c in ("start_ms", "end_ms")),
                             *(f"typeof({c}) IN ('text', 'null')" for c in ("user", "last", *LAZY_FIELDS))])
        query = f"SELECT {_COLUMNS[:_COLUMNS.index(' info')]} last, {', '.join(wanted)} FROM runs WHERE {sane}"
        try:
            rows = conn.execute(query).fetchall()
        except sqlite3.DatabaseError:
            return {}  # unreadable: load everything from git this time
        out = {}
        with paused_gc():
            for r in rows:
                if r[0] in shas:
                    lazy = [_LATER if v is None else v for v in r[10:14]]
                    summary = out[r[0]] = RunSummary(r[1], r[0], *lazy, scalars=_row_scalars(r, r[1]), last=r[9])
                    summary.loader = self.load_field
        return out

    def load_field(self, summary: RunSummary, field: str, from_git: bool) -> Any:
        """One field of a cached run (the RunSummary loader); from git if the row is bad."""
        if not from_git:
            if self._reader is None:
                self._reader = self._connect()  # one connection for all lazy reads of a listing
            try:
                row = self._reader.execute(f"SELECT {field} FROM runs WHERE commit_id = ?",
                                           (summary.commit,)).fetchone() if self._reader else None
                return json.loads(row[0])
            except (TypeError, ValueError, sqlite3.DatabaseError):
                pass
        fresh = load_summary(self.db, summary.ref, summary.commit)
        conn = self._connect()
        if conn is not None:
            self._store(conn, [fresh])
            conn.close()
        return fresh.metrics() if field == "last" else fresh._get(field)

    def _store(self, conn: sqlite3.Connection, rows: Iterable[RunSummary]) -> None:
        try:
            conn.execute("BEGIN")
            conn.executemany(f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                             [_encode(r) for r in rows if not r.error])
            conn.execute("COMMIT")
        except sqlite3.DatabaseError:
            pass  # another process holds the lock too long: the cache just stays colder

    def clear(self) -> None:
        _unlink(self.path)


def _load_part(common_dir: str, pairs: list[tuple[str, str]]) -> list[RunSummary]:
    """Worker: load summaries from a repository opened in this process."""
    from gitexp.store.repo import open_repo

    with open_repo(common_dir) as db:
        summaries = [load_summary(db, ref, sha) for ref, sha in pairs]
    for s in summaries:  # decoded, so they pickle as plain data
        s.loader = None
    return summaries


def _collect(chunks: Iterable[list[RunSummary]], total: int, progress: Progress | None) -> list[RunSummary]:
    out: list[RunSummary] = []
    started, shown = time.monotonic(), 0
    for chunk in chunks:
        out.extend(chunk)
        if progress and time.monotonic() - started > 1.0 and (len(out) - shown >= 100 or len(out) == total):
            progress(len(out), total)
            shown = len(out)
    return out


class _DirCache:
    """GitDB.DirCache on the `refdirs` table, trusting only mtimes older than RACY_NS."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.now = time.time_ns()
        try:
            rows = conn.execute("SELECT folder, mtime_ns, refs FROM refdirs").fetchall()
        except sqlite3.DatabaseError:
            rows = []
        self.known = {f: (m, r) for f, m, r in rows}
        self.changed: list[tuple[str, int, str]] = []

    def get(self, folder: str, mtime_ns: int) -> dict[str, str] | None:
        hit = self.known.get(folder)
        if hit is None or hit[0] != mtime_ns:
            return None
        try:
            return json.loads(hit[1])
        except ValueError:
            return None

    def put(self, folder: str, mtime_ns: int, refs: dict[str, str]) -> None:
        if self.now - mtime_ns > RACY_NS:
            self.changed.append((folder, mtime_ns, json.dumps(refs)))

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.conn.executemany("INSERT OR REPLACE INTO refdirs VALUES (?, ?, ?)", self.changed)
        except sqlite3.DatabaseError:
            pass


def _encode(s: RunSummary) -> tuple:
    return (s.commit, s.ref, s.id, s.name, s.experiment, s.status, s.start_ms, s.end_ms, s.user,
            json.dumps(s.info), json.dumps(s.params), json.dumps(s.tags), json.dumps(s.summary),
            json.dumps(s.metrics()))


def _row_scalars(r: tuple, ref: str) -> tuple:
    """Scalars of a cached row; the experiment always comes from the ref being listed."""
    parts = ref.split("/")
    return (r[2], r[3], parts[3] if len(parts) >= 5 else r[4], r[5], r[6], r[7], r[8])


def _for_ref(summary: RunSummary, ref: str) -> RunSummary:
    if summary.ref == ref:
        return summary
    raw = summary._raw
    copy = RunSummary(ref, summary.commit, raw["info"], raw["params"], raw["tags"], raw["summary"],
                      summary.error, scalars=(summary.id, summary.name, ref.split("/")[3], summary.status,
                                              summary.start_ms, summary.end_ms, summary.user), last=raw["last"])
    copy.loader = summary.loader
    return copy


def _unlink(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:  # gone already, or not removable (a folder, a read-only place): work without it
            pass
