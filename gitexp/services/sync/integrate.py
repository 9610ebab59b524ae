"""Integrate fetched runs (`refs/gitexp/remotes/<remote>/runs/…`) into the local run refs.

For each run: create it when it is new here, fast-forward when the remote only
added commits, keep ours when we are ahead, and merge the edits of both sides
when they diverged (a commit with both tips as parents). Real conflicts are
reported and the local ref is left as it was. Nothing is ever overwritten: every
local ref moves by compare-and-swap from the tip that was read.

Pulled records are untrusted: the run's experiment and id come from the ref
name (checked), nothing from the record is executed, and a run whose record
cannot be read is still created (it lists as CORRUPT) but never merged.
"""

from __future__ import annotations

from collections.abc import Callable

from gitexp.errors import ConcurrentUpdate, CorruptRecord, GitexpError, InvalidName
from gitexp.names import check_experiment, is_run_id
from gitexp.services.session import Session
from gitexp.services.sync.removed import forget_removed, removed_runs
from gitexp.services.sync.seen import changes_between, mark_seen, read_seen
from gitexp.slots import Slots
from gitexp.store.history import Relation, relate
from gitexp.store.record import RECORD_DIR
from gitexp.store.repo import REMOTES_PREFIX, RUNS_PREFIX, GitDB
from gitexp.store.transport import update_refs

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

    from gitexp.services.sync.merge import Conflict

TRACKING_ROOT = REMOTES_PREFIX


class Integration(Slots):
    """What integrating a remote's runs did, run id lists per outcome."""

    __slots__ = ("created", "fast_forwarded", "merged", "ahead", "unchanged", "skipped_removed", "skipped_running",
                 "conflicts", "errors")

    def __init__(self) -> None:
        self.created: list[str] = []
        self.fast_forwarded: list[str] = []
        self.merged: list[str] = []
        self.ahead: list[str] = []  # local has more: push it
        self.unchanged: list[str] = []
        self.skipped_removed: list[str] = []
        self.skipped_running: list[str] = []
        self.conflicts: dict[str, list[Conflict]] = {}
        self.errors: dict[str, str] = {}  # run id or ref → reason

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.fast_forwarded) + len(self.merged)


def split_tracking(ref: str) -> tuple[str, str, str] | None:
    """(remote, experiment, run id) of a tracking ref, or None when its name is not valid."""
    rest = ref[len(TRACKING_ROOT):]
    parts = rest.split("/")
    if len(parts) != 4 or parts[1] != "runs" or not is_run_id(parts[3]):
        return None
    try:
        check_experiment(parts[2])
    except InvalidName:
        return None
    return parts[0], parts[2], parts[3]


def integrate(s: Session, remote: str, experiment: str | None = None, restore: bool = False,
              prefer: str | None = None, only: set[str] | None = None) -> Integration:
    """Bring every fetched run of `remote` (or one experiment's) into `refs/gitexp/runs/`."""
    db = s.db
    prefix = f"{TRACKING_ROOT}{remote}/runs/" + (f"{experiment}/" if experiment else "")
    result = Integration()
    removed = removed_runs(db)
    pending: list[tuple[str, str, str | None]] = []  # creations and fast-forwards, written at once
    ours = local_tips(db, RUNS_PREFIX + (f"{experiment}/" if experiment else ""), only)
    for ref, theirs in sorted(db.refs_under(prefix).items()):
        if only is not None and ref not in only:
            continue
        parsed = split_tracking(ref)
        if parsed is None:
            result.errors[ref] = "not a valid run ref name; ignored"
            continue
        _remote, exp, run_id = parsed
        if run_id in removed and not restore:
            result.skipped_removed.append(run_id)
            continue
        try:
            local_ref = f"{RUNS_PREFIX}{exp}/{run_id}"
            _one(db, local_ref, ours(local_ref), theirs, run_id, remote, prefer, result, pending)
        except ConcurrentUpdate:
            result.errors[run_id] = "changed here while pulling; run the pull again"
        if restore and run_id in removed:
            forget_removed(db, run_id)
    apply_pending(db, pending, remote, result)
    return result


def apply_pending(db: GitDB, pending: list[tuple[str, str, str | None]], remote: str, result: Any) -> None:
    """Creations and fast-forwards (ref, new, old): one transaction; if any ref moved meanwhile, ref
    by ref, and those are taken out of `result`'s created/fast_forwarded lists (its keys: the last
    part of the ref, a run id or an experiment slug) into its errors."""
    if update_refs(db, pending, f"pull {remote}"):
        return
    for ref, new, old in pending:
        try:
            db.set_ref(ref, old, new, f"pull {remote}")
        except ConcurrentUpdate:
            key = ref.rsplit("/", 1)[-1]
            for done in (result.created, result.fast_forwarded):
                if key in done:
                    done.remove(key)
            result.errors[key] = "changed here while pulling; run the pull again"


def local_tips(db: GitDB, prefix: str, only: set[str] | None) -> Callable[[str], str | None]:
    """How to read the local tips under `prefix` that an integration may move: all in one listing for
    a pull (a ref each would open dulwich), ref by ref for the few tracking refs in `only`."""
    return db.read_ref if only is not None else db.refs_under(prefix).get


def _one(db: GitDB, local_ref: str, ours: str | None, theirs: str, run_id: str, remote: str, prefer: str | None,
         result: Integration, pending: list[tuple[str, str, str | None]]) -> None:
    diverged = settle_tip(db, local_ref, ours, theirs, run_id, result, pending)
    if diverged is not None:
        _merge(db, local_ref, diverged[0], theirs, diverged[1], run_id, remote, prefer, result)


def settle_tip(db: GitDB, ref: str, ours: str | None, theirs: str, name: str, result: Any,
               pending: list[tuple[str, str, str | None]], marker: str = RECORD_DIR) -> tuple[str, str | None] | None:
    """Settle a fetched tip against the local `ref` (at `ours`, None: absent) unless they diverged:
    created or fast-forwarded (queued in `pending`, the update checks `ours` is still the tip),
    unchanged or ahead, noted under `name` in `result`'s lists of those names. Diverged tips return
    (ours, merge base) for the caller's own merge."""
    if ours is None:
        pending.append((ref, theirs, None))
        result.created.append(name)
        return None
    relation, base = relate(db, ours, theirs, marker)
    if relation is Relation.SAME:
        result.unchanged.append(name)
    elif relation is Relation.AHEAD:
        result.ahead.append(name)
    elif relation is Relation.BEHIND:
        pending.append((ref, theirs, ours))
        result.fast_forwarded.append(name)
    else:
        return ours, base
    return None


def _merge(db: GitDB, local_ref: str, ours: str, theirs: str, base: str | None, run_id: str, remote: str,
           prefer: str | None, result: Integration) -> None:
    from gitexp.services.sync.merge import load_three, merge_records, write_merge  # a divergence: rare

    try:
        b, o, t = load_three(db, ours, theirs, base)
    except (CorruptRecord, GitexpError, KeyError, ValueError) as exc:
        result.errors[run_id] = f"cannot merge: {getattr(exc, 'message', exc)}"
        return
    if o.info.status == "RUNNING":
        result.skipped_running.append(run_id)
        return
    record, conflicts = merge_records(b, o, t, prefer)
    if conflicts:
        result.conflicts[run_id] = conflicts
        return
    merged = write_merge(db, ours, theirs, record, remote)
    db.set_ref(local_ref, ours, merged, f"pull {remote}: merge")
    result.merged.append(run_id)


# -- what plain `git fetch` brought ------------------------------------------------------
def auto_integrate(s: Session) -> Integration | None:
    """Integrate tracking refs that changed since gitexp last looked (a plain `git fetch`).

    Costs one read of a usually absent folder when nothing was fetched. Conflicts
    are left for `gitexp pull` to report.
    """
    db = s.db
    current = db.refs_under(TRACKING_ROOT)
    if not current:
        return None
    seen = read_seen(db)
    changed = {r for r, sha in current.items() if seen.get(r) != sha}
    if not changed:
        return None
    from gitexp.services.sync.expsync import integrate_experiments  # it builds on this module

    total = Integration()
    for remote in sorted({r[len(TRACKING_ROOT):].split("/", 1)[0] for r in changed}):
        integrate_experiments(s, remote, only=changed)  # records first: the runs' experiments have names
        part = integrate(s, remote, only=changed)
        for name in ("created", "fast_forwarded", "merged"):
            getattr(total, name).extend(getattr(part, name))
        total.conflicts.update(part.conflicts)
    mark_seen(db, changes_between(seen, current))
    return total
