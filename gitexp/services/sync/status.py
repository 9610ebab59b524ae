"""Which local runs a remote lacks or has older, as of the last fetch or push (no network)."""

from __future__ import annotations

from gitexp.services.catalog.listing import run_refs
from gitexp.services.session import Session
from gitexp.store.history import Relation, relate
from gitexp.store.repo import RUNS_PREFIX
from gitexp.store.transport import default_remote_name


def unpushed_ids(s: Session, remote: str | None = None) -> set[str]:
    """Ids of local runs whose tip the remote-tracking refs of `remote` do not contain."""
    name = remote or default_remote_name(s.db)
    tracking = s.db.refs_under(f"refs/gitexp/remotes/{name}/runs/")
    out = set()
    for ref, tip in run_refs(s).items():
        theirs = tracking.get(f"refs/gitexp/remotes/{name}/runs/" + ref[len(RUNS_PREFIX):])
        if theirs is None or (theirs != tip and relate(s.db, tip, theirs)[0] is not Relation.BEHIND):
            out.add(ref.rsplit("/", 1)[-1])
    return out
