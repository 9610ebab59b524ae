"""The edit primitive: a new commit on a run's ref with its record changed, retried on races.

Every edit of an ended run is a new commit on the run's ref: its parent is the
previous tip, its tree is the same code plus an updated `.gitexp/` record, and
its message says what changed. So `git log <ref>` is the run's audit trail.
While a run is active only its own process writes its ref.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from gitexp.errors import ConcurrentUpdate, GitexpError, RunNotFound
from gitexp.services.catalog.listing import resolve
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir, appending, claim_abandoned
from gitexp.store.journal import JournalWriter
from gitexp.store.record import RunInfo
from gitexp.store.repo import Entry, GitDB
from gitexp.store.runcommit import Record, RecordReader, read_record, write_run_commit

MAX_ATTEMPTS = 8
T = TypeVar("T")
Mutation = Callable[[Record], None]


class RunIsActive(GitexpError):
    """The run is still running, so only its own process may change its ref."""


class NotEditable(GitexpError):
    """The run was found through a commit that no run ref points at."""


@dataclass
class Target:
    """A run to edit: its ref, the ref's current tip and its run.yaml."""

    ref: str
    tip: str
    info: RunInfo

    @property
    def label(self) -> str:
        return f"{self.info.name} ({self.info.id})"


@dataclass
class EditResult:
    """What an edit did: the ref moved from `old` to `new`, or the change was queued."""

    ref: str
    run_id: str
    name: str
    old: str
    new: str
    queued: bool = False  # written to a live run's journal; the owner commits it at the end
    old_name: str | None = None  # set by rename_run

    @property
    def changed(self) -> bool:
        return self.queued or self.new != self.old


def with_retries(db: GitDB, ref: str, tip: str, attempt: Callable[[str], T]) -> T:
    """Call `attempt(tip)`; when a compare-and-swap loses a race, again on the ref's new tip.

    `attempt` re-reads whatever it needs from the tip it is given, so a concurrent
    edit is never lost: each winner's change is the base of the next try.
    """
    for n in range(MAX_ATTEMPTS):
        try:
            return attempt(tip)
        except ConcurrentUpdate:
            if n == MAX_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.01, 0.03) * (n + 1))
            current = db.read_ref(ref)
            if current is None:
                raise RunNotFound(f"{ref} was removed while gitexp was changing it") from None
            tip = current
    raise AssertionError("unreachable")  # pragma: no cover


def edit_record(db: GitDB, ref: str, tip: str, message: str, mutate: Mutation) -> str:
    """Commit `mutate` applied to the record at `tip` onto `ref`; return the new tip.

    The new commit has `tip` as parent, the same code tree and the re-encoded
    record (inline artifact blobs, output.log and unknown files are kept). When
    the mutation changes nothing, no commit is written and `tip` is returned.
    """
    def attempt(tip: str) -> str:
        new = _edit_commit(db, tip, message, mutate)
        if new != tip:
            db.set_ref(ref, tip, new, _reflog_message(message))
        return new

    return with_retries(db, ref, tip, attempt)


def _edit_commit(db: GitDB, tip: str, message: str, mutate: Mutation) -> str:
    record = read_record(db, tip)  # freshly parsed: ours to change
    mutate(record)
    record_tree = RecordReader(db, tip).record_tree
    existing = db.list_tree(record_tree) if record_tree else {}
    # Metrics and artifacts are rebuilt from the record; anything else not encoded
    # here (output.log, files of newer formats) keeps its blob.
    files: dict[str, bytes | Entry] = {
        p: e for p, e in existing.items() if not p.startswith(("metrics/", "artifacts/"))
    }
    files.update(record.files())
    if _same_record(db, files, existing):
        return tip
    tree, _parents = db.commit_info(tip)
    return write_run_commit(db, tree, None, files, [tip], message)


def _same_record(db: GitDB, files: dict[str, bytes | Entry], existing: dict[str, Entry]) -> bool:
    if files.keys() != existing.keys():
        return False
    for path, value in files.items():
        sha = value.sha if isinstance(value, Entry) else db.blob_id(value)
        if sha != existing[path].sha:
            return False
    return True


def _reflog_message(message: str) -> str:
    subject = message.split("\n", 1)[0]
    return subject[len("gitexp: "):] if subject.startswith("gitexp: ") else subject


# -- finding the run to edit ----------------------------------------------------------
def find_target(s: Session, text: str) -> Target:
    """Resolve `text` to a run that has a ref here; dead local runs are finalised first."""
    s.recover()
    db = s.db
    ref, commit = resolve(s, text)
    if ref is None:
        info = read_record(db, commit).info
        raise NotEditable(
            f"{text!r} resolves to commit {commit[:12]} of run {info.name} ({info.id}), "
            "but no run ref points at that run here, so it cannot be changed",
            hint=f"restore its ref first: git update-ref refs/gitexp/runs/{info.experiment}/{info.id} {commit}",
        )
    tip = db.read_ref(ref)
    if tip is None:
        raise RunNotFound(f"run ref {ref} disappeared", hint="list runs with 'gitexp ls --all'")
    return Target(ref, tip, RunInfo.from_yaml(RecordReader(db, tip).read("run.yaml") or b"", ref))


def _info(db: GitDB, commit: str) -> RunInfo:
    return RunInfo.from_yaml(RecordReader(db, commit).read("run.yaml") or b"")


def live_folder(db: GitDB, info: RunInfo) -> ActiveDir | None:
    """The active folder of a RUNNING run whose owner process here is alive, else None."""
    if info.status != "RUNNING":
        return None
    folder = ActiveDir.of(db.local_dir, info.id)
    if not os.path.isdir(folder.path):
        return None
    try:
        lock = claim_abandoned(folder.path)
    except OSError:  # the folder vanished: the run just ended
        return None
    if lock is not None:  # nobody works on it any more: not live
        lock.release()
        return None
    return folder


def _refuse_running(target: Target, action: str, hint: str | None = None) -> None:
    if target.info.status == "RUNNING":
        where = f" on {target.info.host}" if target.info.host else ""
        raise RunIsActive(
            f"run {target.label} is still running{where}; only its own process may {action} it now",
            hint=hint or f"{action} it after it ends",
        )




def queue_entries(folder: ActiveDir, events: Iterable[tuple[str, str, Any]],
                  points: Iterable[tuple[str, int, float, float]] = ()) -> bool:
    """Append events (kind, key, value; None deletes) and metric points to the journal of a run
    another process owns. False if that run was finalised meanwhile: edit its commit instead."""
    with appending(folder) as open_for_entries:
        if open_for_entries:
            writer = JournalWriter(folder.path)
            try:
                for kind, key, value in events:
                    writer.event(kind, key, value)
                writer.queue(points)
            finally:
                writer.close()
        return open_for_entries
