"""Search in SQL: the cache index selects and orders the rows, Runs are built only for those returned.

With a sort SQLite can do (`sqlfilter.Translator.order`), rows come in the final order
and reading stops at the limit: a search of 10,000 runs for the best 20 builds about 20
Runs. Rows the SQL cannot decide are decided by the filter itself as they come; running
runs (whose live values are not in the cache) and unreadable records are evaluated
apart and merged by the evaluator's own sort. `search_sql` returns None when the index
cannot serve (no cache, a commit under two refs, a busy or damaged database): the caller
then evaluates every listed run. A plain listing (no filter, no sort: `predicate` None)
reads the rows in the listing order from the index made for it and never loads the
filter language.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from gitexp.model import LAZY_FIELDS, Run
from gitexp.services.catalog.cache import LISTING_INDEX, LISTING_ORDER, Progress, RunIndex
from gitexp.services.catalog.listing import attach, listing_order
from gitexp.services.session import Session, sqlite_driver

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    import sqlite3

    from gitexp.services.catalog.filterexpr import Filter, SortKey

_driver = sqlite_driver()
_SCALARS = "r.commit_id, r.ref, r.run_id, r.name, r.experiment, r.status, r.start_ms, r.end_ms, r.user"


def kinds_of(predicate: Filter | None, keys: Sequence[SortKey]) -> set[str]:
    """The row kinds (params, metrics, tags, attributes) a filter (None: none) and sort keys read."""
    return {kind for kind, _ in (predicate.referenced() if predicate else ())} | {k.kind for k in keys}


def evaluate(runs: Iterable[Run], predicate: Filter | None, keys: Sequence[SortKey]) -> list[Run]:
    """The runs `predicate` (None: every run) keeps, in their order, then sorted by `keys`: the one evaluator."""
    if predicate is not None:
        kinds = kinds_of(predicate, keys)
        runs = [r for r in runs if predicate(r.row(kinds))]
    return sort_runs(list(runs), keys)


def sort_runs(runs: list[Run], keys: Sequence[SortKey]) -> list[Run]:
    """`runs` sorted by `keys` (stable: ties keep their order)."""
    if not keys:
        return runs
    from gitexp.services.catalog.filterexpr import sort_rows

    kinds = {k.kind for k in keys}
    pairs = [(r, r.row(kinds)) for r in runs]
    by_row = {id(row): r for r, row in pairs}
    return [by_row[id(row)] for row in sort_rows([row for _, row in pairs], list(keys))]


def search_sql(s: Session, predicate: Filter | None, keys: Sequence[SortKey], refs: dict[str, str],
               experiments: Sequence[str] | None, limit: int | None, fields: Sequence[str],
               progress: Progress | None = None) -> list[Run] | None:
    """The runs of `refs` matching `predicate`, sorted by `keys`, cut at `limit`; None when not served.

    `experiments` (None: all) are those of `refs`; `fields` are fetched with the rows.
    """
    index, conn = s.cache, s.cache.connection()
    if conn is None:
        return None
    try:
        kids = index.key_ids(conn, _keys_of(predicate, keys))
        unread = _settle(index, conn, refs, progress)
        if unread is None:
            return None
        try:
            picked, ordered, floating = _select(index, conn, predicate, keys, kids, set(refs.values()),
                                                experiments, limit, fields)
        finally:
            _end(conn)
    except _driver.DatabaseError:
        _end(conn)
        return None
    floating += unread
    attach(s, picked + floating)
    if ordered and not floating:
        return picked
    # Runs SQL could not place: merged by the evaluator's sort over the listing order.
    merged = sorted(picked + evaluate(floating, predicate, ()), key=listing_order, reverse=True)
    return sort_runs(merged, keys)[:limit]


def _keys_of(predicate: Filter | None, keys: Sequence[SortKey]) -> set[tuple[str, str]]:
    if predicate is None and not keys:
        return set()
    from gitexp.services.catalog import sqlfilter

    return sqlfilter.keys_of(predicate.node if predicate else None, keys)


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


def _select(index: RunIndex, conn: sqlite3.Connection, predicate: Filter | None, keys: Sequence[SortKey],
            kids: dict[tuple[str, str], int], wanted: set[str], experiments: Sequence[str] | None,
            limit: int | None, fields: Sequence[str]) -> tuple[list[Run], bool, list[Run]]:
    """(matching runs, whether they are in final order, running runs to evaluate apart)."""
    params = {f"e{i}": e for i, e in enumerate(experiments or ())}
    where = "" if experiments is None else f" AND r.experiment IN ({', '.join(':' + p for p in params)})"
    joins: list[str] = []
    if predicate is None and not keys:  # a plain listing: rows come in order from their index, none is sorted
        sure, upper, terms, ordered, by = "1", "1", LISTING_ORDER, True, LISTING_INDEX
    else:
        sure, upper, joins, terms, ordered = _translate(conn, predicate, keys, kids, params)
        by = "runs_pick"
    # Scalars only, from a covering index: the JSON of a row is read when it is needed.
    sql = (f"SELECT {_SCALARS}, {sure} FROM runs r INDEXED BY {by} {' '.join(joins)}"
           f" WHERE r.status != 'RUNNING' AND ({upper}){where} ORDER BY {', '.join(terms)}")
    rows = (row for row in conn.execute(sql, params) if row[0] in wanted)  # not old commits of edited runs
    kinds = kinds_of(predicate, keys)
    picked = _matching(index, conn, rows, predicate, kinds, limit if ordered else None,
                       [f for f in LAZY_FIELDS if f in fields or f in kinds])
    running = conn.execute(f"SELECT {_SCALARS}, 0 FROM runs r WHERE r.status = 'RUNNING'{where}", params)
    return picked, ordered, _with_json(index, conn, [r for r in running if r[0] in wanted], LAZY_FIELDS)


def _translate(conn: sqlite3.Connection, predicate: Filter | None, keys: Sequence[SortKey],
               kids: dict[tuple[str, str], int], params: dict) -> tuple[str, str, list[str], list[str], bool]:
    """(SQL of the rows surely matching, of those that may match, JOINs, ORDER BY terms, whether SQL
    sorts as asked) of a search; its literals are added to `params`."""
    from gitexp.services.catalog import sqlfilter

    loose, unsortable = _risky(conn, kids)
    tr = sqlfilter.Translator(kids, loose, unsortable)
    cond = tr.cond(predicate.node if predicate else None)
    order = tr.order(keys)
    params.update(tr.params)
    joins, terms = order or ([], [])
    return "1" if cond.lower == cond.upper else cond.lower, cond.upper, joins, terms + LISTING_ORDER, order is not None


def _matching(index: RunIndex, conn: sqlite3.Connection, rows: Iterator[tuple], predicate: Filter | None,
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
            if row[-1] or predicate is None or predicate(run.row(kinds)):
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
        raise _driver.DatabaseError("a searched key left the index")
    return {by_kid[k] for k, lo, _ in rows if lo}, {by_kid[k] for k, _, un in rows if un}


def _end(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("COMMIT")
