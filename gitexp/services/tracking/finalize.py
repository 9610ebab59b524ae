"""Turn a run's journals into its final commit, by the owner or after its death."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from gitexp.errors import GitexpError
from gitexp.services.tracking.localstate import ActiveDir, active_dirs, claim_abandoned, finalizing
from gitexp.store.atomic import read_file
from gitexp.store.flock import host_name
from gitexp.store.repo import GitDB
from gitexp.store.journal import read_journals
from gitexp.store.record import iso_from_ms
from gitexp.store.runcommit import Record, read_record, write_run_commit

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Any


def write_final(db: GitDB, ref: str, tip: str, folder: ActiveDir, status: str,
                exit_code: int | None, end_ms: int, known: tuple[str, Record] | None = None) -> str:
    """Commit the journals of `folder` onto `ref` with the final status; CAS from `tip`.

    `known` is a commit and its record as this process wrote it: when it is still the
    tip, its record is not read back (a run's own end parses no YAML).
    """
    base = known[1] if known is not None and known[0] == tip else read_record(db, tip)
    record = base.overlay(read_journals(folder.path))
    record.info = record.info.replace(status=status, end_time=iso_from_ms(end_ms), exit_code=exit_code)
    try:
        output: bytes | None = read_file(folder.output_log)
    except FileNotFoundError:
        output = None
    for art in record.artifacts:
        if art.inline and art.blob is None:  # logged during the run: staged until now
            art.blob = db.add_blob(folder.staged.open_verified(art.sha256))
    files = record.files(output)
    tree, _ = db.commit_info(tip)
    message = f"gitexp: end run {record.info.name} ({status})\n\n" + _describe(record.metrics, exit_code)
    commit = write_run_commit(db, tree, None, files, [tip], message)
    db.set_ref(ref, tip, commit, f"end run {record.info.id} {status}")
    return commit


def _describe(metrics: dict[str, Any], exit_code: int | None) -> str:
    lines = [f"{k}: {v[-1][1]!r} (step {v[-1][0]})" for k, v in sorted(metrics.items()) if v]
    if exit_code is not None:
        lines.append(f"exit code: {exit_code}")
    return "\n".join(lines) + "\n"


def finish(db: GitDB, ref: str, folder: ActiveDir, status: str, end_ms: int) -> bool:
    """End a RUNNING run from its journals and remove its folder; the caller holds its owner lock.

    False if the run had already ended (its folder is removed all the same).
    """
    with finalizing(folder):
        tip = db.read_ref(ref)
        info = read_record(db, tip).info if tip else None
        running = bool(tip) and info is not None and info.status == "RUNNING"
        if tip and running:
            write_final(db, ref, tip, folder, status, None, end_ms)
        folder.remove()
    return running


def recover_dead_runs(db: GitDB, now_ms: int, warn: Callable[[str], None] | None = None) -> list[str]:
    """Finalise as KILLED every local run whose owner process is gone.

    Returns the ids of the runs it finalised. Safe to call from any number of
    processes at once: the owner lock serialises them and the ref update is CAS.
    A dead run that cannot be finalised because a stale `<ref>.lock` (left by a
    crash) blocks its ref is reported through `warn`, with how to remove it.
    """
    done = []
    for folder in active_dirs(db.local_path):
        if _recover(db, folder, now_ms, warn):
            done.append(folder.run_id)
    return done


def _recover(db: GitDB, folder: ActiveDir, now_ms: int, warn: Callable[[str], None] | None = None) -> bool:
    meta = folder.read_meta()
    if meta is None or meta.get("host") != host_name():
        return False  # still being created, or another machine's (shared filesystem)
    try:
        lock = claim_abandoned(folder.path)
    except FileNotFoundError:
        return False  # the owner ended the run and removed its folder meanwhile
    if lock is None:
        return False  # its owner, or a process attached to it, is alive
    try:
        return finish(db, meta["ref"], folder, "KILLED", _last_sign_of_life(folder, now_ms))
    except GitexpError:  # ConcurrentUpdate, CorruptRecord, an unwritable record: never break listing
        if warn is not None:
            _report_ref_lock(db, folder, meta["ref"], warn)
        return False
    except FileNotFoundError:
        return False  # the folder went away under us: its owner (or another reader) finished the run
    finally:
        lock.release()


def _report_ref_lock(db: GitDB, folder: ActiveDir, ref: str, warn: Callable[[str], None]) -> None:
    """Say which lock keeps a dead run RUNNING, and how to remove it safely."""
    lock = os.path.join(db.place.common_dir, f"{ref}.lock")
    try:
        age = time.time() - os.stat(lock).st_mtime
    except OSError:
        return  # not a lock (another writer won the race, or the record is corrupt): nothing to say
    warn(f"run {folder.run_id} stays RUNNING although its process is gone: its ref is locked by {lock} "
         f"(created {_ago(age)} ago, probably by a process that crashed while updating it). "
         f"If no git or gitexp command is running in this repository, remove it: rm '{lock}' "
         f"(the next gitexp command then marks the run KILLED)")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 0):.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _last_sign_of_life(folder: ActiveDir, now_ms: int) -> int:
    """The latest journal write: the best guess at when a killed run died."""
    times = [e.stat().st_mtime_ns // 1_000_000 for e in os.scandir(folder.path) if e.is_file()]
    return min(max(times, default=now_ms), now_ms)
