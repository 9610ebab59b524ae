"""How two tips of one run relate: equal, one ahead of the other, or diverged (with a merge base).

A run's history is short (its commits and later edits), but its first-parent
chain ends at the baseline, which leads into the whole project history: walks
stop at the first commit that is not a run commit (no `.gitexp/` in its tree).
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from dulwich.objects import Commit, Tree

from gitexp.store.ids import to_oid
from gitexp.store.record import RECORD_DIR
from gitexp.store.repo import GitDB

MAX_WALK = 20_000  # commits of one run's history; beyond it the history is treated as unrelated


class Relation(Enum):
    SAME = "same"
    AHEAD = "ahead"  # local has everything the other side has, and more
    BEHIND = "behind"  # the other side is a fast-forward of local
    DIVERGED = "diverged"


def run_history(db: GitDB, tip: str) -> list[str]:
    """The run commits reachable from `tip`, breadth first (tip first)."""
    seen: dict[str, None] = {}
    queue = deque([tip])
    store = db.repo.object_store
    while queue and len(seen) < MAX_WALK:
        sha = queue.popleft()
        if sha in seen:
            continue
        try:
            commit = store[to_oid(sha)]
        except KeyError:
            continue  # not here (a shallow or partial history): stop on this path
        if not isinstance(commit, Commit):
            continue
        tree = store[commit.tree]
        if not isinstance(tree, Tree) or RECORD_DIR.encode() not in tree:
            continue
        seen[sha] = None
        queue.extend(p.decode() for p in commit.parents)
    return list(seen)


def relate(db: GitDB, local: str, other: str) -> tuple[Relation, str | None]:
    """(relation of `local` to `other`, their merge base when diverged or None)."""
    if local == other:
        return Relation.SAME, local
    if not db.has_object(other):
        return Relation.DIVERGED, None
    mine = run_history(db, local)
    if other in set(mine):
        return Relation.AHEAD, other
    theirs = run_history(db, other)
    if local in set(theirs):
        return Relation.BEHIND, local
    mine_set = set(mine)
    base = next((c for c in theirs if c in mine_set), None)
    return Relation.DIVERGED, base
