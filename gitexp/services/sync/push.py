"""`gitexp push`: send the runs a remote lacks or has older, and their large artifacts first.

Order matters for consistency: artifacts go to the remote store before the run
refs that reference them, so a run visible on the remote always has its bytes;
a push killed half-way leaves at most unreferenced objects, and running it again
completes it. Refs are never forced: each update is a fast-forward of the
remote value just fetched, and the remote itself refuses it if that moved.
"""

from __future__ import annotations

from collections.abc import Callable

from gitexp.errors import GitexpError
from gitexp.services.session import Session
from gitexp.services.sync.common import LargeArtifact, large_artifacts, local_store, pick_remote, remote_store, \
    store_location
from gitexp.services.sync.expsync import ExperimentPush, plan_experiment_push
from gitexp.services.sync.localruns import LocalRun, read_heads
from gitexp.services.sync.removed import removed_runs
from gitexp.services.sync.seen import changes_between, mark_seen
from gitexp.services.sync.tagsync import TagPush, plan_tag_push
from gitexp.slots import Slots, Value
from gitexp.store.history import Relation, relate
from gitexp.store.record import RECORD_DIR
from gitexp.store.repo import RUNS_PREFIX
from gitexp.store.secrets import secret_pattern
from gitexp.store.transport import TAGS, PushOutcome, RefUpdate, Remote, fetch_shared, push_refs

Progress = Callable[[str, int, int], None]
SENDABLE = ("FINISHED", "FAILED", "KILLED")


class PushOptions(Value):
    """What to push: runs (references), one experiment, or every run; and how."""

    remote: str | None = None
    runs: tuple[str, ...] = ()
    experiment: str | None = None
    include_running: bool = False
    dry_run: bool = False
    artifacts: bool = True
    prune: bool = False
    secret_patterns: tuple[str, ...] = ()  # more name patterns of credentials, beside `.gitexp.yaml`'s


class Outgoing(Slots):
    """One run to send: its ref, local tip and the remote value it replaces (None: new)."""

    __slots__ = ("run_id", "name", "ref", "tip", "expect", "source")

    def __init__(self, run_id: str, name: str, ref: str, tip: str, expect: str | None,
                 source: LocalRun | None = None) -> None:
        self.run_id, self.name, self.ref, self.tip, self.expect = run_id, name, ref, tip, expect
        self.source = source  # what was read of it


class PushPlan(Slots):
    """What a push would do; `dry_run` stops here."""

    __slots__ = ("remote", "send", "up_to_date", "behind", "rejected", "running", "artifacts", "secrets",
                 "deletes", "shared", "tags", "experiments", "tracking")

    def __init__(self, remote: Remote, tracking: dict[str, str] | None = None) -> None:
        self.remote = remote
        self.send: list[Outgoing] = []
        self.up_to_date = 0
        self.behind: list[str] = []  # the remote has newer: pull
        self.rejected: dict[str, str] = {}  # run label → why
        self.running: list[str] = []
        self.artifacts: list[LargeArtifact] = []  # to upload
        self.secrets: list[tuple[str, str, str]] = []  # run label, path, pattern
        self.deletes: list[RefUpdate] = []
        self.shared: set[str] = set()  # ids of the runs the remote has or gets: their tags go
        self.tags = TagPush()  # registry tags to send with the runs
        self.experiments = ExperimentPush()  # experiment records to send
        self.tracking: dict[str, str] = {} if tracking is None else tracking  # the remote's, as the fetch left them


class PushResult(Slots):
    """What a push sent: run ids, deleted refs, artifacts, registry tags, experiment slugs."""

    __slots__ = ("plan", "sent", "deleted", "artifact_bytes", "artifacts_sent", "tags_sent", "experiments_sent")

    def __init__(self, plan: PushPlan) -> None:
        self.plan = plan
        self.sent: list[str] = []
        self.deleted: list[str] = []
        self.artifact_bytes = 0
        self.artifacts_sent = 0
        self.tags_sent: list[str] = []
        self.experiments_sent: list[str] = []  # slugs


def plan_push(s: Session, opts: PushOptions) -> PushPlan:
    """Fetch the remote's run refs, then decide run by run; nothing is sent yet."""
    remote = pick_remote(s, opts.remote)
    fetched = fetch_shared(s.db, remote)
    if fetched.moved:  # gitexp's own fetch: what it brought is integrated by pull only
        mark_seen(s.db, changes_between(fetched.before, fetched.tracking))
    advertised = fetched.advertised
    plan = PushPlan(remote, tracking=fetched.tracking)
    selected = _selected(s, opts)
    read_heads(s.db, [r for r in selected if advertised.get(r.ref) != r.commit])  # the ones that may go
    for run in selected:
        _decide(s, plan, run, advertised.get(run.ref or ""), opts)
    slugs = {r.ref.split("/")[3] for r in selected} if opts.runs else {opts.experiment} if opts.experiment else None
    _plan_families(s, plan, advertised, slugs)
    if (plan.send or plan.tags.send) and opts.artifacts:
        _plan_artifacts(s, plan)
    plan.secrets = _secrets(s, plan.send, opts.secret_patterns)
    if opts.prune:
        _plan_prune(s, plan, advertised)
    return plan


def _plan_families(s: Session, plan: PushPlan, advertised: dict[str, str], slugs: set[str] | None) -> None:
    """The ref families that travel with the runs, planned once the runs are decided.

    The registry's tags of the runs shared (`tagsync.py`) and the experiment
    records of `slugs` (None: all; `expsync.py`). Their updates join
    `pending_updates`, so one push sends them all, never forced.
    """
    plan.tags = plan_tag_push(s, plan.remote, plan.shared,
                              {ref: sha for ref, sha in advertised.items() if ref.startswith(TAGS)})
    for name, why in plan.tags.conflicts.items():
        plan.rejected[f"tag {name}"] = why
    plan.experiments = plan_experiment_push(s, plan.remote, advertised, slugs)
    for slug, why in plan.experiments.rejected.items():
        plan.rejected[f"experiment {slug}"] = why


def pending_updates(plan: PushPlan) -> list[RefUpdate]:
    """Every ref update a push makes: experiment records and runs, the tags that travel with them, deletes."""
    return plan.experiments.send + [RefUpdate(o.ref, o.tip, o.expect) for o in plan.send] + plan.tags.send \
        + plan.deletes


def _selected(s: Session, opts: PushOptions) -> list[LocalRun]:
    s.recover()
    refs = s.cache.refs(RUNS_PREFIX + (f"{opts.experiment}/" if opts.experiment else ""))
    if opts.runs:
        from gitexp.services.catalog.listing import resolve

        chosen = {}
        for text in opts.runs:
            ref, _commit = resolve(s, text)
            if ref is None:
                raise GitexpError(f"{text!r} is not a run with a ref here; nothing to push")
            chosen[ref] = s.db.read_ref(ref) or _commit
        refs = chosen
    return [LocalRun(ref, tip, s.db) for ref, tip in refs.items()]


def _decide(s: Session, plan: PushPlan, run: LocalRun, theirs: str | None, opts: PushOptions) -> None:
    ref = run.ref
    if theirs == run.commit:
        plan.up_to_date += 1
        plan.shared.add(run.id)
        return
    label = f"{run.name} ({run.id})"
    if run.status not in SENDABLE and not opts.include_running:
        plan.running.append(label)
        return
    if theirs is not None:
        relation, _base = relate(s.db, run.commit, theirs)
        if relation is Relation.BEHIND:
            plan.behind.append(label)
            plan.shared.add(run.id)  # the remote has this commit and more
            return
        if relation is Relation.DIVERGED:
            plan.rejected[label] = (f"edited here and on {plan.remote.name} (diverged); "
                                    f"merge first: gitexp pull {plan.remote.name}")
            return
    plan.send.append(Outgoing(run.id, run.name, ref, run.commit, theirs, run))
    plan.shared.add(run.id)


def _plan_artifacts(s: Session, plan: PushPlan) -> None:
    """Large artifacts the remote store lacks; fail before sending anything if they cannot go."""
    found: dict[str, LargeArtifact] = {}
    sources = {(out.run_id, out.tip): out.source for out in plan.send}
    commits = [(out.run_id, out.tip) for out in plan.send] + plan.tags.targets  # a tag's commit may be older
    for run_id, commit in dict.fromkeys(commits):
        source = sources.get((run_id, commit))
        if source is not None and source.lists_no_artifacts:
            continue
        for art in large_artifacts(s, run_id, commit, source.reader if source else None):
            found.setdefault(art.sha256, art)
    if not found:
        return
    name = plan.remote.name
    if store_location(s, name) is None:
        listed = ", ".join(f"{a.path} of run {a.run_id} ({a.size:,} bytes)" for a in list(found.values())[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise GitexpError(f"remote {name} has no artifact store for the large artifacts {listed}{more}; "
                          "nothing was sent",
                          hint=f"gitexp store set {name} LOCATION (a shared path or s3://bucket/prefix), "
                               "or push the records only: gitexp push --no-artifacts")
    store = remote_store(s, name)
    assert store is not None
    local = local_store(s)
    missing = []
    for art in found.values():
        if store.has(art.sha256):
            continue
        if not local.has(art.sha256):
            missing.append(art)
            continue
        plan.artifacts.append(art)
    if missing:
        first = missing[0]
        raise GitexpError(f"artifact {first.path} of run {first.run_id} is neither here nor in the store of {name} "
                          f"({len(missing)} such); nothing was sent",
                          hint=f"fetch it first (gitexp pull {name} --artifacts), or push without: --no-artifacts")


def _secrets(s: Session, send: list[Outgoing], extra: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Files in the code snapshots to send whose names look like credentials (each listed once)."""
    if not send:
        return []  # settings unread: a push with nothing to send reads no .gitexp.yaml
    extra = (*extra, *s.settings.snapshot.secrets)
    seen_trees: dict[str, list[tuple[str, str]]] = {}
    found: dict[str, tuple[str, str, str]] = {}
    for out in send:
        source = out.source or LocalRun(out.ref, out.tip, s.db)
        hits: list[tuple[str, str]] = []
        for name, (mode, sha) in source.items().items():  # the code, not the record: memoised per entry
            if name == RECORD_DIR:
                continue
            key = sha + name
            if key not in seen_trees:
                paths = s.db.list_tree(sha, name + "/") if mode == 0o040000 else {name: None}
                seen_trees[key] = [(p, pat) for p in paths if (pat := secret_pattern(p, extra))]
            hits += seen_trees[key]
        for path, pattern in hits:
            found.setdefault(path, (f"{out.name} ({out.run_id})", path, pattern))
    return list(found.values())


def _plan_prune(s: Session, plan: PushPlan, advertised: dict[str, str]) -> None:
    """Delete on the remote the runs removed here, only if nobody changed them there since."""
    for run_id, (ref, sha) in sorted(removed_runs(s.db).items()):
        theirs = advertised.get(ref)
        if theirs is None:
            continue
        relation, _ = relate(s.db, sha, theirs)
        if relation in (Relation.SAME, Relation.AHEAD):
            plan.deletes.append(RefUpdate(ref, None, theirs))
        else:
            plan.rejected[run_id] = f"removed here but changed on {plan.remote.name} since; not deleted there"


def execute_push(s: Session, plan: PushPlan, progress: Progress | None = None) -> PushResult:
    """Upload the planned artifacts, then the refs; report what the remote refused."""
    result = PushResult(plan)
    if plan.artifacts:
        store = remote_store(s, plan.remote.name)
        assert store is not None
        local = local_store(s)
        for n, art in enumerate(plan.artifacts, 1):
            result.artifact_bytes += store.upload(local.path_of(art.sha256), art.sha256)
            result.artifacts_sent += 1
            if progress:
                progress("uploading artifacts", n, len(plan.artifacts))
    updates = pending_updates(plan)
    if progress and updates:
        progress("pushing runs", 0, len(updates))
    outcome = push_refs(s.db, plan.remote, updates, plan.tracking)
    _record(s, plan, outcome, result)
    if progress and updates:
        progress("pushing runs", len(updates), len(updates))
    return result


def _record(s: Session, plan: PushPlan, outcome: PushOutcome, result: PushResult) -> None:
    """Report per run, record and tag (the transport moved the tracking refs, as git does after a push)."""
    applied = set(outcome.applied)
    for out in plan.send:
        if out.ref in applied:
            result.sent.append(out.run_id)
        else:
            plan.rejected[f"{out.name} ({out.run_id})"] = outcome.rejected.get(out.ref, "rejected")
    for upd in plan.experiments.send:
        slug = upd.ref.rsplit("/", 1)[-1]
        if upd.ref in applied:
            result.experiments_sent.append(slug)
        else:
            plan.rejected[f"experiment {slug}"] = outcome.rejected.get(upd.ref, "rejected")
    for upd in plan.tags.send:
        name = upd.ref[len("refs/tags/"):]
        if upd.ref in applied:
            result.tags_sent.append(name)
        else:
            plan.rejected[f"tag {name}"] = outcome.rejected.get(upd.ref, "rejected")
    for upd in plan.deletes:
        if upd.ref in applied:
            result.deleted.append(upd.ref.rsplit("/", 1)[-1])
        else:
            plan.rejected[upd.ref.rsplit("/", 1)[-1]] = outcome.rejected.get(upd.ref, "rejected")
    mark_seen(s.db, changes_between(plan.tracking, outcome.tracking))
