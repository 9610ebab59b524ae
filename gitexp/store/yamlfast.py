"""A fast reader for the block-style YAML subset gitexp itself writes, or FAIL.

Cold listing parses four small YAML files per run; ruamel's constructor was 64 %
of a cold `gitexp ls --all`. gitexp's writer only emits block mappings and
sequences, plain scalars, simple quoted strings and `[]`/`{}`: this module reads
exactly that, ~15x faster, and returns FAIL for anything else (flow collections,
anchors, tags, comments, escapes, multi-line scalars, duplicate keys, timestamps,
odd numbers…), which the caller then hands to the full safe loader with its limits
and typed checks. So its result is always what ruamel's would be, or it abstains
(tests compare the two on generated records). The two shapes of nearly every record
file, a flat mapping and `summary.yaml`, are read by a regex pass each (another ~2x);
the general reader takes the rest of the subset.
"""

from __future__ import annotations

from typing import Any

from gitexp.store.lazyre import lazy

FAIL: Any = object()
MAX_DEPTH = 100  # as yamlio.MAX_DEPTH: deeper documents go to the full loader, which refuses them

_CONSTANTS: dict[str, Any] = {
    "null": None, "Null": None, "NULL": None, "~": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan"),
    ".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"),
    "+.inf": float("inf"), "+.Inf": float("inf"), "+.INF": float("inf"),
    "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"),
}
_INT = r"-?(?:0|[1-9][0-9]*)"
_FRACTION = r"\.[0-9]+(?:[eE][-+]?[0-9]+)?|(?:\.[0-9]*)?[eE][-+]?[0-9]+"  # what makes an int text a float
_NUMBER = lazy(rf"{_INT}({_FRACTION})?\Z")  # an int, or (with its group) a float
_NUMBER_STARTS = frozenset("-0123456789")
_NONE: Any = object()
# Records repeat themselves (`count: 100`, `status: FINISHED`, the same keys): what a line
# or key read as is remembered, up to a bound, and only for short immutable values (a
# measured float like 0.6682583860975598 is rarely seen twice).
MAX_REMEMBERED = 50_000
_GOOD_KEYS: set[str] = set()  # keys seen to pass _good_key
_PAIRS: dict[str, tuple[str, Any]] = {}  # `key: scalar` line -> (key, value)
# A plain scalar that can only be a string: starts with an ASCII letter, `_`, `/` or a dash before a
# letter or dash (`--lr=0.1`, never a number), no `:` or `#`
# (mapping or comment indicators), no control characters, YAML line breaks or BOM, no trailing space.
_PLAIN = lazy(r"(?:[A-Za-z_/]|-[-A-Za-z_])(?:[^\x00-\x1f\x7f-\x9f:#\u2028\u2029\ufeff]*[^\x00-\x20\x7f-\x9f:#\u2028\u2029\ufeff])?\Z")  # noqa: E501 (one character class)
_VERSION = lazy(r"[0-9]+(?:\.[0-9]+){2,}\Z")  # 3.11.7: not a number in YAML 1.2, a string
_BODY = lazy(r"[^\x00-\x1f\x7f-\x9f:#\u2028\u2029\ufeff]*[^\x00-\x20\x7f-\x9f:#\u2028\u2029\ufeff]\Z")
_NOT_NUMERIC = lazy(r"[^0-9eE._+\-]")  # a character no YAML 1.2 number (or date) has
_KEY = lazy(_PLAIN.pattern.replace("|-[-A-Za-z_]", ""))
_ODD = lazy(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")  # in quotes: left to the full loader

# Two shapes cover nearly every record file and are read with one regex pass and a short loop:
# a flat mapping (run.yaml, params, tags: `key: scalar` lines, lists of scalars under a key), and
# summary.yaml as `summarize` writes it. Each line or entry is matched whole; anything else in
# the document (`bad`) sends it to the general reader below.
_KEY_TEXT = _KEY.pattern[:-2]
_FLAT_LINE = lazy(
    rf"(?:({_KEY_TEXT}):(?: |(?=\n))|(- ))"  # a key, or a list item
    rf"(?:({_INT}(?:{_FRACTION}))|({_INT})|({_PLAIN.pattern[:-2]})"  # float, int, plain string
    r"|('(?:[^'\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]|'')*')|([^\n]+))?\n"  # quoted, anything else
    r"|([^\n]*\n)")  # bad
_FLOAT_TEXT = rf"{_INT}(?:{_FRACTION})|\.nan|\.NaN|\.NAN|-?\.(?:inf|Inf|INF)"
_SUMMARY = lazy(rf"(?:{_KEY_TEXT}:\n  last: (?:{_FLOAT_TEXT})\n  step: {_INT}\n  min: (?:{_FLOAT_TEXT})\n"
                      rf"  max: (?:{_FLOAT_TEXT})\n  count: {_INT}\n)+")
_SUMMARY_ENTRY = lazy(rf"({_KEY_TEXT}):\n  last: (\S+)\n  step: (\S+)\n  min: (\S+)\n  max: (\S+)\n"
                            r"  count: (\S+)\n")


def parse(data: bytes | str) -> Any:
    """The document's value, or FAIL if it is outside the subset."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return FAIL
    if "\t" in text or "\r" in text:
        return FAIL
    try:
        if text[:1] not in " -" and "\n " not in text:
            return _flat(text if text.endswith("\n") else text + "\n")
        if _SUMMARY.fullmatch(text):
            return _summary(text)
    except _Abstain:
        pass
    return _general(text)


def _general(text: str) -> Any:
    """The whole subset: nested mappings, lists of scalars and of mappings."""
    lines: list[tuple[int, str]] = []
    for raw in text.split("\n"):
        if not raw:
            continue
        content = raw.lstrip(" ")
        if not content or content[0] in "#%-." and (content[0] in "#%" or content.startswith(("---", "..."))):
            return FAIL
        lines.append((len(raw) - len(content), content))
    if not lines:
        return None
    if len(lines) == 1 and lines[0][1] in ("{}", "[]"):
        return {} if lines[0][1] == "{}" else []
    if lines[0][0] != 0:
        return FAIL
    try:
        value, end = _node(lines, 0, 0, 0)
    except _Abstain:
        return FAIL
    return value if end == len(lines) else FAIL


class _Abstain(Exception):
    pass


def _flat(text: str) -> dict[str, Any]:
    """A mapping with nothing indented: `key: scalar` lines, and `- scalar` items after a bare `key:`."""
    out: dict[str, Any] = {}
    items: list[Any] | None = None
    bare = None  # the key of a bare `key:` line just read: its list starts with the next item
    for key, dash, f, i, p, q, other, bad in _FLAT_LINE.findall(text):
        if bad:
            raise _Abstain
        value = float(f) if f else int(i) if i else _CONSTANTS.get(p, p) if p else \
            q[1:-1].replace("''", "'") if q else _scalar(other) if other else _NONE
        if dash:
            if bare is not None:
                out[bare] = items = []
                bare = None
            if items is None or value is _NONE:
                raise _Abstain
            items.append(value)
            continue
        if key in out or key not in _GOOD_KEYS and not _good_key(key):
            raise _Abstain
        items = bare = None
        if value is _NONE:
            out[key], bare = None, key
        else:
            out[key] = value
    return out


def _summary(text: str) -> dict[str, dict[str, Any]]:
    """summary.yaml as `summarize` writes it (the whole text already matched `_SUMMARY`)."""
    entries = _SUMMARY_ENTRY.findall(text)
    out = {key: {"last": _float(last), "step": int(step), "min": _float(low), "max": _float(high),
                 "count": int(count)} for key, last, step, low, high, count in entries}
    if len(out) != len(entries) or not all(key in _GOOD_KEYS or _good_key(key) for key in out):
        raise _Abstain
    return out


def _float(text: str) -> float:
    return _CONSTANTS[text] if text[-1] in "nNfF" else float(text)


def _node(lines: list[tuple[int, str]], i: int, indent: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise _Abstain
    content = lines[i][1]
    if content[:2] == "- " or content == "-":
        return _sequence(lines, i, indent, depth)
    return _mapping(lines, i, indent, depth)


def _mapping(lines: list[tuple[int, str]], i: int, indent: int, depth: int) -> tuple[dict, int]:
    out: dict[str, Any] = {}
    n = len(lines)
    while i < n and lines[i][0] == indent:
        content = lines[i][1]
        known = _PAIRS.get(content)
        if known is not None:  # a `key: scalar` line read before
            if known[0] in out:
                raise _Abstain
            out[known[0]] = known[1]
            i += 1
            continue
        key, sep, rest = content.partition(": ")
        if not sep:
            if content[-1:] != ":":
                raise _Abstain
            key, rest = content[:-1], ""
        if key in out or key not in _GOOD_KEYS and not _good_key(key):
            raise _Abstain
        i += 1
        if rest:
            out[key] = value = _scalar(rest)
            if len(_PAIRS) < MAX_REMEMBERED and not isinstance(value, (dict, list)) and len(rest) < 12:
                _PAIRS[content] = (key, value)
        elif i < n and lines[i][0] > indent:
            out[key], i = _node(lines, i, lines[i][0], depth + 1)
        elif i < n and lines[i][0] == indent and (lines[i][1][:2] == "- " or lines[i][1] == "-"):
            out[key], i = _sequence(lines, i, indent, depth + 1)
        else:
            out[key] = None
    if i < n and lines[i][0] > indent:
        raise _Abstain
    return out, i


def _sequence(lines: list[tuple[int, str]], i: int, indent: int, depth: int) -> tuple[list, int]:
    out: list[Any] = []
    n = len(lines)
    while i < n and lines[i][0] == indent and (lines[i][1][:2] == "- " or lines[i][1] == "-"):
        item = lines[i][1][2:]
        if not item:
            i += 1
            if i < n and lines[i][0] > indent:
                value, i = _node(lines, i, lines[i][0], depth + 1)
            else:
                value = None
            out.append(value)
        elif item[0] not in "'\"" and (": " in item or item[-1] == ":"):
            # `- key: value`: a mapping whose first line starts after the dash
            lines[i] = (indent + 2, item)
            value, i = _mapping(lines, i, indent + 2, depth + 1)
            out.append(value)
        elif item[:2] == "- " or item == "-":
            raise _Abstain  # a list in a list: rare, left to the full loader
        else:
            out.append(_scalar(item))
            i += 1
    if i < n and lines[i][0] > indent:
        raise _Abstain
    return out, i


def _good_key(key: str) -> bool:
    """A plain key that reads back as this string; remembered (records repeat their keys)."""
    if _KEY.match(key) is None or key in _CONSTANTS:
        return False
    if len(_GOOD_KEYS) < MAX_REMEMBERED:
        _GOOD_KEYS.add(key)
    return True


def _scalar(text: str) -> Any:
    value = _CONSTANTS.get(text, _NONE)
    if value is not _NONE:
        return value
    first = text[0]
    if first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", "") or _ODD.search(inner):
            raise _Abstain
        return inner.replace("''", "'")
    if first == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner or _ODD.search(inner):
            raise _Abstain
        return inner
    if first in _NUMBER_STARTS:
        number = _NUMBER.match(text)
        if number:
            return int(text) if number.lastindex is None else float(text)
    if text in ("{}", "[]"):
        return {} if text == "{}" else []
    if _PLAIN.match(text) is None and _VERSION.match(text) is None and not _digit_word(text):
        raise _Abstain
    return text


def _digit_word(text: str) -> bool:
    """A plain scalar starting with a digit that no YAML 1.2 resolver takes for a number or a date.

    Run ids (`1m8n5bpe…`) and commit ids (`7059…a3…`) start with digits; a character
    outside digits, `e`, `.`, `_`, signs, and no `0x`/`0o`/`0b` prefix, makes them text.
    """
    return (text[0] in "0123456789" and text[:2].lower() not in ("0x", "0o", "0b")
            and _NOT_NUMERIC.search(text) is not None and _BODY.match(text) is not None)
