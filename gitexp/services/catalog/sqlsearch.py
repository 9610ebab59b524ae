"""Search in SQL: the cache index selects and orders the rows, Runs are built only for those returned.

With a sort SQLite can do (`sqlfilter.Translator.order`), rows come in the final order
and reading stops at the limit: a search of 10,000 runs for the best 20 builds about 20
Runs. Rows the SQL cannot decide are decided by the filter itself as they come; running
runs (whose live values are not in the cache) and unreadable records are evaluated
apart and merged by the evaluator's own sort. `search_sql` returns None when the index
cannot serve (no cache, a commit under two refs, a busy or damaged database): the caller
then evaluates every listed run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from gitexp.model import LAZY_FIELDS, Run
from gitexp.services.catalog import sqlfilter
from gitexp.services.catalog.cache import Progress, RunIndex
from gitexp.services.catalog.filterexpr import Filter, SortKey, sort_rows
from gitexp.services.catalog.listing import attach, listing_order
from gitexp.services.session import Session

_SCALARS = "r.commit_id, r.ref, r.run_id, r.name, r.experiment, r.status, r.start_ms, r.end_ms, r.user"


def kinds_of(predicate: Filter, keys: Sequence[SortKey]) -> set[str]:
    """The row kinds (params, metrics, tags, attributes) a filter and sort keys read."""
    return {kind for kind, _ in predicate.referenced()} | {k.kind for k in keys}


def evaluate(runs: Iterable[Run], predicate: Filter, keys: Sequence[SortKey]) -> list[Run]:
    """The runs `predicate` keeps, in their order, then sorted by `keys`: the one evaluator."""
    kinds = kinds_of(predicate, keys)
    return sort_runs([r for r in runs if predicate(r.row(kinds))], keys)


def sort_runs(runs: list[Run], keys: Sequence[SortKey]) -> list[Run]:
    """`runs` sorted by `keys` (stable: ties keep their order)."""
    if not keys:
        return runs
    kinds = {k.kind for k in keys}
    pairs = [(r, r.row(kinds)) for r in runs]
    by_row = {id(row): r for r, row in pairs}
    return [by_row[id(row)] for row in sort_rows([row for _, row in pairs], list(keys))]


def search_sql(s: Session, predicate: Filter, keys: Sequence[SortKey], refs: dict[str, str],
               experiments: Sequence[str] | None, limit: int | None, fields: Sequence[str],
               progress: Progress | None = None) -> list[Run] | None:
    """The runs of `refs` matching `predicate`, sorted by `keys`, cut at `limit`; None when not served.

    `experiments` (None: all) are those of `refs`; `fields` are fetched with the rows.
    """
    index, conn = s.cache, s.cache.connection()
    if conn is None:
        return None
    try:
        kids = index.key_ids(conn, sqlfilter.keys_of(predicate.node, keys))
        unread = _settle(index, conn, refs, progress)
        if unread is None:
            return None
        try:
            picked, ordered, floating = _select(index, conn, predicate, keys, kids, set(refs.values()),
                                                experiments, limit, fields)
        finally:
            _end(conn)
    except sqlite3.DatabaseError:
        _end(conn)
        return None
    floating += unread
    attach(s, picked + floating)
    if ordered and not floating:
        return picked
    # Runs SQL could not place: merged by the evaluator's sort over the listing order.
    merged = sorted(picked + evaluate(floating, predicate, ()), key=listing_order, reverse=True)
    return sort_runs(merged, keys)[:limit]


def _settle(index: RunIndex, conn: sqlite3.Connection, refs: dict[str, str],
            progress: Progress | None) -> list[Run] | None:
    """Make every run of `refs` a row, and open the read snapshot the search runs in.

    Returns the runs that have no row (unreadable records, evaluated apart), or None
    (no snapshot left open) when the rows cannot stand for `refs`.
    """
    conn.execute("BEGIN")
    missing = index.missing_rows(conn, refs)
    if not missing:
        if missing is None:
            _end(conn)
        return None if missing is None else []
    _end(conn)
    unread = index.add_runs(conn, missing, progress)
    if unread is None:
        return None
    conn.execute("BEGIN")
    again = index.missing_rows(conn, refs)
    if again is None or {sha for _, sha in again} != {r.commit for r in unread}:
        _end(conn)  # moved meanwhile: the caller lists runs the usual way
        return None
    return unread


def _select(index: RunIndex, conn: sqlite3.Connection, predicate: Filter, keys: Sequence[SortKey],
            kids: dict[tuple[str, str], int], wanted: set[str], experiments: Sequence[str] | None,
            limit: int | None, fields: Sequence[str]) -> tuple[list[Run], bool, list[Run]]:
    """(matching runs, whether they are in final order, running runs to evaluate apart)."""
    loose, unsortable = _risky(conn, kids)
    tr = sqlfilter.Translator(kids, loose, unsortable)
    cond = tr.cond(predicate.node)
    order = tr.order(keys)
    joins, terms = order or ([], sqlfilter.LISTING_ORDER)
    where = "" if experiments is None else f" AND r.experiment IN ({', '.join(tr.param(e) for e in experiments)})"
    sure = "1" if cond.lower == cond.upper else cond.lower
    # Scalars only, from the covering index: the JSON of a row is read when it is needed.
    sql = (f"SELECT {_SCALARS}, {sure} FROM runs r INDEXED BY runs_pick {' '.join(joins)}"
           f" WHERE r.status != 'RUNNING' AND ({cond.upper}){where} ORDER BY {', '.join(terms)}")
    rows = (row for row in conn.execute(sql, tr.params) if row[0] in wanted)  # not old commits of edited runs
    kinds = kinds_of(predicate, keys)
    picked = _matching(index, conn, rows, predicate, kinds, limit if order is not None else None,
                       [f for f in LAZY_FIELDS if f in fields or f in kinds])
    running = conn.execute(f"SELECT {_SCALARS}, 0 FROM runs r WHERE r.status = 'RUNNING'{where}", tr.params)
    return picked, order is not None, _with_json(index, conn, [r for r in running if r[0] in wanted], LAZY_FIELDS)


def _matching(index: RunIndex, conn: sqlite3.Connection, rows: Iterator[tuple], predicate: Filter,
              kinds: set[str], stop: int | None, fields: Sequence[str]) -> list[Run]:
    """Runs of the scalar `rows` (sure: last column) that match, in order, up to `stop`.

    Rows are taken in batches (and no further than needed); the JSON of the undecided
    ones (to decide them) and of the picked ones when `fields` are wanted is read in one
    query per batch.
    """
    picked: list[Run] = []
    while stop is None or len(picked) < stop:
        batch = list(islice(rows, 500 if stop is None else max(stop - len(picked), 20)))
        if not batch:
            break
        needed = batch if fields else [row for row in batch if not row[-1]]
        runs = _with_json(index, conn, needed, fields) if needed else []
        by_commit = {r.commit: r for r in runs}
        for row in batch:
            run = by_commit.get(row[0]) or Run(row[1], row[0], row[2:9], loader=index.load_field)
            if row[-1] or predicate(run.row(kinds)):
                picked.append(run)
                if stop is not None and len(picked) >= stop:
                    break
    return picked


def _with_json(index: RunIndex, conn: sqlite3.Connection, rows: list[tuple], fields: Sequence[str]) -> list[Run]:
    """Runs of scalar `rows`, with the last metric values and `fields` read from their rows."""
    columns = ", ".join(["commit_id", "last", *(f if f in fields else "NULL" for f in LAZY_FIELDS)])
    found: dict[str, tuple] = {}
    for at in range(0, len(rows), 500):  # within any SQLite's limit on parameters
        ids = [row[0] for row in rows[at:at + 500]]
        query = f"SELECT {columns} FROM runs WHERE commit_id IN ({', '.join('?' * len(ids))})"
        found.update((j[0], j[1:]) for j in conn.execute(query, ids))
    return [index.run_of(row[:-1] + found.get(row[0], (None,) * 5)) for row in rows]


def _risky(conn: sqlite3.Connection, kids: dict[tuple[str, str], int]) -> tuple[set, set]:
    """Keys with LOOSE values (SQL cannot decide), and keys SQL cannot sort (LOOSE or class-3 values).

    Read in the search's snapshot, which also checks the keys are all still there."""
    if not kids:
        return set(), set()
    by_kid = {kid: key for key, kid in kids.items()}
    query = f"SELECT kid, loose, unsortable FROM vkeys WHERE kid IN ({', '.join(map(str, by_kid))})"
    rows = conn.execute(query).fetchall()
    if len(rows) != len(by_kid):  # another process dropped one (MAX_KEYS) since `key_ids`
        raise sqlite3.DatabaseError("a searched key left the index")
    return {by_kid[k] for k, lo, _ in rows if lo}, {by_kid[k] for k, _, un in rows if un}


def _end(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("COMMIT")
