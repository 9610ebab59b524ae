"""`gitexp fetch` (remote-tracking refs only) and `gitexp pull` (fetch, then integrate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gitexp.errors import GitexpError
from gitexp.services.session import Session
from gitexp.services.sync.common import LargeArtifact, large_artifacts, local_store, pick_remote, remote_store
from gitexp.services.sync.integrate import Integration, integrate, mark_seen
from gitexp.services.sync.tagsync import TagFetch, fetch_tags
from gitexp.store.transport import Remote, fetch_runs

Progress = Callable[[str, int, int], None]


@dataclass
class FetchResult:
    remote: Remote
    refs: dict[str, str]  # the remote's run refs
    new: int  # tracking refs created or moved
    pruned: int
    tags: TagFetch = field(default_factory=TagFetch)  # registry tags brought (create-if-absent)


@dataclass
class PullResult:
    fetch: FetchResult
    integration: Integration
    artifacts: int = 0
    artifact_bytes: int = 0
    artifact_errors: list[str] = field(default_factory=list)


def fetch(s: Session, remote: str | None = None) -> FetchResult:
    """Update `refs/gitexp/remotes/<remote>/runs/…`; local run refs are never touched."""
    target = pick_remote(s, remote)
    before = s.db.refs_under(target.tracking_prefix)
    refs = fetch_runs(s.db, target)
    after = s.db.refs_under(target.tracking_prefix)
    mark_seen(s.db)  # gitexp's own fetch: integrated only by an explicit pull
    moved = sum(1 for r, sha in after.items() if before.get(r) != sha)
    result = FetchResult(target, refs, moved, len(set(before) - set(after)))
    _fetch_families(s, result)
    return result


def _fetch_families(s: Session, result: FetchResult) -> None:
    """The ref families that travel with the runs, brought after them (their commits are then here).

    Today: the registry's tags, created here when absent, never overwritten
    (`tagsync.py`). Another family (say `refs/gitexp/experiments/*`) is
    fetched here too, with a field of its own on FetchResult.
    """
    result.tags = fetch_tags(s, result.remote)


def pull(s: Session, remote: str | None = None, experiment: str | None = None, restore: bool = False,
         prefer: str | None = None, artifacts: bool = False, progress: Progress | None = None) -> PullResult:
    """Fetch, then integrate each run: create, fast-forward, merge, or report a conflict."""
    fetched = fetch(s, remote)
    result = PullResult(fetched, integrate(s, fetched.remote.name, experiment, restore, prefer))
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
