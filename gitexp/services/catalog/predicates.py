"""Compiled predicates of the filter language: value lookup, comparisons and their coercions.

A parsed filter is a small tree (`Cmp`, `Not`, `Chain`); `compile_node` turns it into
closures over rows like ``{"params": {...}, "metrics": {...}, "tags": {...}, "attributes": {...}}``
(the one evaluator; `sqlfilter` only pre-filters for it). Each comparison compiles once;
the closures avoid generic dispatch (`type(v) is float` before anything slower) because a
search calls them per run.
"""

from __future__ import annotations

import numbers
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

Pred = Callable[[dict], bool]
Test = Callable[[Any], bool]

KINDS = ("metrics", "params", "tags", "attributes")
ATTRIBUTES = ("status", "run_name", "run_id", "experiment", "start_time", "end_time", "duration", "user")
PREFIXES = {
    "metrics": "metrics", "metric": "metrics", "params": "params", "param": "params",
    "tags": "tags", "tag": "tags", "attributes": "attributes", "attribute": "attributes",
    "attr": "attributes",
}
ATTR_ALIASES = {**{a: a for a in ATTRIBUTES}, "name": "run_name", "id": "run_id", "user_id": "user"}
CMP = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
       ">": operator.gt, ">=": operator.ge}


class _Missing:
    """Sentinel type for an absent key or attribute."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def to_num(v: Any) -> Any:
    """Return v as a number (int/float), or None when it is not numeric."""
    t = type(v)
    if t is int or t is float:
        return v
    if t is str:
        if "_" in v:
            return None
        try:
            return float(v)
        except ValueError:
            return None
    if t is not bool and isinstance(v, numbers.Real):  # numpy scalars etc. -> builtins
        return int(v) if isinstance(v, numbers.Integral) else float(v)
    return None


def to_str(v: Any) -> str | None:
    """Canonical string form of a scalar (bools true/false, floats via repr), else None."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int or isinstance(v, numbers.Integral):
        return str(int(v))
    if t is float or isinstance(v, numbers.Real):
        return repr(float(v))
    return None


def _walk(d: Any, parts: tuple[str, ...]) -> Any:
    """Follow a nested key path; None when any step is absent."""
    for part in parts:
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def key_parts(kind: str, key: str) -> tuple[str, ...]:
    return tuple(key.split(".")) if kind != "attributes" and "." in key else ()


def getter(kind: str, key: str) -> Callable[[dict], Any]:
    """Build a row -> value function: flat key first, then the dotted nested path."""
    parts = key_parts(kind, key)

    def get(row: dict) -> Any:
        d = row.get(kind)
        v = d.get(key) if d else None
        if v is None and parts and d:
            v = _walk(d, parts)
        return MISSING if v is None else v
    return get


def lookup(row: dict, kind: str, key: str) -> Any:
    """Value of `kind.key` in row (None counts as absent), or MISSING."""
    canonical = PREFIXES.get(kind.lower())
    if canonical is None:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if canonical == "attributes":
        key = ATTR_ALIASES.get(key.lower(), key)
    return getter(canonical, key)(row)


def _num_test(fn: Callable, x: Any) -> Test:
    def test(v: Any) -> bool:
        t = type(v)
        if t is float or t is int:
            return fn(v, x)
        n = to_num(v)
        return n is not None and fn(n, x)
    return test


def _str_test(fn: Callable, x: str, is_ne: bool) -> Test:
    def test(v: Any) -> bool:
        if type(v) is str:
            return fn(v, x)
        s = to_str(v)
        if s is None:
            return False
        return is_ne if v != v else fn(s, x)
    return test


def _bool_test(b: bool, is_ne: bool) -> Test:
    def test(v: Any) -> bool:
        if type(v) is bool:
            got = v
        elif type(v) is str and v.lower() in ("true", "false"):
            got = v.lower() == "true"
        else:
            return False
        return (got != b) if is_ne else (got == b)
    return test


@lru_cache(maxsize=64)
def like_regex(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """SQL LIKE pattern -> compiled regex (`%` any run, `_` one char, `\\%` `\\_` literal)."""
    parts = re.split(r"(\\[%_\\]|[%_])", pattern)  # odd indexes are the separators
    body = "".join(re.escape(t) if i % 2 == 0 else ".*" if t == "%" else "." if t == "_"
                   else re.escape(t[1]) for i, t in enumerate(parts))
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like_test(pattern: str, ignore_case: bool) -> Test:
    match = like_regex(pattern, ignore_case).fullmatch

    def test(v: Any) -> bool:
        s = v if type(v) is str else to_str(v)
        if s is None or v != v:  # NaN never matches
            return False
        return match(s) is not None
    return test


def _value_test(op: str, lit: tuple[str, Any]) -> Test:
    kind, x = lit
    if op in ("LIKE", "ILIKE"):
        return _like_test(x, op == "ILIKE")
    if kind == "num":
        return _num_test(CMP[op], x)
    if kind == "str":
        return _str_test(CMP[op], x, op == "!=")
    return _bool_test(x, op == "!=")


def compile_test(kind: str, key: str, op: str, lit: Any) -> Pred:
    """One comparison -> predicate; a missing (or None) value never matches."""
    parts = key_parts(kind, key)
    if op == "IN":
        tests = tuple(_value_test("=", x) for x in lit)
        test = lambda v: any(t(v) for t in tests)  # noqa: E731
    elif op == "NOT IN":
        tests = tuple(_value_test("!=", x) for x in lit)
        test = lambda v: all(t(v) for t in tests)  # noqa: E731
    else:
        test = _value_test(op, lit)

    def pred(row: dict) -> bool:
        d = row.get(kind)
        if not d:
            return False
        v = d.get(key)
        if v is None and parts:
            v = _walk(d, parts)
        return v is not None and test(v)
    return pred


@dataclass(frozen=True)
class Cmp:
    """One comparison: `kind.key op lit` (lit: ("num"|"str"|"bool", value), a list of them for IN)."""

    kind: str
    key: str
    op: str
    lit: Any


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Chain:
    """Parts joined by AND (`conjunction`) or OR."""

    conjunction: bool
    parts: tuple[Node, ...]


Node = Union[Cmp, Not, Chain]


def compile_node(node: Node) -> Pred:
    """The predicate of a parsed filter."""
    if isinstance(node, Cmp):
        return compile_test(node.kind, node.key, node.op, node.lit)
    if isinstance(node, Not):
        inner = compile_node(node.inner)
        return lambda row: not inner(row)
    return combine([compile_node(p) for p in node.parts], node.conjunction)


def _pair(a: Pred, b: Pred, conjunction: bool) -> Pred:
    if conjunction:
        return lambda row: a(row) and b(row)
    return lambda row: a(row) or b(row)


def combine(preds: list[Pred], conjunction: bool) -> Pred:
    """Fold into right-nested binary closures (faster than all()/any() over a generator)."""
    pred = preds[-1]
    for left in reversed(preds[:-1]):
        pred = _pair(left, pred, conjunction)
    return pred


