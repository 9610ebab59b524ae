"""Writes from MLflow's stores: each call is on disk when it returns, and any process may go on.

MLflow's server hands each request to any of its worker processes, so a run created
in one worker is logged to, and ended, from others. A run created here is therefore
owned by no process (`ActiveRun.disown`): each process that writes to it joins it
(`tracking.run.attach`: journal files of its own, and a shared `attached.lock` that
keeps the run alive while that process lives) and writes every call to its journal
before returning, under the run's shared append lock (`localstate.appending`).
Ending the run (from any process) takes its owner lock, commits the journals of every
process (`finalize.finish`) and removes its folder; a process that writes to it later
finds the folder gone and edits the run's commit instead (`edit.log.log_to_run`).
The only state kept between calls is this process's joined runs: open journal files
and liveness locks, nothing another process needs.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from gitexp.errors import GitexpError
from gitexp.services.edit.core import RunIsActive, find_target, live_folder
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir, appending, owner_lock
from gitexp.services.tracking.run import ActiveRun, attach
from gitexp.store.record import RunInfo

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

Opener = Callable[[], AbstractContextManager[Session]]  # opens the repository's session when needed
_joined: dict[str, ActiveRun] = {}  # run id -> this process's journal of a run that is still running
_lock = threading.Lock()
END_WAIT = 10.0  # seconds to wait for another process that is ending the same run


def reuse(s: Session) -> Opener:
    """An opener handing out a session that is open already."""
    return lambda: nullcontext(s)


def create(s: Session, experiment: str, name: str | None, tags: dict[str, str], parent: str | None,
           note: str | None = None) -> str:
    """A new RUNNING run that any process may log to and end; its id."""
    from gitexp.api import _describe
    from gitexp.services.tracking import run as tracking

    active = tracking.create_run(s, experiment, name, None, tags, None, parent)
    if note:
        _describe(active, note)
    return _adopt(s, active)


def resume(s: Session, run_id: str) -> str:
    """MLflow's `start_run(run_id=...)` of an ended run: RUNNING again (a new segment), as `create`."""
    from gitexp.services.tracking.resume import resume_run

    return _adopt(s, resume_run(s, run_id))


def _adopt(s: Session, active: ActiveRun) -> str:
    joined = attach(active.id, active.ref, str(s.db.common_dir))  # alive while we live, before letting go
    active.disown()
    with _lock:
        _joined[active.id] = joined
    return active.id


def _join(opener: Opener, run_id: str) -> ActiveRun | None:
    """This process's journal of run `run_id` if it is running here, else None (no repository
    is opened for a run joined already: the hot path of `log_metric`)."""
    with _lock:
        joined = _joined.get(run_id)
    if joined is not None:
        return joined
    with opener() as s:
        target = find_target(s, run_id)
        if live_folder(s.db, target.info) is None:
            return None
        joined = attach(target.info.id, target.ref, str(s.db.common_dir))
    with _lock:
        kept = _joined.setdefault(target.info.id, joined)
    if kept is not joined:  # another thread joined it meanwhile
        joined.end()
    return kept


def _forget(run_id: str) -> None:
    with _lock:
        joined = _joined.pop(run_id, None)
    if joined is not None:
        joined.end()  # closes our journal, lets go of our liveness lock


@contextmanager
def _live(opener: Opener, run_id: str) -> Iterator[ActiveRun | None]:
    """This process's journal of the run while it takes entries (flushed on exit), else None."""
    joined = _join(opener, run_id)
    if joined is None:
        yield None
        return
    with appending(joined.folder) as open_for_entries:
        if open_for_entries and os.path.exists(joined.journal.path):  # (not the journal of an ended segment)
            try:
                yield joined
            finally:
                joined.flush()
            return
    _forget(run_id)  # ended by another process meanwhile (and maybe resumed since)
    yield None


def log(opener: Opener, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any]) -> None:
    """MLflow's `log_batch`: journaled while the run runs, else one commit on the ended run."""
    from gitexp.services.edit.log import log_to_run
    from gitexp.services.mlflow_import import param_value  # "0.01" is kept as 0.01, as by the import

    values = {p.key: param_value(p.value) for p in params}
    with _live(opener, run_id) as run:
        if run is not None:
            for key, value in values.items():
                run.log_param(key, value)
            for t in tags:
                run.set_tag(t.key, t.value)
            for m in metrics:
                run.log_metric(m.key, m.value, m.step, m.timestamp)
            return
    with opener() as s:
        log_to_run(s, run_id, [(m.key, m.value, m.step, m.timestamp) for m in metrics],
                   values, {t.key: t.value for t in tags})


def log_artifact(opener: Opener, run_id: str, local_file: str, path: str) -> None:
    """One file as artifact `path` of a running run."""
    with _live(opener, run_id) as run:
        if run is not None:
            run.log_artifact_file(local_file, path)
            return
    raise GitexpError(f"run {run_id} has ended, so artifacts cannot be added to it",
                      hint="log artifacts while the run runs")


def write_file(opener: Opener, run_id: str, path: str, data: bytes) -> None:
    """Small file `path` as an artifact of the run: journaled while it runs, else a commit."""
    with _live(opener, run_id) as run:
        if run is not None:
            _log_bytes(run, path, data)
            return
    with opener() as s:
        _commit_file(s, run_id, path, data)


def _log_bytes(run: ActiveRun, path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix="gitexp-mlflow-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        run.log_artifact_file(tmp, path)
    finally:
        os.unlink(tmp)


def _commit_file(s: Session, run_id: str, path: str, data: bytes) -> None:
    import hashlib

    from gitexp.services.edit.core import edit_record
    from gitexp.store.record import Artifact

    target = find_target(s, run_id)
    if target.info.status == "RUNNING":
        raise RunIsActive(f"run {target.label} is running in another process or on another machine",
                          hint="change it from there, or after it ends")
    blob = s.db.add_blob(data)

    def mutate(state: Any) -> None:
        state.artifacts = [a for a in state.artifacts if a.path != path]
        state.artifacts.append(Artifact(path, len(data), hashlib.sha256(data).hexdigest(), True, blob))

    edit_record(s.db, target.ref, target.tip, f"gitexp: write {path}", mutate)


def end(s: Session, run_id: str, status: str, end_ms: int | None) -> None:
    """End the run with `status` from any process; a run ended already gets the status in a commit."""
    from gitexp.services.edit.log import set_status

    end_ms = int(time.time() * 1000) if end_ms is None else int(end_ms)
    target = find_target(s, run_id)
    if target.info.status == "RUNNING" and _finish(s, target.ref, target.info, status, end_ms):
        return
    set_status(s, run_id, status, end_ms)


def _finish(s: Session, ref: str, info: RunInfo, status: str, end_ms: int) -> bool:
    """End a running run from its journals; False if it was ended meanwhile (or runs elsewhere)."""
    from gitexp.services.tracking.finalize import finish

    folder = ActiveDir.of(s.db.local_dir, info.id)
    lock = _owner_of(folder, info)
    if lock is None:
        return False
    try:
        _forget(info.id)  # our journal closed first, so finishing reads all of it
        return finish(s.db, ref, folder, status, end_ms)
    finally:
        lock.release()


def _owner_of(folder: ActiveDir, info: RunInfo, clock: Callable[[], float] = time.monotonic) -> Any:
    """The run's owner lock, waiting while another process ends it; None once the folder is gone."""
    deadline = clock() + END_WAIT
    while True:
        try:
            lock = owner_lock(folder.path)
            if lock.try_lock():
                if os.path.exists(folder.file("run.json")):
                    return lock
                lock.release()
                return None
        except FileNotFoundError:
            return None
        if clock() > deadline:
            raise RunIsActive(f"run {info.name} ({info.id}) is owned by a running process (gitexp's own API)",
                              hint="end it from the process that runs it")
        time.sleep(0.05)
