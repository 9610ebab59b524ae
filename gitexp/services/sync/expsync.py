"""Experiment records (`refs/gitexp/experiments/<slug>`) travelling with the runs.

- Push: a record goes when the remote lacks it or has an older one (a
  fast-forward, never forced); a record edited on both sides is rejected and
  named, as a run is: `gitexp pull` merges it first.
- Fetch brings the remote's records into `refs/gitexp/remotes/<remote>/experiments/`
  with the runs (one round trip, `transport.fetch_shared`); pull integrates them:
  create, fast-forward, or merge.
- Merge rule (two clones edited, or both created, the same slug): a commit with
  both tips as parents, so both histories stay in `git log` of the ref. Name,
  description, lifecycle stage and each tag are merged against the common base
  (two independent creations: against a fresh record); a side that changed a
  field wins; both changed it differently is a conflict, settled by `--prefer`
  or reported with the local record kept. The creation time is the earlier one.
- Two experiments with the same display name under different slugs (so
  different ids: both clones made "Churn" while the slug `churn` meant something
  else on one) are both kept, runs and all; lookups by name pick the oldest,
  the other stays reachable by its id or slug, and pull names them.
Records from a remote are untrusted: the slug comes from the ref name (checked);
a record that cannot be read is still brought (it is skipped when listing) but never merged.
"""

from __future__ import annotations

import time

from gitexp.errors import ConcurrentUpdate, GitexpError, InvalidName
from gitexp.names import check_experiment
from gitexp.services.session import Session
from gitexp.services.sync.integrate import TRACKING_ROOT, apply_pending, local_tips, settle_tip
from gitexp.slots import Slots
from gitexp.store.experiments import EXPERIMENTS_PREFIX, FILENAME, ExperimentRecord, experiment_refs, \
    read_experiment, write_experiment
from gitexp.store.history import Relation, relate
from gitexp.store.repo import GitDB
from gitexp.store.transport import RefUpdate, Remote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from gitexp.services.sync.merge import Conflict

_FRESH = {"description": None, "lifecycle_stage": "active"}  # what a newly created record holds


class ExperimentPush(Slots):
    """Experiment records to send (fast-forwards or creations), and the ones that cannot go."""

    __slots__ = ("send", "up_to_date", "behind", "rejected")

    def __init__(self) -> None:
        self.send: list[RefUpdate] = []
        self.up_to_date = 0
        self.behind: list[str] = []  # slugs the remote has newer: pull
        self.rejected: dict[str, str] = {}  # slug → why


class ExperimentPull(Slots):
    """What integrating a remote's experiment records did, slugs per outcome."""

    __slots__ = ("created", "fast_forwarded", "merged", "ahead", "unchanged", "conflicts", "errors", "same_name")

    def __init__(self) -> None:
        self.created: list[str] = []
        self.fast_forwarded: list[str] = []
        self.merged: list[str] = []
        self.ahead: list[str] = []
        self.unchanged: list[str] = []
        self.conflicts: dict[str, list[Conflict]] = {}
        self.errors: dict[str, str] = {}
        self.same_name: dict[str, list[str]] = {}  # display name → slugs (oldest first)

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.fast_forwarded) + len(self.merged)


def slug_of_ref(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def plan_experiment_push(s: Session, remote: Remote, advertised: dict[str, str],
                         slugs: set[str] | None) -> ExperimentPush:
    """The records (of `slugs`, or all) that the remote lacks or has older; diverged ones rejected."""
    plan = ExperimentPush()
    for ref, ours in sorted(experiment_refs(s.db).items()):
        slug = slug_of_ref(ref)
        if slugs is not None and slug not in slugs:
            continue
        theirs = advertised.get(ref)
        relation = Relation.AHEAD if theirs is None else relate(s.db, ours, theirs, FILENAME)[0]
        if relation is Relation.SAME:
            plan.up_to_date += 1
        elif relation is Relation.AHEAD:
            plan.send.append(RefUpdate(ref, ours, theirs))
        elif relation is Relation.BEHIND:
            plan.behind.append(slug)
        else:
            plan.rejected[slug] = (f"edited here and on {remote.name} (diverged); "
                                   f"merge first: gitexp pull {remote.name}")
    return plan


def integrate_experiments(s: Session, remote: str, slug: str | None = None, prefer: str | None = None,
                          only: set[str] | None = None) -> ExperimentPull:
    """Bring the fetched records of `remote` (or one slug's, or the tracking refs in `only`) into local refs."""
    db, result = s.db, ExperimentPull()
    prefix = f"{TRACKING_ROOT}{remote}/experiments/"
    pending: list[tuple[str, str, str | None]] = []
    ours = local_tips(db, EXPERIMENTS_PREFIX, only)
    for tracking, theirs in sorted(experiment_refs(db, prefix).items()):
        name = slug_of_ref(tracking)
        if (slug is not None and name != slug) or (only is not None and tracking not in only):
            continue
        try:
            check_experiment(name)
        except InvalidName:
            result.errors[tracking] = "not a valid experiment ref name; ignored"
            continue
        try:
            _one(db, name, ours(EXPERIMENTS_PREFIX + name), theirs, remote, prefer, result, pending)
        except ConcurrentUpdate:
            result.errors[name] = "changed here while pulling; run the pull again"
    apply_pending(db, pending, remote, result)
    result.same_name = shared_names(db, set(result.created) | set(result.merged) | set(result.fast_forwarded))
    return result


def _one(db: GitDB, slug: str, ours: str | None, theirs: str, remote: str, prefer: str | None, result: ExperimentPull,
         pending: list[tuple[str, str, str | None]]) -> None:
    diverged = settle_tip(db, EXPERIMENTS_PREFIX + slug, ours, theirs, slug, result, pending, FILENAME)
    if diverged is not None:
        ours, base = diverged
        _merge(db, slug, ours, theirs, base, remote, prefer, result)


def _merge(db: GitDB, slug: str, ours: str, theirs: str, base: str | None, remote: str, prefer: str | None,
           result: ExperimentPull) -> None:
    try:
        o = _read(db, slug, ours)
        t = _read(db, slug, theirs)
        b = _read(db, slug, base) if base else None
    except GitexpError as exc:
        result.errors[slug] = f"cannot merge: {exc.message}"
        return
    record, conflicts = merge_experiment_records(b, o, t, prefer)
    if conflicts:
        result.conflicts[slug] = conflicts
        return
    write_experiment(db, record, ours, f"gitexp: merge experiment {slug} from {remote}\n",
                     int(time.time() * 1000), merged=theirs)
    result.merged.append(slug)


def _read(db: GitDB, slug: str, tip: str) -> ExperimentRecord:
    got = read_experiment(db, slug, tip)
    assert got is not None  # a tip was given
    return got[0]


def merge_experiment_records(base: ExperimentRecord | None, ours: ExperimentRecord, theirs: ExperimentRecord,
                             prefer: str | None) -> tuple[ExperimentRecord, list[Conflict]]:
    """The merged record and the conflicts left (none when `prefer` is given); see the module docstring."""
    from gitexp.services.sync.merge import merge3  # pulled records edited on both sides: rare

    conflicts: list[Conflict] = []
    fields = merge3(_fields(base) if base else dict(_FRESH), _fields(ours), _fields(theirs), "experiment field",
                    prefer, conflicts)
    tags = merge3(base.tags if base else {}, ours.tags, theirs.tags, "experiment tag", prefer, conflicts)
    created = min((c for c in (ours.created, theirs.created) if c), default="")
    return ExperimentRecord(ours.slug, fields["name"], fields.get("description"), tags,
                            fields.get("lifecycle_stage") or "active", created), conflicts


def _fields(rec: ExperimentRecord) -> dict[str, str | None]:
    return {"name": rec.name, "description": rec.description, "lifecycle_stage": rec.lifecycle_stage}


def shared_names(db: GitDB, slugs: set[str]) -> dict[str, list[str]]:
    """{display name: slugs, oldest first} for the names of `slugs` that more than one record holds."""
    if not slugs:
        return {}
    records: dict[str, ExperimentRecord] = {}
    for ref, tip in experiment_refs(db).items():
        try:
            records[slug_of_ref(ref)] = _read(db, slug_of_ref(ref), tip)
        except GitexpError:
            continue
    wanted = {records[s].name for s in slugs if s in records}
    out: dict[str, list[str]] = {}
    for rec in sorted(records.values(), key=lambda r: (r.created or "~", r.slug)):
        if rec.name in wanted:
            out.setdefault(rec.name, []).append(rec.slug)
    return {name: found for name, found in out.items() if len(found) > 1}
