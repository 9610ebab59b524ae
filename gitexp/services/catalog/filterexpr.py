"""Search filter grammar (MLflow search-runs style, extended) and sort keys: lexer and parser.

A filter such as ``metrics.acc > 0.9 and params.optimizer.lr IN (0.01, 0.1)`` is parsed
once into a small tree (`predicates.Node`) and compiled into nested closures; calling the
resulting :class:`Filter` on a row dict costs no parsing. `sqlfilter` reads the same tree.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from collections.abc import Callable

from gitexp.errors import FilterSyntaxError
from gitexp.services.catalog.predicates import (
    ATTR_ALIASES, ATTRIBUTES, KINDS, MISSING, PREFIXES, Chain, Cmp, Node, Not, compile_node, getter, like_regex,
    lookup, to_num, to_str,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ATTRIBUTES", "KINDS", "MISSING", "Filter", "SortKey", "like_regex", "lookup", "parse_filter", "sort_rank",
           "parse_sort", "sort_rows"]

_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "true", "false"})
_OPS = ("==", "!=", "<=", ">=", "=", "<", ">")
_PUNCT = {"(": "LP", ")": "RP", ",": "COMMA", ":": "COLON"}
_NUM_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INT_RE = re.compile(r"[-+]?\d+")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_RE = re.compile(r"[\w\-./]+")  # unquoted keys: Unicode letters too; quote keys with spaces or ":"
_TAIL_RE = re.compile(r"[\w.]*")
_QUOTED = {q: re.compile(rf"{q}((?:\\.|[^{q}\\])*){q}", re.DOTALL) for q in "'\"`"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # ENTITY WORD NUM STR OP LP RP COMMA COLON EOF
    value: Any
    start: int
    end: int
    key_pos: int = -1


class _Lexer:
    """On-demand tokenizer so errors surface in left-to-right order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._peeked: _Tok | None = None

    def error(self, message: str, pos: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, pos)

    def peek(self) -> _Tok:
        if self._peeked is None:
            self._peeked = self._scan()
            self.pos = self._peeked.end
        return self._peeked

    def take(self) -> _Tok:
        tok = self.peek()
        self._peeked = None
        return tok

    def show(self, tok: _Tok) -> str:
        return "the end of the filter" if tok.kind == "EOF" else repr(self.text[tok.start:tok.end])

    def _scan(self) -> _Tok:
        text, i = self.text, self.pos
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return _Tok("EOF", None, len(text), len(text))
        c = text[i]
        if c in _PUNCT:
            return _Tok(_PUNCT[c], c, i, i + 1)
        for op in _OPS:
            if text.startswith(op, i):
                return _Tok("OP", op, i, i + len(op))
        if c in "'\"":
            value, end = self._quoted(i, "string")
            return _Tok("STR", value, i, end)
        if c in "+-.0123456789":
            return self._number(i)
        m = _WORD_RE.match(text, i)
        if m is None:
            raise self.error(f"unexpected character {c!r}", i)
        if m.end() < len(text) and text[m.end()] == ".":
            return self._entity(m)
        return _Tok("WORD", m.group(), i, m.end())

    def _number(self, i: int) -> _Tok:
        m = _NUM_RE.match(self.text, i)
        if m is None:
            raise self.error(f"unexpected character {self.text[i]!r}", i)
        end = m.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_."):
            tail = _TAIL_RE.match(self.text, end)
            bad = self.text[i:tail.end() if tail else end]
            raise self.error(f"invalid number {bad!r}", i)
        s = m.group()
        return _Tok("NUM", int(s) if _INT_RE.fullmatch(s) else float(s), i, end)

    def _entity(self, m: re.Match) -> _Tok:
        word, text = m.group(), self.text
        kind = PREFIXES.get(word.lower())
        if kind is None:
            raise self.error(f"unknown entity '{word}'; use metrics., params., tags. or attributes.", m.start())
        i = m.end() + 1
        if i < len(text) and text[i] in "`\"":
            key, end = self._quoted(i, "key")
            if not key:
                raise self.error("empty quoted key", i)
        else:
            km = _KEY_RE.match(text, i)
            if km is None:
                raise self.error(f"missing key after '{word}.'", i)
            key, end = km.group(), km.end()
        return _Tok("ENTITY", (kind, key), m.start(), end, key_pos=i)

    def _quoted(self, i: int, what: str) -> tuple[str, int]:
        """Read a quoted run starting at i; a backslash escapes the quote or itself."""
        q = self.text[i]
        m = _QUOTED[q].match(self.text, i)
        if m is None:
            raise self.error(f"unterminated {what} (missing closing {q})", i)
        return re.sub(rf"\\([{q}\\])", r"\1", m.group(1)), m.end()


def _is_word(tok: _Tok, *words: str) -> bool:
    return tok.kind == "WORD" and tok.value.lower() in words


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := not_expr (AND ...)*."""

    def __init__(self, text: str, attributes: dict[str, str] | None = None) -> None:
        self.lex = _Lexer(text)
        self.refs: set[tuple[str, str]] = set()
        self.aliases = ATTR_ALIASES if attributes is None else attributes

    def parse(self) -> Node:
        node = self._or()
        tok = self.lex.peek()
        if tok.kind == "RP":
            raise self.lex.error("unmatched ')'", tok.start)
        if tok.kind != "EOF":
            raise self.lex.error(f"unexpected {self.lex.show(tok)} after a complete condition; "
                                 "expected 'and' or 'or'", tok.start)
        return node

    def _or(self) -> Node:
        return self._chain("or", self._and)

    def _and(self) -> Node:
        return self._chain("and", self._not)

    def _chain(self, word: str, sub: Callable[[], Node]) -> Node:
        parts = [sub()]
        while _is_word(self.lex.peek(), word):
            self.lex.take()
            parts.append(sub())
        return parts[0] if len(parts) == 1 else Chain(word == "and", tuple(parts))

    def _not(self) -> Node:
        if _is_word(self.lex.peek(), "not"):
            self.lex.take()
            return Not(self._not())
        return self._primary()

    def _primary(self) -> Node:
        tok = self.lex.peek()
        if tok.kind != "LP":
            return self._comparison()
        self.lex.take()
        inner = self._or()
        close = self.lex.take()
        if close.kind == "RP":
            return inner
        if close.kind == "EOF":
            raise self.lex.error("unclosed '('", tok.start)
        raise self.lex.error(f"expected 'and', 'or' or ')' but found {self.lex.show(close)}", close.start)

    def _comparison(self) -> Node:
        ent = self.lex.take()
        kind, key = self.entity(ent, "a condition such as metrics.acc > 0.9")
        self.refs.add((kind, key))
        op, op_tok = self._operator(ent)
        lit = self._in_list(op, op_tok) if op in ("IN", "NOT IN") else self._literal(op, op_tok)
        return Cmp(kind, key, op, lit)

    def entity(self, tok: _Tok, expected: str) -> tuple[str, str]:
        """Resolve an ENTITY or bare attribute token to (kind, canonical key)."""
        if tok.kind == "ENTITY":
            kind, key = tok.value
            return (kind, self._attr(key, tok.key_pos)) if kind == "attributes" else (kind, key)
        if tok.kind == "WORD" and tok.value.lower() not in _KEYWORDS:
            return "attributes", self._attr(tok.value, tok.start)
        raise self.lex.error(f"expected {expected} but found {self.lex.show(tok)}", tok.start)

    def _attr(self, name: str, pos: int) -> str:
        canonical = self.aliases.get(name.lower())
        if canonical is None:
            known = ATTRIBUTES if self.aliases is ATTR_ALIASES else sorted(set(self.aliases.values()))
            raise self.lex.error(f"unknown attribute '{name}'; attributes are {', '.join(known)} "
                                 "(or use metrics., params., tags.)", pos)
        return canonical

    def _operator(self, ent: _Tok) -> tuple[str, _Tok]:
        tok = self.lex.take()
        if tok.kind == "OP":
            return ("=" if tok.value == "==" else tok.value), tok
        if _is_word(tok, "like", "ilike", "in"):
            return tok.value.upper(), tok
        if _is_word(tok, "not"):
            nxt = self.lex.take()
            if _is_word(nxt, "in"):
                return "NOT IN", nxt
            raise self.lex.error(f"expected IN after NOT but found {self.lex.show(nxt)}", nxt.start)
        raise self.lex.error(f"expected an operator (= != < <= > >= LIKE ILIKE IN NOT IN) after "
                             f"{self.lex.show(ent)} but found {self.lex.show(tok)}", tok.start)

    def _value(self, tok: _Tok, after: _Tok) -> tuple[str, object]:
        if tok.kind == "NUM":
            return "num", tok.value
        if tok.kind == "STR":
            return "str", tok.value
        if _is_word(tok, "true", "false"):
            return "bool", tok.value.lower() == "true"
        hint = f" (quote strings: '{tok.value}')" if tok.kind == "WORD" else ""
        raise self.lex.error(f"expected a value (number, quoted string, true or false) after "
                             f"{self.lex.show(after)} but found {self.lex.show(tok)}{hint}", tok.start)

    def _literal(self, op: str, op_tok: _Tok) -> tuple[str, object]:
        tok = self.lex.take()
        lit = self._value(tok, op_tok)
        if op in ("LIKE", "ILIKE") and lit[0] != "str":
            raise self.lex.error(f"{op} needs a quoted string pattern", tok.start)
        if lit[0] == "bool" and op not in ("=", "!="):
            raise self.lex.error(f"true/false can only be compared with = or != (not {op})", tok.start)
        return lit

    def _in_list(self, op: str, op_tok: _Tok) -> list[tuple[str, object]]:
        lp = self.lex.take()
        if lp.kind != "LP":
            raise self.lex.error(f"expected '(' after {op} but found {self.lex.show(lp)}", lp.start)
        if self.lex.peek().kind == "RP":
            raise self.lex.error(f"empty {op} list", self.lex.peek().start)
        lits, prev = [], lp
        while True:
            lits.append(self._value(self.lex.take(), prev))
            prev = self.lex.take()
            if prev.kind == "RP":
                return lits
            if prev.kind == "EOF":
                raise self.lex.error(f"unclosed '(' in {op} list", lp.start)
            if prev.kind != "COMMA":
                raise self.lex.error(f"expected ',' or ')' in {op} list but found "
                                     f"{self.lex.show(prev)}", prev.start)


class Filter:
    """A compiled filter; call it with a row dict to get True/False. `node`: its tree (None: match all)."""

    __slots__ = ("text", "node", "_pred", "_refs")

    def __init__(self, text: str, node: Node | None, refs: frozenset[tuple[str, str]]) -> None:
        self.text = text
        self.node = node
        self._pred = _match_all if node is None else compile_node(node)
        self._refs = refs

    def __call__(self, row: dict) -> bool:
        return self._pred(row)

    def referenced(self) -> set[tuple[str, str]]:
        """(kind, key) pairs the filter reads; attribute keys are canonical."""
        return set(self._refs)

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def _match_all(row: dict) -> bool:
    return True


def parse_filter(text: str | None, attributes: dict[str, str] | None = None) -> Filter:
    """Parse and compile a filter; None or blank text matches every row.

    `attributes` maps the attribute names (lower case) a caller's rows have to their
    canonical keys (default: the run attributes); experiment search passes its own.
    """
    if text is None or not text.strip():
        return Filter(text or "", None, frozenset())
    parser = _Parser(text, attributes)
    node = parser.parse()
    return Filter(text, node, frozenset(parser.refs))


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY term."""

    kind: str
    key: str
    descending: bool = False


def parse_sort(text: str, attributes: dict[str, str] | None = None) -> SortKey:
    """Parse `metrics.acc`, `metrics.acc:desc`, `metrics.acc DESC`, `start_time asc`, ..."""
    parser = _Parser(text, attributes)
    lex = parser.lex
    tok = lex.take()
    if tok.kind == "EOF":
        raise lex.error("empty sort key; use e.g. metrics.acc:desc", tok.start)
    kind, key = parser.entity(tok, "a sort key such as metrics.acc or start_time")
    nxt, colon, descending = lex.take(), False, False
    if nxt.kind == "COLON":
        colon, nxt = True, lex.take()
    if _is_word(nxt, "asc", "desc"):
        descending, nxt = nxt.value.lower() == "desc", lex.take()
    elif colon:
        raise lex.error(f"expected 'asc' or 'desc' but found {lex.show(nxt)}", nxt.start)
    if nxt.kind != "EOF":
        raise lex.error(f"unexpected {lex.show(nxt)} in sort key; expected 'asc' or 'desc'", nxt.start)
    return SortKey(kind, key, descending)


def sort_rank(v: object, coerce: bool) -> tuple[int, object]:
    """Sort class (0 number, 1 NaN, 2 string, 3 other, 4 missing) and comparable value."""
    if v is MISSING:
        return 4, None
    if type(v) is str:
        n = to_num(v) if coerce else None
        if n is None:
            return 2, v
        v = n
    if type(v) is bool:
        return 2, to_str(v)
    n = to_num(v)
    if n is not None:
        return (1, None) if n != n else (0, n)
    return 3, str(v)


def _sort_pass(rows: list[dict], key: SortKey) -> list[dict]:
    get = getter(key.kind, key.key)
    groups: list[list[tuple[object, dict]]] = [[], [], [], [], []]
    coerce = key.kind == "params"
    for row in rows:
        cls, value = sort_rank(get(row), coerce)
        groups[cls].append((value, row))
    out: list[dict] = []
    for cls, group in enumerate(groups):
        if cls in (0, 2, 3):
            group.sort(key=operator.itemgetter(0), reverse=key.descending)
        out.extend(row for _, row in group)
    return out


def sort_rows(rows: list[dict], keys: list[SortKey], attributes: dict[str, str] | None = None) -> list[dict]:
    """Stable multi-key sort: numbers, then NaN, then strings, then other; missing always last."""
    out = list(rows)
    aliases = ATTR_ALIASES if attributes is None else attributes
    for key in reversed(keys):
        if key.kind == "attributes":
            key = SortKey(key.kind, aliases.get(key.key.lower(), key.key), key.descending)
        out = _sort_pass(out, key)
    return out
