"""`gitexp fetch` (remote-tracking refs only) and `gitexp pull` (fetch, then integrate)."""

from __future__ import annotations

from collections.abc import Callable

from gitexp.errors import GitexpError
from gitexp.services.session import Session
from gitexp.services.sync.common import LargeArtifact, large_artifacts, local_store, pick_remote, remote_store
from gitexp.services.sync.expsync import ExperimentPull, integrate_experiments
from gitexp.services.sync.integrate import Integration, integrate
from gitexp.services.sync.seen import changes_between, mark_seen
from gitexp.services.sync.tagsync import TagFetch, fetch_tags
from gitexp.slots import Slots
from gitexp.store.repo import RUNS_PREFIX
from gitexp.store.transport import SHARED, TAGS, Remote, fetch_shared

Progress = Callable[[str, int, int], None]


class FetchResult(Slots):
    """What a fetch brought: the remote's run refs (`refs`), how many tracking refs of runs were created or
    moved (`new`) or went (`pruned`), the registry tags created here, the remote's experiment records and
    how many of their tracking refs moved."""

    __slots__ = ("remote", "refs", "new", "pruned", "tags", "experiments", "experiments_new")

    def __init__(self, remote: Remote, refs: dict[str, str], new: int, pruned: int) -> None:
        self.remote, self.refs, self.new, self.pruned = remote, refs, new, pruned
        self.tags = TagFetch()
        self.experiments: dict[str, str] = {}
        self.experiments_new = 0


class PullResult(Slots):
    """A fetch, what integrating its runs and experiment records did, and the artifacts downloaded."""

    __slots__ = ("fetch", "integration", "experiments", "artifacts", "artifact_bytes", "artifact_errors")

    def __init__(self, fetch: FetchResult, integration: Integration, experiments: ExperimentPull) -> None:
        self.fetch, self.integration, self.experiments = fetch, integration, experiments
        self.artifacts = 0
        self.artifact_bytes = 0
        self.artifact_errors: list[str] = []


def fetch(s: Session, remote: str | None = None) -> FetchResult:
    """Update `refs/gitexp/remotes/<remote>/…` (runs, experiment records); local refs are never touched."""
    target = pick_remote(s, remote)
    fetched = fetch_shared(s.db, target)
    before, after = fetched.before, fetched.tracking
    if fetched.moved:  # gitexp's own fetch: integrated only by an explicit pull
        mark_seen(s.db, changes_between(before, after))
    moved = {r for r, sha in after.items() if before.get(r) != sha}
    prefix = target.tracking_prefix
    result = FetchResult(target, fetched.under(RUNS_PREFIX), sum(1 for r in moved if r.startswith(prefix)),
                         sum(1 for r in set(before) - set(after) if r.startswith(prefix)))
    _fetch_families(s, result, fetched.under(SHARED[1]), len(moved) - result.new, fetched.under(TAGS))
    return result


def _fetch_families(s: Session, result: FetchResult, records: dict[str, str], records_moved: int,
                    tags: dict[str, str]) -> None:
    """The ref families that travel with the runs, brought after them (their commits are then here).

    The registry's tags, created here when absent, never overwritten
    (`tagsync.py`); the experiment records came with the runs into their
    tracking refs (`transport.fetch_shared`), and pull integrates them (`expsync.py`).
    """
    result.experiments, result.experiments_new = records, records_moved
    result.tags = fetch_tags(s, result.remote, tags)


def pull(s: Session, remote: str | None = None, experiment: str | None = None, restore: bool = False,
         prefer: str | None = None, artifacts: bool = False, progress: Progress | None = None) -> PullResult:
    """Fetch, then integrate each run: create, fast-forward, merge, or report a conflict."""
    fetched = fetch(s, remote)
    name = fetched.remote.name
    records = integrate_experiments(s, name, experiment, prefer)  # first: the runs' experiments then have names
    result = PullResult(fetched, integrate(s, name, experiment, restore, prefer), records)
    if artifacts:
        _download_artifacts(s, result, experiment, progress)
    return result


def _download_artifacts(s: Session, result: PullResult, experiment: str | None, progress: Progress | None) -> None:
    """Copy into the local store the large artifacts of the remote's runs that it lacks."""
    db, local = s.db, local_store(s)
    prefix = f"refs/gitexp/runs/{experiment}/" if experiment else "refs/gitexp/runs/"
    wanted: dict[str, LargeArtifact] = {}
    for ref, sha in db.refs_under(prefix).items():
        run_id = ref.rsplit("/", 1)[-1]
        try:
            for art in large_artifacts(s, run_id, sha):
                if not local.has(art.sha256):
                    wanted.setdefault(art.sha256, art)
        except GitexpError as exc:
            result.artifact_errors.append(f"{run_id}: {exc.message}")
    if not wanted:
        return
    store = remote_store(s, result.fetch.remote.name)
    assert store is not None
    for n, art in enumerate(wanted.values(), 1):
        try:
            store.download(art.sha256, local.path_of(art.sha256))
            result.artifacts += 1
            result.artifact_bytes += art.size
        except GitexpError as exc:
            result.artifact_errors.append(f"{art.run_id} {art.path}: {exc.message}")
        if progress:
            progress("downloading artifacts", n, len(wanted))
