"""How two tips of one run relate: equal, one ahead of the other, or diverged (with a merge base).

A run's history is short (its commits and later edits), but its first-parent
chain ends at the baseline, which leads into the whole project history: walks
stop at the first commit that is not a run commit (no `.gitexp/` in its tree).
An experiment record's history is walked the same way, its commits marked by
`experiment.yaml` (`marker`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from enum import Enum

from gitexp.store.ids import to_oid
from gitexp.store.record import RECORD_DIR
from gitexp.store.repo import GitDB

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:  # dulwich is loaded by the first walk (a push or pull that only creates refs has none)
    from dulwich.object_store import BaseObjectStore
    from dulwich.objects import ObjectID

MAX_WALK = 20_000  # commits of one run's history; beyond it the history is treated as unrelated


class Relation(Enum):
    SAME = "same"
    AHEAD = "ahead"  # local has everything the other side has, and more
    BEHIND = "behind"  # the other side is a fast-forward of local
    DIVERGED = "diverged"


def run_history(db: GitDB, tip: str, marker: str = RECORD_DIR) -> list[str]:
    """The run commits (trees holding `marker`) reachable from `tip`, breadth first (tip first)."""
    from dulwich.objects import Commit, Tree

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
        if not isinstance(tree, Tree) or marker.encode() not in tree:
            continue
        seen[sha] = None
        queue.extend(p.decode() for p in commit.parents)
    return list(seen)


def relate(db: GitDB, local: str, other: str, marker: str = RECORD_DIR) -> tuple[Relation, str | None]:
    """(relation of `local` to `other`, their merge base when diverged or None)."""
    if local == other:
        return Relation.SAME, local
    if not db.has_object(other):
        return Relation.DIVERGED, None
    mine = run_history(db, local, marker)
    if other in set(mine):
        return Relation.AHEAD, other
    theirs = run_history(db, other, marker)
    if local in set(theirs):
        return Relation.BEHIND, local
    mine_set = set(mine)
    base = next((c for c in theirs if c in mine_set), None)
    return Relation.DIVERGED, base


def reachable_record_files(db: GitDB, name: str) -> Iterator[bytes]:
    """The bytes of `.gitexp/<name>` in every commit any ref's history reaches, each distinct file once.

    Every ref is a root (runs, remote-tracking runs, tags, branches); annotated tags
    are peeled; commits without the file, and objects absent here, are passed by.
    """
    from dulwich.objects import Blob, Commit, Tag

    store = db.repo.object_store
    seen_commits: set[ObjectID] = set()
    seen_files: set[ObjectID] = set()
    queue = deque(to_oid(sha) for sha in db.refs_under("refs/").values())
    while queue:
        sha = queue.popleft()
        if sha in seen_commits:
            continue
        seen_commits.add(sha)
        try:
            obj = store[sha]
        except KeyError:
            continue
        if isinstance(obj, Tag):
            queue.append(obj.object[1])
            continue
        if not isinstance(obj, Commit):
            continue
        queue.extend(obj.parents)
        blob_id = _record_file(store, obj.tree, name.encode())
        if blob_id is None or blob_id in seen_files:
            continue
        seen_files.add(blob_id)
        blob = store[blob_id]
        if isinstance(blob, Blob):
            yield blob.data


def _record_file(store: BaseObjectStore, tree_id: ObjectID, name: bytes) -> ObjectID | None:
    from dulwich.objects import Tree

    tree = store[tree_id]
    if not isinstance(tree, Tree) or RECORD_DIR.encode() not in tree:
        return None
    record = store[tree[RECORD_DIR.encode()][1]]
    if not isinstance(record, Tree) or name not in record:
        return None
    return record[name][1]
