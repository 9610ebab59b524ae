"""Resuming an ended run (MLflow's `start_run(run_id=...)`): a new segment on the same ref.

The run's ref gets a commit `gitexp: resume run <name>` with the record set back to
RUNNING (same code tree, same start time, end time and exit code cleared); this
process then owns the run exactly as if it had started it, so what it logs lands in
the final commit of the new segment. `git log <ref>` shows every segment.
"""

from __future__ import annotations

import os

from gitexp.errors import RunNotFound
from gitexp.services.catalog.listing import resolve
from gitexp.services.edit.core import NotEditable, RunIsActive, edit_record
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir, owner_lock
from gitexp.services.tracking.run import ActiveRun
from gitexp.store.runcommit import Record, read_record


def resume_run(s: Session, text: str) -> ActiveRun:
    """Make this process the owner of the ended run `text` (any run reference) again."""
    s.recover()
    db = s.db
    ref, commit = resolve(s, text)
    if ref is None:
        raise NotEditable(f"{text!r} resolves to a commit no run ref points at, so the run cannot be resumed")
    tip = db.read_ref(ref)
    if tip is None:
        raise RunNotFound(f"run ref {ref} disappeared")
    record = read_record(db, tip, ref)
    label = f"{record.info.name} ({record.info.id})"
    if record.info.status == "RUNNING":
        raise RunIsActive(f"run {label} is still running; only an ended run can be resumed",
                          hint="end it first, or attach to it (see 'Attaching child processes' in the docs)")
    folder = ActiveDir.of(db.local_dir, record.info.id)
    try:
        os.makedirs(folder.path)  # create-if-absent: one resumer wins
    except FileExistsError:
        raise RunIsActive(f"run {label} is being resumed or finalised by another process") from None
    lock = owner_lock(folder.path)
    lock.try_lock()
    folder.write_owner(ref)
    try:
        def mutate(state: Record) -> None:
            if state.info.status == "RUNNING":
                raise RunIsActive(f"run {label} was resumed by another process meanwhile")
            state.info = state.info.replace(status="RUNNING", end_time=None, exit_code=None)

        new_tip = edit_record(db, ref, tip, f"gitexp: resume run {record.info.name}\n\nrun id: {record.info.id}\n",
                              mutate)
        state = read_record(db, new_tip, ref)
    except BaseException:
        lock.release()
        folder.remove()
        raise
    run = ActiveRun(db.place.common_dir, ref, state.info, state.params, state.tags, lock, s.settings)
    run._artifact_paths.update(a.path for a in state.artifacts)
    for key, points in state.metrics.items():
        if points:  # automatic steps go on after the last step logged
            run.journal.last_steps[key] = max(p[0] for p in points)
    return run
