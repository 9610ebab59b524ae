"""The cache index: run summaries in SQLite under `.git/gitexp/`, keyed by commit id.

A commit never changes, so a cached row is never stale for its key; freshness
comes from reading the refs on every call and loading only commits not seen
before. Ref folders are remembered by mtime (their refs and subfolders), so
thousands of loose refs are neither listed nor re-read while nothing moves.
The file is derived data: missing, corrupt or of another schema, it is deleted
and rebuilt; rows that no ref reaches any more are pruned when every run is listed.

Rows keep run.yaml, params, tags and metrics as JSON text, decoded only when a
caller reads them: a filter on `metrics.acc` never pays for decoding params.
Keys a search has filtered or sorted on (`vkeys`) also have every run's value in
`vals` (see `sqlfilter`), filled when a key is first asked for and with every row
written after, so searches run in SQL. Each thread gets its own SQLite connection,
so a long-lived server can share one RunIndex between request threads.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from operator import itemgetter
from pathlib import Path
from types import ModuleType

try:
    from _blake2 import blake2b  # built in: hashlib would load OpenSSL, milliseconds of every run start
except ImportError:  # pragma: no cover - a build without it
    from hashlib import blake2b

from gitexp.errors import CorruptRecord, GitexpError, NewerFormat
from gitexp.model import LAZY_FIELDS, Run, Status, scalars_of
from gitexp.store import catfile, runcommit
from gitexp.store.record import RECORD_DIR, RunInfo, parse_mapping
from gitexp.store.yamlio import FAST_MAX_BYTES
from gitexp.store.repo import GitDB
from gitexp.store.runcommit import SUMMARY_FILES, RecordReader
from gitexp.services.session import INDEX_FILE, sqlite_driver

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from gitexp.model import Loader

_driver = sqlite_driver()
SCHEMA = "6"
BUSY_MS = 10_000  # how long a write waits for another process's
MAX_KEYS = 48  # keys kept in `vals`; the oldest is dropped (and refilled when asked for again)
Progress = Callable[[int, int], None]
FEW_ROWS = 500  # rows wanted below which a temporary table beats scanning every row
BULK_FROM = 20  # commits to load before a `git cat-file` process pays for its start-up
CHUNK = 200  # records parsed at a time, here or in the fill worker
STORE_EVERY = 2000  # rows of a cold load written at a time, while the worker parses the next
PROGRESS_AFTER_S = 1.0  # a cold load shows its progress bar once it has taken this long
RACY_NS = 2_000_000_000  # a folder modified this recently may change again within its mtime tick (1 s ticks)
RACY_FINE_NS = 100_000_000  # the same where mtimes have sub-second ticks (the kernel's clock: 10 ms at most)
_COLUMNS = ("commit_id, ref, run_id, name, experiment, status, start_ms, end_ms, user,"
            " info, params, tags, summary, last")
_STORED = ("info", "params", "tags", "summary", "last")  # the JSON columns, in _COLUMNS order
# Rows whose columns lost their types (a damaged cache) count as missing and are read again from git.
SANE = " AND ".join([*(f"typeof({c}) = 'text'" for c in ("ref", "run_id", "name", "experiment", "status")),
                     *(f"typeof({c}) IN ('integer', 'null')" for c in ("start_ms", "end_ms")),
                     *(f"typeof({c}) IN ('text', 'null')" for c in ("user", "last", *LAZY_FIELDS))])
_TABLES = ("runs", "refdirs", "vkeys", "vals", "verified")
# The listing order (`listing.list_runs`'s) in SQL, and the covering index that gives rows in it,
# so a plain `gitexp ls` reads its first rows without sorting every run.
LISTING_ORDER = ["coalesce(r.start_ms, 0) DESC", "r.ref DESC"]
LISTING_INDEX = "runs_listing"
_NEXT_GEN = "INSERT OR REPLACE INTO meta VALUES ('gen', coalesce((SELECT value FROM meta WHERE key = 'gen'), 0) + 1)"


def read_fields(db: GitDB, commit: str, ref: str | None = None) -> dict[str, Any]:
    """run.yaml, params, tags and the metric summary of a run commit (raises on a malformed record).

    The record's id must match `ref`'s: ids come from ref names, never from the record alone.
    """
    return fields_from(RecordReader(db, commit).read, ref)


def fields_from(read: Callable[[str], bytes | None], ref: str | None = None) -> dict[str, Any]:
    """`read_fields` from a record's top-level files (`read(name)`: bytes, or None when absent)."""
    tags = parse_mapping(read("tags.yaml"), "tags.yaml")
    summary = parse_mapping(read("summary.yaml"), "summary.yaml")
    return {
        "info": RunInfo.from_yaml(read("run.yaml") or b"", ref),
        "params": parse_mapping(read("params.yaml"), "params.yaml"),
        "tags": {str(k): str(v) for k, v in tags.items()},
        "summary": {str(k): v for k, v in summary.items() if isinstance(v, dict)},
    }


def load_summary(db: GitDB, ref: str, commit: str, files: dict[str, bytes] | None = None) -> Run:
    """Read one run commit's record, metric histories aside (never raises for a malformed record).

    `files` are the record's top-level files when already read (in bulk); else they are read here.
    """
    if files is not None:
        return _checked(ref, commit, partial(fields_from, files.get, ref))
    return _checked(ref, commit, partial(read_fields, db, commit, ref))


def _checked(ref: str, commit: str, fields: Callable[[], dict[str, Any]]) -> Run:
    """A Run of `fields()`, or an unreadable Run saying why they could not be read."""
    try:
        values = fields()
        return Run(ref, commit, scalars_of(values["info"], ref), values)
    except (CorruptRecord, GitexpError, KeyError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, GitexpError) else f"unreadable record ({exc})"
        # A newer format is not damage: this gitexp is too old to read it.
        status = Status.NEWER if isinstance(exc, NewerFormat) else Status.CORRUPT
        return Run.unreadable(ref, commit, message, status)


def record_rows(chunk: list[tuple[str, str, dict[str, bytes]]]) -> list[tuple]:
    """Cache rows of records already read, as (ref, commit, files); what the fill worker runs.

    An unreadable record gives (None, ref, commit, error, status) instead of a row.
    """
    from gitexp.store import runyaml_lite, yamlfast  # here: a warm listing reads no YAML

    return [_shaped_row(ref, commit, files, runyaml_lite.canonical, yamlfast) or _row_of(ref, commit, files)
            for ref, commit, files in chunk]


def _shaped_row(ref: str, commit: str, files: dict[str, bytes], canonical: Callable[[str], Any],
                yamlfast: ModuleType) -> tuple | None:
    """The row of a record in the shapes gitexp writes, read by the shape readers (run.yaml by one
    match, params of numbers and summary.yaml straight to their JSON); None for any other record
    (`_row_of` reads it, and says what is wrong)."""
    if any(len(data) > FAST_MAX_BYTES for data in files.values()):
        return None
    run, params, tags, summary = (files.get(name) for name in ("run.yaml", "params.yaml", "tags.yaml", "summary.yaml"))
    try:
        known = canonical(run.decode("utf-8")) if run is not None else None
    except UnicodeDecodeError:
        return None
    if known is None or ref.rsplit("/", 1)[-1] != known["id"]:
        return None
    texts = yamlfast.summary_json(summary) if summary is not None else ("{}", "{}")
    if texts is yamlfast.FAIL:
        return None
    try:
        params_json = "{}" if params is None else yamlfast.flat_json(params) or _to_json(
            parse_mapping(params, "params.yaml"))
        tags_json = _to_json({str(k): str(v) for k, v in parse_mapping(tags, "tags.yaml").items()})
    except (CorruptRecord, GitexpError, ValueError, TypeError):
        return None
    info = RunInfo.from_dict(known)
    return _layout(commit, ref, scalars_of(info, ref), info, params_json, tags_json, texts)


def _row_of(ref: str, commit: str, files: dict[str, bytes]) -> tuple:
    """One record's row through `fields_from` (its errors as an unreadable row); a summary.yaml
    of the shape `summarize` writes goes to JSON undecoded."""
    from gitexp.store.yamlfast import summary_json

    data = files.get("summary.yaml")
    texts = summary_json(data) if data is not None and len(data) <= FAST_MAX_BYTES else None
    if not isinstance(texts, tuple):
        return _row(_checked(ref, commit, partial(fields_from, files.get, ref)))
    rest = {name: content for name, content in files.items() if name != "summary.yaml"}  # a sound summary
    return _row(_checked(ref, commit, partial(fields_from, rest.get, ref)), texts)


def _row(run: Run, summary: tuple[str, str] | None = None) -> tuple:
    return (None, run.ref, run.commit, run.error, run.status) if run.error else _encode(run, summary)


def _run_of(row: tuple, loader: Loader | None = None) -> Run:
    """The Run of a `record_rows` result; its fields stay JSON text until read."""
    if row[0] is None:
        return Run.unreadable(row[1], row[2], row[3], Status(row[4]))
    return Run(row[1], row[0], row[2:9], dict(zip(_STORED, row[9:])), loader=loader)


def read_files_bulk(db: GitDB, commits: list[str]) -> Iterator[tuple[str, dict[str, bytes] | None]]:
    """The top-level record files of many run commits (`catfile.folder_files`: None for one it declines,
    which `RecordReader` then reads and says what is wrong); raises CatFileError when git cannot serve."""
    return catfile.folder_files(db.common_dir, commits, RECORD_DIR, SUMMARY_FILES, runcommit.MAX_YAML_BYTES,
                                db.hex_length // 2)


def load_summaries(db: GitDB, pairs: list[tuple[str, str]]) -> Iterator[Run]:
    """`load_summary` of many (ref, commit) pairs, in any order (see `load_rows`)."""
    return (_run_of(row) for row in load_rows(db, pairs))


def load_rows(db: GitDB, pairs: list[tuple[str, str]]) -> Iterator[tuple]:
    """`record_rows` of many (ref, commit) pairs, in any order.

    Files are read in bulk through `git cat-file` where it can serve and parsed in
    chunks, by a worker process too when there are many (`fill.shared`); one run at
    a time through dulwich otherwise, and for what the bulk reader declines.
    """
    if len(pairs) < BULK_FROM or not catfile.available():
        yield from (_row(load_summary(db, ref, commit)) for ref, commit in pairs)
        return
    read, declined = 0, []

    def chunks() -> Iterator[list[tuple[str, str, dict[str, bytes]]]]:
        nonlocal read
        chunk: list[tuple[str, str, dict[str, bytes]]] = []
        try:
            for (ref, _), (commit, files) in zip(pairs, read_files_bulk(db, [c for _, c in pairs])):
                read += 1
                if files is None:
                    declined.append((ref, commit))
                    continue
                chunk.append((ref, commit, files))
                if len(chunk) == CHUNK:
                    yield chunk
                    chunk = []
        except catfile.CatFileError:
            pass  # no usable git here: dulwich reads the rest
        if chunk:
            yield chunk

    from gitexp.services.catalog import fill  # here: a warm listing starts no worker, nor loads pickle

    yield from fill.shared(chunks(), record_rows, len(pairs))
    yield from (_row(load_summary(db, ref, commit)) for ref, commit in declined + pairs[read:])


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
def _unsynced(conn: sqlite3.Connection | None) -> Iterator[None]:
    """Writes of a bulk load without waiting for the disk (`synchronous=OFF`), then as before.

    The cache is derived data: a crash of this process never damages it (SQLite's journal),
    and a file that a power cut damages is found corrupt when opened and rebuilt.
    """
    was = _synchronous(conn, "OFF") if conn is not None else None
    try:
        yield
    finally:
        if conn is not None and was is not None:
            _synchronous(conn, str(was))


def _synchronous(conn: sqlite3.Connection, value: str) -> int | None:
    """Set `PRAGMA synchronous` to `value`; its value before (None when it could not be set)."""
    try:
        was = conn.execute("PRAGMA synchronous").fetchone()[0]
        conn.execute(f"PRAGMA synchronous = {value}")
        return int(was)
    except (_driver.DatabaseError, TypeError, ValueError):
        return None


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
        self.path = db.local_dir / INDEX_FILE
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def refs(self, prefix: str) -> dict[str, str]:
        """{ref: commit} under `prefix`, skipping ref folders that have not changed."""
        conn = self._conn()
        if conn is None:
            return self.db.refs_under(prefix)
        cache = _DirCache(conn)
        refs = self.db.refs_under(prefix, cache)
        cache.save()
        return refs

    def summaries(self, refs: dict[str, str], progress: Progress | None = None,
                  fields: Iterable[str] = LAZY_FIELDS, complete: bool = False) -> list[Run]:
        """One Run per ref, loading into the cache only commits it lacks.

        `fields` are fetched at once; the others are read from the cache when a
        caller first touches them (listing 10,000 runs to show 20 reads little).
        `complete` says `refs` are all the runs there are: rows of other commits
        are then pruned.
        """
        conn = self._conn()
        wanted = set(refs.values())
        cached = self._fetch(conn, wanted, set(fields), complete) if conn else {}
        missing = [(ref, sha) for ref, sha in refs.items() if sha not in cached]
        fresh, _ = self._load(conn, missing, progress)
        by_sha = {**cached, **{s.commit: s for s in fresh}}
        return [by_sha[sha].at_ref(ref) for ref, sha in refs.items()]

    def _load(self, conn: sqlite3.Connection | None, missing: list[tuple[str, str]], progress: Progress | None,
              every: bool = True) -> tuple[list[Run], bool]:
        """Read records of commits not in the cache (in bulk) and store their rows; (the runs read, or
        only the unreadable ones without `every`; whether every row was stored).

        Rows are written STORE_EVERY at a time as they come, while the worker still parses:
        only the last batch is written after parsing ends. A run read keeps its fields as
        the JSON of its row, decoded on first use as a cached run's are: 10,000 decoded
        records would hold ~150 MB at once.
        """
        runs, batch, stored = [], [], conn is not None
        with running_gc(), _unsynced(conn if len(missing) >= STORE_EVERY else None):
            for row in _progressed(load_rows(self.db, missing), len(missing), progress):
                if row[0] is None or every:
                    runs.append(_run_of(row, self.load_field))
                if row[0] is not None and conn is not None:
                    batch.append(row)
                    if len(batch) == STORE_EVERY:
                        stored = self._store_rows(conn, batch) and stored
                        batch = []
            if batch and conn is not None:
                stored = self._store_rows(conn, batch) and stored
        return runs, stored

    def with_name(self, refs: dict[str, str], name: str) -> list[Run]:
        """The runs among `refs` named `name`: one indexed lookup, loading only uncached commits.

        Resolving a name costs the same as resolving an id on a warm cache, instead
        of building a Run for every row: a set of refs found complete before is known
        by its digest (`missing_rows`).
        """
        conn = self._conn()
        if conn is None:
            return [r for r in self.summaries(refs, fields=()) if r.name == name]
        try:
            conn.execute("BEGIN")
            try:
                missing = self.missing_rows(conn, refs)
                named = conn.execute("SELECT ref, commit_id FROM runs WHERE name = ?", (name,)).fetchall()
            finally:
                conn.execute("COMMIT")
        except _driver.DatabaseError:
            missing, named = None, []
        if missing is None:  # rows cannot stand for `refs`: read them as a listing does
            return [r for r in self.summaries(refs, fields=()) if r.name == name]
        unread = dict(missing)  # (rows of damaged types count as missing: read from git again)
        out = [r for r in self.summaries(unread, fields=()) if r.name == name] if unread else []
        hits = {ref: sha for ref, sha in named if refs.get(ref) == sha and ref not in unread}
        return out + ([r for r in self.summaries(hits, fields=()) if r.name == name] if hits else [])

    # -- connections -------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection | None:
        """This thread's connection to the index (None when it cannot be used here)."""
        return self._conn()

    def _conn(self) -> sqlite3.Connection | None:
        """This thread's connection (None when the cache cannot be used here)."""
        if not hasattr(self._local, "conn"):
            self._local.conn = conn = self._connect()
            if conn is not None:
                with self._lock:
                    self._opened.append(conn)
        return self._local.conn

    def close(self) -> None:
        """Close every connection this index opened, in any thread."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection | None:
        for attempt in range(2):
            try:
                return self._open()
            except _driver.DatabaseError:
                if attempt == 0:
                    _unlink(self.path)  # corrupt or foreign: it is only a cache
            except OSError:
                break
        return None  # unusable (read-only folder...): work without a cache

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _driver.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != SCHEMA:
                _create(conn)
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone()  # readable at all?
            # Names are looked up one at a time (run starts, `gitexp diff NAME`): an index, not a scan.
            conn.execute("CREATE INDEX IF NOT EXISTS runs_name ON runs (name)")
        except BaseException:
            conn.close()
            raise
        conn.create_function("gitexp_like", 3, _like, deterministic=True)
        return conn

    # -- rows --------------------------------------------------------------------------------
    def _fetch(self, conn: sqlite3.Connection, shas: set[str], fields: set[str], complete: bool) -> dict[str, Run]:
        wanted = [f if f in fields else "NULL" for f in LAZY_FIELDS]
        query = f"SELECT {_COLUMNS[:_COLUMNS.index(' info')]} last, {', '.join(wanted)} FROM runs WHERE {SANE}"
        try:
            # A few rows through a temporary table; many (an experiment of a big repository) in one scan.
            few = not complete and len(shas) < FEW_ROWS
            rows = _rows_of(conn, query, shas) if few else conn.execute(query).fetchall()
        except _driver.DatabaseError:
            return {}  # unreadable: load everything from git this time
        out: dict[str, Run] = {}
        with paused_gc():
            stale = [r[0] for r in rows if r[0] not in shas]
            for r in rows if not stale else [r for r in rows if r[0] in shas]:
                out[r[0]] = self.run_of(r)
        if complete and stale:
            self._prune(conn, stale)
        return out

    def run_of(self, row: tuple) -> Run:
        """The Run of a row selected as `_fetch` selects (scalars, last, then LAZY_FIELDS or NULL)."""
        lazy = {f: v for f, v in zip(("last", *LAZY_FIELDS), row[9:14]) if v is not None}
        return Run(row[1], row[0], row[2:9], lazy, loader=self.load_field)

    def _prune(self, conn: sqlite3.Connection, commits: list[str]) -> None:
        """Drop rows of commits no run ref points at (edited or removed runs), and their `vals`."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM runs WHERE commit_id = ?", [(c,) for c in commits])
            conn.execute("DELETE FROM vals WHERE commit_id IN (SELECT value FROM json_each(?))", (json.dumps(commits),))
            conn.execute(_NEXT_GEN)
            conn.execute("COMMIT")
        except _driver.DatabaseError:
            _rollback(conn)  # busy: prune next time

    def load_field(self, run: Run, field: str, from_git: bool) -> Any:
        """One field of a cached run (the Run loader); from git if the row is bad."""
        if field not in (*LAZY_FIELDS, "last"):
            raise CorruptRecord(f"run {run.id}: {field} is not in the cache index")
        conn = None if from_git else self._conn()
        if conn is not None:
            try:
                row = conn.execute(f"SELECT {field} FROM runs WHERE commit_id = ?", (run.commit,)).fetchone()
                return json.loads(row[0])
            except (TypeError, ValueError, _driver.DatabaseError):
                pass
        fresh = load_summary(self.db, run.ref or "", run.commit)
        conn = self._conn()
        if conn is not None and not fresh.error:
            self._store(conn, [fresh])
        if fresh.error:
            raise CorruptRecord(fresh.error)
        return dict(fresh.metrics) if field == "last" else fresh.raw(field)

    def _store(self, conn: sqlite3.Connection, runs: Iterable[Run]) -> None:
        self._store_rows(conn, [_encode(r) for r in runs if not r.error])

    def _store_rows(self, conn: sqlite3.Connection, rows: list[tuple]) -> bool:
        """Write rows and their `vals` of every key searched so far, in one transaction (True: done).

        The keys are read inside the write lock, so a key being filled by another process
        either sees these rows or is seen here: no row ever lacks the value of a key. Inside
        a search's read snapshot (a damaged row read again from git) nothing is written.
        """
        if conn.in_transaction:
            return False
        try:
            conn.execute("BEGIN IMMEDIATE")
            # In key order: a fresh index grows by appending instead of splitting pages.
            conn.executemany(f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                             sorted(rows, key=itemgetter(0)))
            conn.execute(_NEXT_GEN)
            by_kind: dict[str, list[tuple[int, str]]] = {}
            for kid, kind, key in conn.execute("SELECT kid, kind, key FROM vkeys").fetchall():
                by_kind.setdefault(kind, []).append((kid, key))
            for kind, keys in by_kind.items():
                at = 9 + _STORED.index(_sql().COLUMN[kind])
                _put_vals(conn, _sql().vals_rows(kind, keys, [(r[0], r[at]) for r in rows]))
            conn.execute("COMMIT")
            return True
        except _driver.DatabaseError:
            _rollback(conn)  # another process holds the lock too long: the cache just stays colder
            return False

    # -- searching in SQL (see sqlfilter) -----------------------------------------------------
    def key_ids(self, conn: sqlite3.Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The `vkeys` id of each key, filling `vals` for keys not searched before (raises DatabaseError)."""
        known = {(kind, key): kid for kid, kind, key in conn.execute("SELECT kid, kind, key FROM vkeys")}
        for kind, key in sorted(keys - known.keys()):
            known[kind, key] = self._add_key(conn, kind, key)
        return {k: known[k] for k in keys}

    def _add_key(self, conn: sqlite3.Connection, kind: str, key: str) -> int:
        """Register a key and fill its `vals` from every row, in one write transaction (see `_store_rows`)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT kid FROM vkeys WHERE kind = ? AND key = ?", (kind, key)).fetchone()
            if row is not None:  # another process filled it meanwhile
                conn.execute("COMMIT")
                return row[0]
            old = conn.execute("SELECT kid FROM vkeys ORDER BY kid DESC LIMIT -1 OFFSET ?", (MAX_KEYS - 1,)).fetchall()
            for (kid,) in old:
                conn.execute("DELETE FROM vals WHERE kid = ?", (kid,))
                conn.execute("DELETE FROM vkeys WHERE kid = ?", (kid,))
            kid = conn.execute("INSERT INTO vkeys (kind, key) VALUES (?, ?)", (kind, key)).lastrowid
            if kid is None:
                raise _driver.DatabaseError("no id for a new key")
            rows = conn.execute(f"SELECT commit_id, {_sql().COLUMN[kind]} FROM runs").fetchall()
            _put_vals(conn, _sql().vals_rows(kind, [(kid, key)], rows))
            conn.execute("COMMIT")
            return kid
        except BaseException:
            _rollback(conn)
            raise

    def missing_rows(self, conn: sqlite3.Connection, refs: dict[str, str]) -> list[tuple[str, str]] | None:
        """The (ref, commit) pairs of `refs` without a sound row; None when rows cannot stand for
        `refs` in a search (a commit under two refs, or under another ref than its row's).

        Call it in a read transaction. A set of refs found complete is remembered until the
        next write to `runs` (each bumps `meta.gen`), so an unchanged repository is checked by
        one digest instead of reading every row.
        """
        digest = _digest(refs)
        gen = conn.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()
        if gen and conn.execute("SELECT 1 FROM verified WHERE digest = ? AND gen = ?", (digest, gen[0])).fetchone():
            return []
        have = dict(conn.execute(f"SELECT commit_id, ref FROM runs WHERE {SANE}").fetchall())
        if len(set(refs.values())) != len(refs):
            return None
        missing = []
        for ref, sha in refs.items():
            got = have.get(sha)
            if got is None:
                missing.append((ref, sha))
            elif got != ref:
                return None
        if not missing:
            _remember(conn, digest, gen[0] if gen else None)
        return missing

    def add_runs(self, conn: sqlite3.Connection, pairs: list[tuple[str, str]],
                 progress: Progress | None) -> list[Run] | None:
        """Read and store the records of `pairs`; the runs that cannot be stored (unreadable), or
        None when the rows could not be written."""
        unread, stored = self._load(conn, pairs, progress, every=False)
        return unread if stored else None

    def clear(self) -> None:
        self.close()
        _unlink(self.path)


def _create(conn: sqlite3.Connection) -> None:
    """Drop whatever tables another schema left and make this one's."""
    conn.executescript(
        "".join(f"DROP TABLE IF EXISTS {t};" for t in _TABLES)
        + f"CREATE TABLE runs ({_COLUMNS.replace('commit_id', 'commit_id TEXT PRIMARY KEY')});"
        "CREATE TABLE refdirs (folder TEXT PRIMARY KEY, mtime_ns INTEGER, refs TEXT, subfolders TEXT);"
        # loose / unsortable: some value of the key is LOOSE / cannot be sorted in SQL (only ever set)
        "CREATE TABLE vkeys (kid INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,"
        " loose INTEGER NOT NULL DEFAULT 0, unsortable INTEGER NOT NULL DEFAULT 0, UNIQUE (kind, key));"
        "CREATE TABLE vals (kid INTEGER NOT NULL, commit_id TEXT NOT NULL, num REAL, txt TEXT, flags INTEGER NOT NULL,"
        " cls INTEGER NOT NULL, PRIMARY KEY (kid, commit_id)) WITHOUT ROWID;"
        "CREATE TABLE verified (digest TEXT PRIMARY KEY, gen);"
        # Every scalar a search filters or sorts on, so it picks rows without reading their JSON.
        f"CREATE INDEX runs_pick ON runs (commit_id, {', '.join(_sql().PICK_COLUMNS)});"
        f"CREATE INDEX {LISTING_INDEX} ON runs (coalesce(start_ms, 0) DESC, ref DESC, commit_id, status, experiment,"
        " run_id, name, start_ms, end_ms, user);"
        "DELETE FROM meta WHERE key = 'gen';"
        f"INSERT OR REPLACE INTO meta VALUES ('schema', '{SCHEMA}');"
    )


def _sql() -> ModuleType:
    """The filter language's SQL side, loaded only when a search or a searched key needs it:
    a run start or a plain listing never does (it imports the whole filter language)."""
    from gitexp.services.catalog import sqlfilter
    return sqlfilter


def _like(pattern: str, ignore_case: int, text: str | None) -> int:
    return _sql().like(pattern, ignore_case, text)


def _put_vals(conn: sqlite3.Connection, vals: list[tuple]) -> None:
    """Write `vals` rows, marking in `vkeys` the keys that got LOOSE or unsortable values."""
    conn.executemany("INSERT OR REPLACE INTO vals VALUES (?, ?, ?, ?, ?, ?)", vals)
    marks: dict[int, tuple[int, int]] = {}
    loose_bit = _sql().LOOSE
    for kid, _, _, _, flags, cls in vals:
        if flags & loose_bit or cls == 3:
            loose, _ = marks.get(kid, (0, 1))
            marks[kid] = (loose | bool(flags & loose_bit), 1)
    conn.executemany("UPDATE vkeys SET loose = max(loose, ?), unsortable = 1 WHERE kid = ?",
                     [(loose, kid) for kid, (loose, _) in marks.items()])


def _digest(refs: dict[str, str]) -> str:
    """A digest of {ref: commit} (in its order) for `verified`: ref names hold no newline, ids have one length."""
    text = "\n".join(refs) + "\0" + "".join(refs.values())
    return blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def _remember(conn: sqlite3.Connection, digest: str, gen: str | None) -> None:
    """Record `digest` as complete at `gen`, inside the caller's read transaction: the write
    fails (and nothing is remembered) if another process wrote since that transaction began,
    or is writing now (no waiting for it: remembering is only worth it when free)."""
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("DELETE FROM verified WHERE gen IS NOT ?", (gen,))
        conn.execute("INSERT OR REPLACE INTO verified VALUES (?, ?)", (digest, gen))
    except _driver.DatabaseError:
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")


def _rows_of(conn: sqlite3.Connection, query: str, shas: set[str]) -> list[tuple]:
    """Only the rows of `shas` (one experiment of many), through a temporary table."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (sha TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM wanted")
    conn.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(s,) for s in shas])
    return conn.execute(query + " AND commit_id IN (SELECT sha FROM wanted)").fetchall()


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except _driver.DatabaseError:
        pass


def _progressed(items: Iterable[tuple], total: int, progress: Progress | None) -> Iterator[tuple]:
    """`items`, reporting progress every 100 once loading has taken over PROGRESS_AFTER_S."""
    started, shown = time.monotonic(), 0
    for done, item in enumerate(items, 1):
        yield item
        if progress and time.monotonic() - started > PROGRESS_AFTER_S and (done - shown >= 100 or done == total):
            progress(done, total)
            shown = done


def racy_window(mtime_ns: int) -> int:
    """How long after `mtime_ns` its folder may still change without moving it: RACY_NS where mtimes
    are whole seconds (a filesystem with 1 s ticks, or by a one-in-hundreds chance a finer one), else
    RACY_FINE_NS. A folder a run has just changed is remembered a tenth of a second later, not two
    seconds later (till then each command lists it and reads every ref file in it again)."""
    return RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_FINE_NS


class _DirCache:
    """GitDB.DirCache on the `refdirs` table, trusting only mtimes older than their `racy_window`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.now = time.time_ns()
        try:
            rows = conn.execute("SELECT folder, mtime_ns, refs, subfolders FROM refdirs").fetchall()
        except _driver.DatabaseError:
            rows = []
        self.known = {f: (m, r, d) for f, m, r, d in rows}
        self.changed: list[tuple[str, int, str, str]] = []

    def get(self, folder: str, mtime_ns: int) -> tuple[dict[str, str], list[str]] | None:
        hit = self.known.get(folder)
        if hit is None or hit[0] != mtime_ns:
            return None
        try:
            refs, subfolders = json.loads(hit[1]), json.loads(hit[2])
        except (TypeError, ValueError):
            return None
        return (refs, subfolders) if isinstance(refs, dict) and isinstance(subfolders, list) else None

    def put(self, folder: str, mtime_ns: int, refs: dict[str, str], subfolders: list[str]) -> None:
        if self.now - mtime_ns > racy_window(mtime_ns):
            self.changed.append((folder, mtime_ns, json.dumps(refs), json.dumps(subfolders)))

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.conn.executemany("INSERT OR REPLACE INTO refdirs VALUES (?, ?, ?, ?)", self.changed)
        except _driver.DatabaseError:
            pass


def _json_encoder() -> Callable[[Any], str]:
    """`json.dumps` without its set-up on every call: a cold fill encodes 50,000 values.

    The C encoder `json.dumps` itself uses, made once (no cycle check: parsed records
    have none); `json.dumps` where this Python has no such encoder or it answers otherwise.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    try:
        encoder = make(None, None, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
        probe = {"a": [1, 2.5, float("nan"), None, True, "é\n"], "b": {}}
        if "".join(encoder(probe, 0)) == json.dumps(probe):
            return lambda value: "".join(encoder(value, 0))
    except (TypeError, ValueError):
        pass
    return json.dumps


_to_json = _json_encoder()


def _encode(s: Run, summary: tuple[str, str] | None = None) -> tuple:
    """A run's row; `summary`: the JSON of its summary and last values when known."""
    return _layout(s.commit, s.ref, (s.id, s.name, s.experiment, s.status, s.start_ms, s.end_ms, s.user), s.info,
                   _to_json(s.params), _to_json(s.tags), summary or (_to_json(s.summary), _to_json(dict(s.metrics))))


def _layout(commit: str, ref: str | None, scalars: tuple, info: RunInfo, params: str, tags: str,
            summary: tuple[str, str]) -> tuple:
    """A row in `_COLUMNS` order, from the JSON of its fields (`summary`: of the summary and last values)."""
    return (commit, ref, *scalars, _to_json(info.as_dict()), params, tags, *summary)


def _unlink(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:  # gone already, or not removable (a folder, a read-only place): work without it
            pass
