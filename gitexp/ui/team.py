"""The team server's refresh: `gitexp ui --remote origin --refresh 60` runs this every period.

One refresh is a `gitexp pull REMOTE` without artifacts: the remote's runs are
fetched and integrated (new runs created, runs that only gained commits there
fast-forwarded; local runs are never overwritten) and its registry tags are
brought (create-if-absent), so the runs table and the registry page show
everyone's work. The server itself stays read-only: no page can write.
"""

from __future__ import annotations

from gitexp.services.session import Session
from gitexp.services.sync.pull import PullResult, pull


def check_remote(s: Session, remote: str) -> str:
    """The remote's name, or a clear error when the repository has no such remote."""
    from gitexp.services.sync.common import pick_remote

    return pick_remote(s, remote).name


def refresh(s: Session, remote: str) -> tuple[PullResult, list[str]]:
    """Fetch and integrate `remote` once; the problems worth a line on stderr."""
    result = pull(s, remote)
    integ = result.integration
    problems = [f"conflict: run {run_id}: {c.describe()}" for run_id, cs in integ.conflicts.items() for c in cs]
    problems += [f"error: {what}: {why}" for what, why in integ.errors.items()]
    problems += [f"conflict: registry tag {name}: {why}" for name, why in result.fetch.tags.conflicts.items()]
    return result, problems
