"""Claiming run names: atomic, local, and O(1) in the number of runs.

A name is claimed by creating its reservation file (`store/names.py`); the
cache index, when present, also tells of runs that hold a name without a
reservation here (pulled from others, or made before reservations existed).
Neither reads every run: a run start costs the same with 10 or 10,000 runs,
with or without a cache.
"""

from __future__ import annotations

import os

from gitexp.errors import GitexpError, InvalidName
from gitexp.names import _ADJECTIVES, _NOUNS, choose
from gitexp.services.session import Session
from gitexp.store.names import Holder, NameBook
from gitexp.store.runcommit import RecordReader
from gitexp.store.record import RunInfo

RANDOM_TRIES = 20  # random adjective-noun pairs tried before numbering one of them
MAX_NUMBERED = 100_000


def name_book(s: Session) -> NameBook:
    """The clone's reservations, filled once from the runs the cache index knows."""
    book = NameBook(os.path.join(s.db.local_path, "names"))
    if not book.seeded:
        _seed(s, book)
    return book


def claim_name(s: Session, name: str, ref: str) -> None:
    """Reserve an explicit `name` for the run at `ref`; InvalidName if a run holds it."""
    book = name_book(s)
    holder = _cached_holder(s, name, ref)
    if holder is None:
        holder = book.reserve(name, ref, lambda h: _holds(s, h))
    if holder is not None:
        raise _taken(name, holder)


def claim_generated_name(s: Session, ref: str, avoid: set[str] | frozenset[str] = frozenset()) -> str:
    """Reserve a generated name (`brisk-otter`, or `brisk-otter-2`, …) for the run at `ref`."""
    book = name_book(s)
    name = ""
    for _ in range(RANDOM_TRIES):
        name = f"{choose(_ADJECTIVES)}-{choose(_NOUNS)}"
        if name not in avoid and _cached_holder(s, name, ref) is None and book.create(name, ref):
            return name
    base = name
    for n in range(2, MAX_NUMBERED):
        name = f"{base}-{n}"
        if name not in avoid and _cached_holder(s, name, ref) is None and book.create(name, ref):
            return name
    raise GitexpError("no free run name found", hint="give the run a name")


def release_name(s: Session, name: str, ref: str) -> None:
    """Free `name` if the run at `ref` holds it (a failed start, a rename, a removal)."""
    NameBook(os.path.join(s.db.local_path, "names")).release(name, ref)


def _holds(s: Session, holder: Holder) -> bool:
    """Does a reservation's run still exist and carry its name (or is its start in progress)?"""
    if not holder.ref:
        return True  # an unreadable reservation: never taken over silently
    tip = s.db.read_ref(holder.ref)
    if tip is None:
        # Reserved, ref not written yet: a start in progress while its process lives.
        alive = holder.process_alive()
        return bool(alive)
    return _name_at(s, holder.ref, tip) in (holder.name, None)


def _name_at(s: Session, ref: str, commit: str) -> str | None:
    """The name in a run commit's record (None when unreadable: counted as holding)."""
    row = s.cache_rows("SELECT name FROM runs WHERE commit_id = ?", (commit,))
    if row:
        return row[0][0]
    try:
        return RunInfo.from_yaml(RecordReader(s.db, commit).read("run.yaml") or b"", ref).name
    except GitexpError:
        return None


def _cached_holder(s: Session, name: str, ref: str) -> Holder | None:
    """A run the cache index knows that carries `name` at its ref's current tip (other than `ref`)."""
    for other_ref, commit in s.cache_rows("SELECT ref, commit_id FROM runs WHERE name = ?", (name,)):
        if other_ref != ref and s.db.read_ref(other_ref) == commit:
            return Holder(name, other_ref)
    return None


def _seed(s: Session, book: NameBook) -> None:
    """Fill the folder once from the cache index (runs made before reservations existed).

    Without a cache there is nothing cheap to fill it from: it is filled later,
    once a listing has built the cache; meanwhile the index is asked per claim.
    """
    rows = s.cache_rows("SELECT name, ref FROM runs", ())
    if rows:
        book.seed((name, ref) for name, ref in rows if isinstance(name, str) and isinstance(ref, str))


class NameTaken(InvalidName):
    """Another run holds the name; `run_id` says which ("?" when unknown)."""

    def __init__(self, message: str, run_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.run_id = run_id


def _taken(name: str, holder: Holder) -> NameTaken:
    run_id = holder.ref.rsplit("/", 1)[-1] if holder.ref else "?"
    return NameTaken(f"a run named {name!r} already exists (run {run_id}); run names are unique in a repository",
                     run_id, hint="choose another name, or leave the name out for a generated one")
