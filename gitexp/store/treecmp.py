"""Tree comparisons that stop at equal subtrees: whether a run's snapshot holds the staged code.

Comparing two trees of 10,000 files costs only the folders that differ: a subtree
with the same id on both sides is equal without being read. Objects come from one
`git cat-file --batch` process (store.gitlite): a git hook must not pay for importing dulwich.
"""

from __future__ import annotations

import stat

from gitexp.store.gitlite import ObjectReader

RECORD_DIR = ".gitexp"  # store.record.RECORD_DIR, here without importing YAML (git hooks import this)


def snapshot_holds(db: ObjectReader, snapshot: str, staged: str, base: str | None, skip: str) -> bool:
    """True when the snapshot tree holds the staged tree exactly, plus only untracked paths.

    Every staged path must have the same mode and blob in `snapshot`; a path only in
    `snapshot` must be untracked: neither staged nor in the `base` tree (a file the run
    used as tracked code and the commit deletes does not match). The top-level entry
    `skip` (the run record folder) is ignored on every side.
    """
    return _holds(db, snapshot.encode(), staged.encode(), base.encode() if base else None, skip.encode())


def _holds(db: ObjectReader, snap: bytes, staged: bytes, base: bytes | None, skip: bytes | None) -> bool:
    if snap == staged and skip is None:
        return True
    s_items, i_items, b_items = db.tree_items(snap), db.tree_items(staged), db.tree_items(base)
    if skip is not None:
        for items in (s_items, i_items, b_items):
            items.pop(skip, None)
    for name, (mode, sha) in i_items.items():
        mine = s_items.get(name)
        if mine is None:
            return False
        if mine == (mode, sha):
            continue
        if not (stat.S_ISDIR(mode) and stat.S_ISDIR(mine[0])):
            return False
        b = b_items.get(name)
        if not _holds(db, mine[1], sha, b[1] if b and stat.S_ISDIR(b[0]) else None, None):
            return False
    for name in s_items.keys() - i_items.keys():
        if name in b_items and not _disjoint(db, s_items[name], b_items[name]):
            return False
    return True


def _disjoint(db: ObjectReader, a: tuple[int, bytes], b: tuple[int, bytes]) -> bool:
    """True when two entries of one name share no file path (a folder against a file is disjoint)."""
    if not (stat.S_ISDIR(a[0]) and stat.S_ISDIR(b[0])):
        return stat.S_ISDIR(a[0]) != stat.S_ISDIR(b[0])
    a_items, b_items = db.tree_items(a[1]), db.tree_items(b[1])
    return all(_disjoint(db, a_items[n], b_items[n]) for n in a_items.keys() & b_items.keys())


def commit_tree_and_time(db: ObjectReader, commit: str) -> tuple[str, int]:
    """(tree id, committer time in seconds) of a commit."""
    return db.commit_tree_and_time(commit)
