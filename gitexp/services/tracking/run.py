"""Active runs: create, attach, log (buffered), end.

`log_metric` is the hot path: it validates a key once, converts the value and
appends (step, value, time) to the key's in-memory queue (an omitted step stays
None there until the journal numbers it). A background thread writes the queues
to the run's journal at least once per flush interval, so a killed process loses
at most that interval. Nothing is committed until the run ends.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import sys
import threading
import time
import weakref

from gitexp import __version__
from gitexp.errors import InvalidName, InvalidValue, ParamConflict, RunNotFound, WriteFailed
from gitexp.names import check_experiment, check_key, check_run_name, current_user, new_run_id
from gitexp.services.tracking.localstate import ActiveDir, Flock, attached_lock, finalizing, owner_lock
from gitexp.services.tracking.names import claim_generated_name, claim_name, release_name
from gitexp.services.session import Session
from gitexp.services.tracking.finalize import write_final
from gitexp.settings import Settings
from gitexp.store.flock import host_name
from gitexp.store.repo import RUNS_PREFIX, GitDB, Settled, open_repo
from gitexp.store.runcommit import Record, read_record
from gitexp.store.journal import JournalWriter, read_journals
from gitexp.store.record import Artifact, RunInfo, encode_record, iso_from_ms
from gitexp.store.runcommit import code_tree, hash_code_tree, write_run_commit
from gitexp.store.packing import maybe_pack
from gitexp.store.sidestore import SideStore, sha256_file
from gitexp.store.snapshot import snapshot_worktree
from gitexp.lazyre import lazy

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

ENV_RUN_ID = "GITEXP_RUN_ID"
ENV_RUN_REF = "GITEXP_RUN_REF"
ENV_GIT_DIR = "GITEXP_GIT_DIR"
_NUMBER_TYPES = (int, float)
TICK = 0.05  # seconds between looks at the queues
BURST = 20_000  # queued points that are flushed without waiting for the interval


class ActiveRun:
    """A run this process logs to; `owner` runs also write the final commit."""

    def __init__(self, common_dir: str, ref: str, info: RunInfo, params: dict,
                 tags: dict, owner_lock: Flock | None, settings: Settings) -> None:
        self.common_dir = common_dir
        self.ref = ref
        self.info = info
        self.params = dict(params)
        self.tags = dict(tags)
        self.settings = settings
        self._owner_lock = owner_lock
        self.folder = ActiveDir.of(os.path.join(common_dir, "gitexp"), info.id)
        self.journal = JournalWriter(self.folder.path)
        # A joining process holds a shared lock, so the run is not taken for dead
        # while it still logs, even if its owner was killed.
        self._attached = None if owner_lock else attached_lock(self.folder.path)
        if self._attached is not None:
            self._attached.try_lock()
        self._series: dict[str, Any] = {}  # each metric key logged: its queue's `extend`
        self._write_through = False  # a forked child writes each point at once
        self._carried_steps: dict[str, int] = {}  # a forked child's: each key's last step at fork
        self._lock = threading.Lock()
        self._artifact_paths: set[str] = set()
        self.notices: list[str] = []  # one-line remarks for the user at the start (snapshot size)
        # The commit this process made on the run's ref and its record: the end need not read it back.
        self.written: tuple[str, Record] | None = None
        self.settled: Settled | None = None  # the identity and config its start read: the end's too
        self.ended = False
        self._flush_warned = False  # a failed background flush was reported (once per run)
        _flusher.register(self)

    @property
    def id(self) -> str:
        return self.info.id

    def fast_path(self) -> dict[str, Any]:
        """For a caller that inlines `log_metric`: each metric key logged, to its queue's `extend`.

        The queue takes (step, value, seconds) tuples; a step of None is the key's
        last step + 1. A key missing there is for `log_metric` to check. A forked
        child gives a new empty dict: its points go through `log_metric`, which
        writes each at once (so a caller asks again after a fork).
        """
        return {} if self._write_through else self._series

    # -- the hot path ----------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: int | None = None,
                   timestamp: int | None = None) -> None:
        """Queue one metric point; an omitted step is one after the key's last step (0 at first)."""
        if value.__class__ is not float:
            value = _as_float(key, value)
        if step is not None and step.__class__ is not int:
            step = _whole_step(key, step)
        seconds = _time() if timestamp is None else _seconds(key, timestamp)
        append = self._series.get(key) or self._new_series(key)
        append((step, value, seconds))
        if self._write_through:
            self.journal.flush()

    def _new_series(self, key: str) -> Any:
        check_key(key, "metric key")
        append = self._series[key] = self.journal.series_of(key).extend
        return append

    # -- params, tags, artifacts ---------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record a param; logging it again with a different value is an error."""
        check_key(key, "param key")
        value = _param_value(value, key)
        with self._lock:
            if key in self.params and not _same(self.params[key], value):
                raise ParamConflict(
                    f"param {key!r} is already {self.params[key]!r} in run {self.info.name}; "
                    f"cannot change it to {value!r}",
                    hint="params are fixed once logged: start a new run, or log a metric or tag instead",
                )
            new = key not in self.params
            self.params[key] = value
        if new:
            self.journal.event("p", key, value)

    def set_tag(self, key: str, value: Any) -> None:
        check_key(key, "tag key")
        self.tags[key] = str(value)
        self.journal.event("t", key, str(value))

    def delete_tag(self, key: str) -> None:
        self.tags.pop(key, None)
        self.journal.event("t", check_key(key, "tag key"), None)

    def log_artifact_file(self, local_path: str | os.PathLike[str], artifact_path: str) -> Artifact:
        """Store a file as artifact `artifact_path` (inline blob or side store)."""
        check_key(artifact_path, "artifact path")
        _check_artifact_conflict(artifact_path, self._artifact_paths)
        sha256, size = sha256_file(local_path)
        inline = size <= self.settings.artifact_threshold
        # Inline artifacts wait in the run's folder, not as unreferenced blobs
        # that a `git gc --prune=now` during the run would delete.
        store = self.folder.staged if inline else SideStore(os.path.join(self.common_dir, "gitexp", "objects"))
        store.put(local_path, sha256)
        art = Artifact(artifact_path, size, sha256, inline)
        self.journal.event("a", artifact_path, art.as_dict())
        self._artifact_paths.add(artifact_path)
        return art

    # -- ending --------------------------------------------------------------------
    def flush(self) -> None:
        self.journal.flush()

    def end(self, status: str = "FINISHED", exit_code: int | None = None) -> None:
        """Flush; the owner also writes the final commit and releases the run."""
        if self.ended:
            return
        self.ended = True
        _flusher.unregister(self)
        if self._owner_lock is None:
            try:
                self._close_journal()
            finally:
                if self._attached is not None:
                    self._attached.release()
            return
        try:
            # Never FINISHED with points missing: if they cannot be written the run
            # stays RUNNING with its journal, and is recovered (KILLED) from it later.
            self._close_journal()
            with open_repo(self.common_dir) as db, finalizing(self.folder):
                if self.settled is not None:
                    db.adopt(self.settled)
                tip = db.read_ref(self.ref) or ""
                write_final(db, self.ref, tip, self.folder, status, exit_code, int(time.time() * 1000),
                            self.written)
                self.folder.remove()
                # Housekeeping off the logging path: one small folder listing, packing itself detached.
                maybe_pack(db, self.settings.pack_threshold)
        finally:
            self._owner_lock.release()

    def disown(self) -> None:
        """Let go of the run without ending it: from now on any process may end it.

        For MLflow's server, whose requests reach any of its workers. The caller joins
        the run first (`attach`), so the run is never taken for dead in between.
        """
        self.ended = True
        _flusher.unregister(self)
        self._close_journal()
        if self._owner_lock is not None:
            self._owner_lock.release()
            self._owner_lock = None

    def _close_journal(self) -> None:
        try:
            self.journal.close()
        except WriteFailed as exc:
            raise WriteFailed(
                f"run {self.info.name} ({self.id}) was not ended: {self.journal.unwritten} queued points "
                f"and events could not be written ({exc.reason})",
                hint="free disk space; the next gitexp command recovers the run as KILLED "
                     f"from what its journal in {self.folder.path} holds",
            ) from None

    # -- fork ------------------------------------------------------------------------
    def _forked(self) -> None:
        """In a child just forked: let go of what belongs to the parent (see `_after_fork_in_child`)."""
        old = self.journal
        if isinstance(old, JournalWriter):  # its files are the parent's: never written from here
            # Automatic steps go on from the parent's (keys it logged, and keys of a resumed
            # run it has not logged yet); its queued points are its to write.
            steps = {key: old.last_step(key) for key in old.series.keys() | old.last_steps.keys()}
            self._carried_steps = {key: step for key, step in steps.items() if step is not None}
            for series in old.series.values():
                del series[:]
        self.journal = _ForkedJournal(self)  # type: ignore[assignment]
        self._lock = threading.Lock()  # another thread of the parent may have held it
        lock = attached_lock(self.folder.path)  # at once: the run is not taken for dead while we live
        attached: Flock | None = lock
        try:
            lock.try_lock()
        except OSError:  # the folder went away (the run ended meanwhile): nothing to protect
            attached = None
        for held in (self._owner_lock, self._attached):
            if held is not None:
                held.forget()  # our copy of the parent's lock: the parent still holds the lock
        self._owner_lock, self._attached = None, attached  # the parent owns and ends the run
        self._series = {}  # bound to the parent's queues
        self._write_through = True  # forked workers often end in os._exit, with no hook left to flush at

    def _adopt_in_child(self) -> JournalWriter:
        """On a forked child's first write: its own journal files and flusher thread."""
        with self._lock:
            if isinstance(self.journal, JournalWriter):
                return self.journal
            journal = JournalWriter(self.folder.path)
            journal.last_steps.update(self._carried_steps)
            self.journal = journal
        _flusher.register(self)
        return journal


_time = time.time


def _whole_step(key: str, step: Any) -> int:
    """A step given as another type than int, as an int (3.0, numpy ints, int subclasses)."""
    try:
        if not isinstance(step, bool) and float(step) == int(step):
            return int(step)
    except (TypeError, ValueError, OverflowError):
        pass
    raise InvalidValue(f"step for metric {key!r} must be a whole number")


def _seconds(key: str, timestamp: Any) -> float:
    """Unix milliseconds as float seconds, a plain float (marshal stores a numpy float as bytes)."""
    try:
        if not isinstance(timestamp, (bool, str, bytes)):
            return float(timestamp) / 1000
    except (TypeError, ValueError, OverflowError):
        pass
    raise InvalidValue(f"timestamp of metric {key!r} must be Unix time in milliseconds, not {timestamp!r:.40}")


def _check_artifact_conflict(path: str, existing: set[str]) -> None:
    """A path cannot be both a file and a folder of the run's artifacts (the commit's tree could not hold it)."""
    for other in existing:
        if path.startswith(other + "/") or other.startswith(path + "/"):
            raise InvalidName(
                f"artifact path {path!r} conflicts with artifact {other!r}: a file cannot also be a folder",
                hint="choose another artifact path",
            )


def _as_float(key: str, value: Any) -> float:
    try:
        if isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, (str, bytes, bool)) and hasattr(value, "__float__"):
            try:
                return float(value)  # numpy scalars, torch 0-d tensors, Decimal
            except (TypeError, ValueError):
                pass
    except OverflowError:  # an int beyond float range
        raise InvalidValue(f"metric {key!r} is too large for a float ({value!r:.40})") from None
    raise InvalidValue(
        f"metric {key!r} must be a number, not {type(value).__name__} ({value!r:.40})",
        hint="log numbers with log_metric; use set_tag or log_param for text",
    )


MAX_PARAM_BYTES = 64 << 10  # a param is a setting, not data: larger values belong in an artifact
_ADDRESS = lazy(r" at 0x[0-9a-fA-F]+>")


def _param_value(value: Any, key: str = "") -> Any:
    """A param as plain data; refused if it has no stable text form or is over 64 KB."""
    value = _plain_param(value, key)
    if isinstance(value, (str, dict, list)):
        import json

        size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
        if size > MAX_PARAM_BYTES:
            raise InvalidValue(f"param {key!r} is {size:,} bytes, over the {MAX_PARAM_BYTES >> 10} KB limit for params",
                               hint="log it as an artifact (gitexp.log_dict or gitexp.log_text), "
                                    "and its name or a hash as the param")
    return value


def _plain_param(value: Any, key: str) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain_param(v, key) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_param(v, key) for v in value]
    text = str(value)
    if _ADDRESS.search(text):  # `<object at 0x7f…>`: differs in every run, so every run would differ
        raise InvalidValue(f"param {key!r} is a {type(value).__name__} with no stable text form ({text:.60})",
                           hint="log the settings it stands for (e.g. its class name or its arguments), "
                                "or give the class a __repr__")
    return text


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b or str(a) == str(b)


class _Flusher:
    """One daemon thread per process that flushes every registered run's journal."""

    def __init__(self) -> None:
        self._runs: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self.interval = 1.0

    def register(self, run: ActiveRun) -> None:
        wanted = run.settings.flush_interval
        self.interval = min(self.interval, wanted) if len(self._runs) else wanted
        self._runs.add(run)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="gitexp-flush", daemon=True)
            self._thread.start()

    def unregister(self, run: ActiveRun) -> None:
        self._runs.discard(run)

    def after_fork(self) -> None:
        """In a forked child: the parent's thread is gone; a new one starts with the first write."""
        self._thread = None
        self._wake = threading.Event()

    def _loop(self) -> None:
        # Every interval everything is flushed; in between, a quick look every
        # TICK flushes a run whose queue holds BURST points, so a fast logging loop
        # keeps a small queue (less memory, less garbage-collector work).
        last = time.monotonic()
        while not self._wake.wait(min(self.interval, TICK)):
            due = time.monotonic() - last >= self.interval
            if due:
                last = time.monotonic()
            for run in list(self._runs):
                if due or run.journal.queued >= BURST:
                    try:
                        run.flush()
                    except Exception as exc:  # never let a full disk kill the training process
                        self._warn_once(run, exc)

    def _warn_once(self, run: ActiveRun, exc: Exception) -> None:
        """Say once per run on stderr that its points are kept queued (retried every interval)."""
        if run._flush_warned:
            return
        run._flush_warned = True
        with contextlib.suppress(Exception):
            what = exc.message if isinstance(exc, WriteFailed) else f"could not write its metrics: {exc}"
            sys.stderr.write(f"gitexp: warning: run {run.info.name}: {what} (retried at every flush)\n")
            sys.stderr.flush()


_flusher = _Flusher()


class _ForkedJournal:
    """The journal of a run inherited through fork(), until the child first writes to it.

    Nothing is created before then: a fork that only execs (subprocess with a
    preexec_fn) leaves no journal files behind.
    """

    def __init__(self, run: ActiveRun) -> None:
        self._run = run
        self.queued = 0

    def flush(self) -> None:
        pass  # nothing written yet

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run._adopt_in_child(), name)


_fork_held: list[Any] = []
_exec_only = False  # see `forking_to_exec`


@contextlib.contextmanager
def forking_to_exec() -> Iterator[None]:
    """Around starting a process through a fork whose child only execs (subprocess with a
    `preexec_fn`): the fork hooks below, which prepare a child that goes on logging, are
    skipped, so the start does not wait for them (~4 ms with a run active)."""
    global _exec_only
    _exec_only = True
    try:
        yield
    finally:
        _exec_only = False


def _before_fork() -> None:
    """No journal is half-written when the process is copied."""
    if _exec_only:
        return
    for run in list(_flusher._runs):
        lock = vars(run.journal).get("_lock")
        if lock is not None and lock.acquire(timeout=2.0):
            _fork_held.append(lock)


def _after_fork_in_parent() -> None:
    while _fork_held:
        _fork_held.pop().release()


def _after_fork_in_child() -> None:
    """A forked worker logs to the runs it inherited, as the parent does.

    It starts with an empty queue (the parent writes the points queued before
    the fork) and holds the run's shared `attached.lock` (so the run is not
    taken for dead while it lives); on its first write it gets its own journal
    files and flusher thread; it writes each point as it is logged.
    """
    if _exec_only:
        return
    _fork_held.clear()  # the parent's writers' locks: those writers are dropped here
    _flusher.after_fork()
    for run in list(_flusher._runs):
        if not run.ended:
            run._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


def create_run(s: Session, experiment: str | None = None, name: str | None = None,
               params: dict | None = None, tags: dict | None = None,
               command: list[str] | None = None, parent: str | None = None,
               taken_names: set[str] | None = None) -> ActiveRun:
    """Snapshot the code, write the RUNNING commit and ref; this process owns the run.

    The name is reserved atomically first (one file, whatever the number of runs):
    of many processes starting runs with one name, exactly one gets it.
    `taken_names` are names to treat as taken on top of the reservations.
    """
    db, settings = s.db, s.settings
    params = {k: _param_value(v, k) for k, v in (params or {}).items()}
    s.recover()  # as every command does: dead runs show as KILLED
    experiment = check_experiment(experiment or settings.default_experiment)
    for key in list(params) + list(tags or {}):
        check_key(key)
    run_id = new_run_id()
    ref = f"{RUNS_PREFIX}{experiment}/{run_id}"
    if name:
        name = check_run_name(name)
        if taken_names and name in taken_names:
            raise InvalidName(f"a run named {name!r} already exists; run names are unique in a repository",
                              hint="choose another name, or leave the name out for a generated one")
        claim_name(s, name, ref)
    else:
        name = claim_generated_name(s, ref, taken_names or set())
    try:
        folder = ActiveDir.of(db.local_path, run_id)
        os.makedirs(folder.path)
        lock = owner_lock(folder.path)
        lock.try_lock()
    except BaseException:
        release_name(s, name, ref)
        raise
    folder.write_owner(ref)
    try:
        info, notices, commit = _start_commit(db, settings, ref, run_id, name, experiment, params, tags or {},
                                              command, parent)
    except BaseException:
        lock.release()
        folder.remove()
        release_name(s, name, ref)
        raise
    str_tags = {k: str(v) for k, v in (tags or {}).items()}
    run = ActiveRun(db.place.common_dir, ref, info, params, str_tags, lock, settings)
    run.notices = notices
    run.written = (commit, Record(info, dict(params), dict(str_tags), {}, []))
    run.settled = db.settled()
    return run


def _start_commit(db: GitDB, settings: Settings, ref: str, run_id: str, name: str, experiment: str,
                  params: dict, tags: dict, command: list[str] | None,
                  parent: str | None) -> tuple[RunInfo, list[str], str]:
    snap = snapshot_worktree(db, settings.snapshot)
    head = db.head()
    code = hash_code_tree(db, snap.files)  # written with the commit; its id tells whether the tree is dirty
    info = RunInfo(
        id=run_id, name=name, experiment=experiment, start_time=iso_from_ms(int(time.time() * 1000)) or "",
        user=current_user(), host=host_name(), command=list(command or sys.argv),
        baseline=head, branch=db.head_branch(), dirty=_is_dirty(db, head, snap.files, code.id), skipped=snap.skipped,
        gitexp_version=__version__, python_version=sys.version.split()[0], parent_run=parent,
    )
    record = encode_record(info, params, tags, {}, [])
    message = f"gitexp: start run {name} in {experiment}\n\nrun id: {run_id}\n"
    commit = write_run_commit(db, None, code, dict(record), [head] if head else [], message)
    db.set_ref(ref, None, commit, f"start run {run_id}")
    return info, snap.notices(), commit


def _is_dirty(db: GitDB, head: str | None, files: dict, code: str) -> bool:
    """Whether the snapshot (`files`, written as tree `code`) differs from HEAD's code: equal trees, equal ids."""
    if head is None:
        return bool(files)
    return code_tree(db, db.commit_info(head)[0]) != code


def attach(run_id: str, ref: str, common_dir: str) -> ActiveRun:
    """Join a run owned by another process (`gitexp run`'s child sees it in its env)."""
    with Session.open(common_dir) as s:
        tip = s.db.read_ref(ref)
        if tip is None:
            raise RunNotFound(f"{ENV_RUN_ID}={run_id} names no run in {common_dir}",
                              hint=f"unset {ENV_RUN_ID} to start a new run")
        record = read_record(s.db, tip)
        settings = s.settings
    run = ActiveRun(common_dir, ref, record.info, record.params, record.tags, None, settings)
    run._artifact_paths.update(a.path for a in record.artifacts)
    run._artifact_paths.update(a.path for a in read_journals(run.folder.path).artifacts)  # other processes'
    return run


def env_for(run: ActiveRun) -> dict[str, str]:
    """Environment variables that make child processes attach to `run`."""
    return {ENV_RUN_ID: run.id, ENV_RUN_REF: run.ref, ENV_GIT_DIR: run.common_dir}


atexit.register(lambda: _flusher._wake.set())  # stop the flush loop before interpreter teardown
