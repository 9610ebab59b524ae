"""The filter language as SQL over the cache index, a pre-filter for the one evaluator.

The index keeps, for each key a search has asked for (table `vkeys`), every run's value
of it as the evaluator sees it (table `vals`, made by `encode`): the number and the text
that comparisons use, flags for NaN and for true/false, and its sort class. A filter
becomes two conditions on a run row: `upper`, met by every row the filter can match,
and `lower`, met only by rows it does match. SQLite selects the rows meeting `upper`;
those meeting `lower` too are decided, the others go to the Python evaluator
(`predicates`), so the SQL never drops a row the filter keeps. A comparison SQL cannot
express is (0, 1): decided in Python for every row. Sort keys become ORDER BY terms
that reproduce `filterexpr.sort_rows` exactly, or none at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from gitexp.services.catalog.filterexpr import SortKey, sort_rank
from gitexp.services.catalog.predicates import MISSING, Cmp, Node, Not, getter, like_regex, to_num, to_str

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

NAN, FNAN, TRUE, FALSE, LOOSE = 1, 2, 4, 8, 16  # `vals.flags` bits
EXACT_INT = 2 ** 53  # integers SQLite's REAL holds exactly (and compares as Python does)
COLUMN = {"metrics": "last", "params": "params", "tags": "tags"}  # the runs column each kind comes from
TEXT_ATTRS = {"status": "r.status", "run_name": "r.name", "run_id": "r.run_id", "experiment": "r.experiment",
              "user": "r.user"}
NUM_ATTRS = {"start_time": "r.start_ms", "end_time": "r.end_ms", "duration": "(r.end_ms - r.start_ms) / 1000.0"}
_DIRECTION = {False: "", True: " DESC"}
PICK_COLUMNS = ("status", "experiment", "start_ms", "ref", "end_ms", "name", "run_id", "user")  # all the SQL reads


def encode(value: Any, coerce: bool) -> tuple[Any, str | None, int, int]:
    """(num, txt, flags, sort class) of a present value: what each kind of comparison sees.

    `num` is `to_num` (None for NaN: flag NAN), `txt` is `to_str` (None for a float NaN:
    flag FNAN), TRUE/FALSE what `= true`/`= false` see; LOOSE marks what SQL cannot
    hold exactly (huge integers, text that is not UTF-8), left to the evaluator.
    """
    flags, num = 0, to_num(value)
    if num is not None and num != num:
        flags, num = NAN, None
    elif type(num) is int and abs(num) > EXACT_INT:
        flags, num = LOOSE, None
    txt = None
    if type(value) is float and value != value:
        flags |= FNAN
    else:
        txt = to_str(value)
        if txt is not None and not _storable(txt):
            flags, txt = flags | LOOSE, None
    if type(value) is bool:
        flags |= TRUE if value else FALSE
    elif type(value) is str and value.lower() in ("true", "false"):
        flags |= TRUE if value.lower() == "true" else FALSE
    return num, txt, flags, sort_rank(value, coerce)[0]


def _storable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def vals_rows(kind: str, keys: Sequence[tuple[int, str]], rows: Sequence[tuple[str, str | None]]) -> list[tuple]:
    """`vals` rows of keys (kid, key) of one kind, from (commit, JSON of the kind's column) pairs.

    A column that does not decode (a damaged row) gets LOOSE rows: the evaluator
    reads that run from git and decides.
    """
    gets, coerce = [(kid, getter(kind, key)) for kid, key in keys], kind == "params"
    out: list[tuple] = []
    for commit, text in rows:
        try:
            row = {kind: json.loads(text) if text is not None else {}}
            values = [(kid, get(row)) for kid, get in gets]
        except (TypeError, ValueError, AttributeError):
            out += [(kid, commit, None, None, LOOSE, 3) for kid, _ in keys]
            continue
        out += [(kid, commit, *encode(v, coerce)) for kid, v in values if v is not MISSING]
    return out


def like(pattern: str, ignore_case: int, text: str | None) -> int:
    """SQL function `gitexp_like`: the evaluator's LIKE/ILIKE on a stored text."""
    return 0 if text is None else int(like_regex(pattern, bool(ignore_case)).fullmatch(text) is not None)


@dataclass(frozen=True)
class Cond:
    """SQL conditions on a run row `r`: `lower` implies the filter, the filter implies `upper`."""

    lower: str
    upper: str


UNKNOWN = Cond("0", "1")


def keys_of(node: Node | None, sort: Sequence[SortKey]) -> set[tuple[str, str]]:
    """The (kind, key) pairs of `vals` a filter and sort keys need."""
    out = {(k.kind, k.key) for k in sort if k.kind != "attributes"}
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, Cmp):
            if n.kind != "attributes":
                out.add((n.kind, n.key))
        elif isinstance(n, Not):
            stack.append(n.inner)
        else:
            stack.extend(n.parts)
    return out


class Translator:
    """SQL for one search; literals become named parameters (`params`).

    `kids` maps (kind, key) to its `vkeys` id; `loose` are keys with LOOSE values,
    `unsortable` keys SQLite cannot order as the evaluator does (LOOSE or class-3 values).
    """

    def __init__(self, kids: dict[tuple[str, str], int], loose: set[tuple[str, str]],
                 unsortable: set[tuple[str, str]]) -> None:
        self.kids, self.loose, self.unsortable = kids, loose, unsortable
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return ":" + name

    # -- filters -------------------------------------------------------------------------
    def cond(self, node: Node | None) -> Cond:
        if node is None:
            return Cond("1", "1")
        if isinstance(node, Cmp):
            return self._cmp(node)
        if isinstance(node, Not):
            inner = self.cond(node.inner)
            return Cond(_not(inner.upper), _not(inner.lower))
        parts, conj = [self.cond(p) for p in node.parts], node.conjunction
        return Cond(_join([p.lower for p in parts], conj), _join([p.upper for p in parts], conj))

    def _cmp(self, c: Cmp) -> Cond:
        tests = [(c.op, c.lit)] if c.op not in ("IN", "NOT IN") else \
            [("=" if c.op == "IN" else "!=", lit) for lit in c.lit]
        if c.kind == "attributes":
            sql = [self._attr_test(c.key, op, lit) for op, lit in tests]
        else:
            sql = [self._val_test(op, lit) for op, lit in tests]
        if any(s is None for s in sql):
            return UNKNOWN
        test = _join([s for s in sql if s], c.op != "IN")
        if c.kind == "attributes":
            return Cond(test, test)
        pick = f"r.commit_id IN (SELECT commit_id FROM vals v WHERE v.kid = {self.kids[c.kind, c.key]} AND "
        lower = f"{pick}({test}))"
        return Cond(lower, f"{pick}({test} OR v.flags & {LOOSE}))" if (c.kind, c.key) in self.loose else lower)

    def _val_test(self, op: str, lit: tuple[str, Any]) -> str | None:
        kind, x = lit
        if op in ("LIKE", "ILIKE"):
            return f"gitexp_like({self.param(x)}, {int(op == 'ILIKE')}, v.txt)"
        if kind == "bool":
            return f"v.flags & {(TRUE if x else FALSE) if op == '=' else (FALSE if x else TRUE)}"
        if kind == "num" and type(x) is int and abs(x) > EXACT_INT or kind == "str" and not _storable(x):
            return None
        column, nan = ("v.num", NAN) if kind == "num" else ("v.txt", FNAN)
        test = f"{column} {op} {self.param(x)}"
        return f"({test} OR v.flags & {nan})" if op == "!=" else test

    def _attr_test(self, key: str, op: str, lit: tuple[str, Any]) -> str | None:
        kind, x = lit
        column = TEXT_ATTRS.get(key) if kind == "str" or op in ("LIKE", "ILIKE") else \
            NUM_ATTRS.get(key) if kind == "num" and not (type(x) is int and abs(x) > EXACT_INT) else None
        if column is None or kind == "str" and not _storable(x):
            return None
        if op in ("LIKE", "ILIKE"):
            return f"gitexp_like({self.param(x)}, {int(op == 'ILIKE')}, {column})"
        return f"coalesce({column} {op} {self.param(x)}, 0)"

    # -- sorting -------------------------------------------------------------------------
    def order(self, keys: Sequence[SortKey]) -> tuple[list[str], list[str]] | None:
        """(LEFT JOINs, ORDER BY terms) sorting as `sort_rows` does, before the listing order
        (`cache.LISTING_ORDER`, which the caller appends); None if SQL cannot."""
        joins, terms = [], []
        for i, k in enumerate(keys):
            way = _DIRECTION[k.descending]
            if k.kind == "attributes":
                column = TEXT_ATTRS.get(k.key) or NUM_ATTRS.get(k.key)
                if column is None:
                    return None
                terms += [f"{column} IS NULL", column + way]
                continue
            if (k.kind, k.key) in self.unsortable:
                return None
            a = f"s{i}"
            joins.append(f"LEFT JOIN vals {a} ON {a}.kid = {self.kids[k.kind, k.key]} AND {a}.commit_id = r.commit_id")
            terms += [f"coalesce({a}.cls, 4)", f"CASE WHEN {a}.cls = 0 THEN {a}.num END{way}",
                      f"CASE WHEN {a}.cls = 2 THEN {a}.txt END{way}"]
        return joins, terms


def _not(sql: str) -> str:
    return {"0": "1", "1": "0"}.get(sql, f"NOT ({sql})")


def _join(parts: list[str], conjunction: bool) -> str:
    """AND (or OR) of conditions, folding the constants 0 and 1."""
    absorb, neutral = ("0", "1") if conjunction else ("1", "0")
    if absorb in parts:
        return absorb
    kept = [p for p in parts if p != neutral]
    if not kept:
        return neutral
    return kept[0] if len(kept) == 1 else (" AND " if conjunction else " OR ").join(f"({p})" for p in kept)
