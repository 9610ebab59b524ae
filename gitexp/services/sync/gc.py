"""`gitexp gc`: remove local side-store objects that nothing reaches, after a grace period.

Roots: every ref (runs, remote-tracking runs, registry tags, branches) with its
whole history, plus the artifacts journaled by active runs (their staged files
live in their own folders). Only unreachable objects older than the grace
period (two weeks, like git's prune expiry) go, so a run that has just stored
an artifact and not yet committed it never loses its bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gitexp.errors import GitexpError
from gitexp.services.session import Session
from gitexp.services.sync.common import local_store
from gitexp.store.history import reachable_record_files
from gitexp.store.record import parse_artifacts

GRACE_SECONDS = 14 * 24 * 3600


@dataclass
class GcResult:
    removed: list[str] = field(default_factory=list)
    kept_young: int = 0
    reachable: int = 0
    freed: int = 0


def reachable_hashes(s: Session) -> set[str]:
    """sha256 of every artifact any ref's history or any active run lists."""
    hashes: set[str] = set()
    for data in reachable_record_files(s.db, "artifacts.yaml"):
        try:
            hashes.update(str(a.get("sha256", "")) for a in parse_artifacts(data))
        except GitexpError:
            continue
    hashes.update(_active_hashes(s))
    return hashes


def _active_hashes(s: Session) -> set[str]:
    from gitexp.store.journal import read_journals

    out: set[str] = set()
    active = s.db.local_dir / "active"
    if not active.is_dir():
        return out
    for folder in active.iterdir():
        try:
            out.update(a.sha256 for a in read_journals(folder).artifacts)
        except Exception:  # a damaged journal must not make gc delete anything: keep all
            raise GitexpError(f"cannot read the journal of active run {folder.name}; gc stopped, nothing removed",
                              hint="end or recover that run first (gitexp ls), then run gc again") from None
    return out


def collect(s: Session, dry_run: bool = False, grace: float = GRACE_SECONDS, now: float | None = None) -> GcResult:
    """Remove (or with `dry_run` list) unreachable side-store objects older than `grace` seconds."""
    s.recover()
    keep = reachable_hashes(s)
    root = local_store(s).root
    result = GcResult(reachable=len(keep))
    if not root.is_dir():
        return result
    limit = (time.time() if now is None else now) - grace
    for sub in sorted(root.iterdir()):
        if not sub.is_dir() or len(sub.name) != 2:
            continue
        for path in sorted(sub.iterdir()):
            sha = sub.name + path.name
            if len(sha) != 64 or sha in keep:
                continue
            stat = path.stat()
            if stat.st_mtime > limit:
                result.kept_young += 1
                continue
            result.removed.append(sha)
            result.freed += stat.st_size
            if not dry_run:
                path.unlink()
    return result
