"""A fast reader for the block-style YAML subset gitexp itself writes, or FAIL.

Cold listing parses four small YAML files per run; ruamel's constructor was 64 %
of a cold `gitexp ls --all`. gitexp's writer only emits block mappings and
sequences, plain scalars, simple quoted strings and `[]`/`{}`: this module reads
exactly that, ~15x faster, and returns FAIL for anything else (flow collections,
anchors, tags, comments, escapes, multi-line scalars, duplicate keys, timestamps,
odd numbers…), which the caller then hands to the full safe loader with its limits
and typed checks. So its result is always what ruamel's would be, or it abstains
(tests compare the two on generated records). The two shapes of nearly every record
file are read apart: a flat mapping line by line (lines seen before are remembered),
`summary.yaml` by one regex pass; the general reader takes the rest of the subset.
Patterns are compiled on the first parse, so importing this module costs nothing.
"""

from __future__ import annotations

import re
from json import loads as json_loads
from json.encoder import encode_basestring_ascii  # the C encoder

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

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
_NUMBER_STARTS = frozenset("-0123456789")
_JSON_STARTS = frozenset("-0123456789tfn[{")  # what a JSON value other than a string starts with
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
_PLAIN_TEXT = r"(?:[A-Za-z_/]|-[-A-Za-z_])(?:[^\x00-\x1f\x7f-\x9f:#\u2028\u2029\ufeff]*[^\x00-\x20\x7f-\x9f:#\u2028\u2029\ufeff])?"  # noqa: E501 (one character class)
_KEY_TEXT = _PLAIN_TEXT.replace("|-[-A-Za-z_]", "")
_FLOAT_TEXT = rf"{_INT}(?:{_FRACTION})|\.nan|\.NaN|\.NAN|-?\.(?:inf|Inf|INF)"

# The patterns are compiled on the first parse (`_compile`), not at import: compiling them
# costs ~10 ms, which every command importing this module (`gitexp run`) would pay for nothing.
_compiled = False
_NUMBER: re.Pattern[str]  # an int, or (with its group) a float
_PLAIN: re.Pattern[str]
_KEY: re.Pattern[str]
_VERSION: re.Pattern[str]  # 3.11.7: not a number in YAML 1.2, a string
_BODY: re.Pattern[str]
_NOT_NUMERIC: re.Pattern[str]  # a character no YAML 1.2 number (or date) has
_ODD: re.Pattern[str]  # in quotes: left to the full loader
# summary.yaml as `summarize` writes it: the whole document checked by one match, then its entries read.
_SUMMARY: re.Pattern[str]
_SUMMARY_ENTRY: re.Pattern[str]


def _compile() -> None:
    global _compiled, _NUMBER, _PLAIN, _KEY, _VERSION, _BODY, _NOT_NUMERIC, _ODD, _SUMMARY, _SUMMARY_ENTRY
    _NUMBER = re.compile(rf"{_INT}({_FRACTION})?\Z")
    _PLAIN = re.compile(_PLAIN_TEXT + r"\Z")
    _KEY = re.compile(_KEY_TEXT + r"\Z")
    _VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){2,}\Z")
    _BODY = re.compile(r"[^\x00-\x1f\x7f-\x9f:#\u2028\u2029\ufeff]*[^\x00-\x20\x7f-\x9f:#\u2028\u2029\ufeff]\Z")
    _NOT_NUMERIC = re.compile(r"[^0-9eE._+\-]")
    _ODD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
    _SUMMARY = re.compile(rf"(?:{_KEY_TEXT}:\n  last: (?:{_FLOAT_TEXT})\n  step: {_INT}\n  min: (?:{_FLOAT_TEXT})\n"
                          rf"  max: (?:{_FLOAT_TEXT})\n  count: {_INT}\n)+")
    _SUMMARY_ENTRY = re.compile(rf"({_KEY_TEXT}):\n  last: (\S+)\n  step: (\S+)\n  min: (\S+)\n  max: (\S+)\n"
                                r"  count: (\S+)\n")
    _compiled = True


def parse(data: bytes | str) -> Any:
    """The document's value, or FAIL if it is outside the subset."""
    if not _compiled:
        _compile()
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return FAIL
    if "\t" in text or "\r" in text:
        return FAIL
    try:
        if text[:1] not in " -" and "\n " not in text:
            shaped = _json_shaped(text)
            return shaped[1] if shaped else _flat(text if text.endswith("\n") else text + "\n")
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
    lines = text.split("\n")
    if lines.pop():
        raise _Abstain  # no final line break (parse adds one)
    for line in lines:
        if line[:2] == "- ":
            if bare is not None:
                out[bare] = items = []
                bare = None
            if items is None or line == "- ":
                raise _Abstain
            items.append(_scalar(line[2:]))
            continue
        key, value = _pair(line)
        if key in out:
            raise _Abstain
        items = bare = None
        if value is _NONE:
            out[key], bare = None, key
        else:
            out[key] = value
    return out


def flat_json(data: bytes) -> str | None:
    """JSON of a flat mapping whose values are all spelled as JSON spells them (numbers, true,
    false, null, [] and {}: params.yaml of numbers), whose `json.loads` is what `parse` gives; else None."""
    if not _compiled:
        _compile()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    shaped = _json_shaped(text) if text[:1] not in " -" and "\n " not in text else None
    return shaped[0] if shaped else None


def _json_shaped(text: str) -> tuple[str, dict[str, Any]] | None:
    """(JSON, value) of a flat mapping of JSON-spelled values, made by string methods and checked by
    `json.loads` in C; None otherwise (text with quotes or escapes, strings, NaN, flow collections).

    Without quotes, brackets or a second `: ` on a line, JSON that parses with one key per
    line has each line as `key: value`; its keys are then checked as YAML keys.
    """
    lines, first = text.count("\n"), text.find(": ") + 2
    if (text[-1:] != "\n" or text[first:first + 1] not in _JSON_STARTS or text.count(": ") != lines
            or '"' in text or "\\" in text or "NaN" in text or "Infinity" in text
            or text.count("[") != text.count("[]") or text.count("{") != text.count("{}")):
        return None
    shaped = '{"' + text[:-1].replace(": ", '": ').replace("\n", ', "') + "}"
    try:
        value = json_loads(shaped)
    except ValueError:
        return None
    if len(value) != lines or not (_GOOD_KEYS.issuperset(value) or all(map(_good_key, value))):
        return None
    return shaped, value


def _pair(line: str) -> tuple[str, Any]:
    """(key, value) of a `key: scalar` line, value _NONE for a bare `key:`; remembered when short."""
    known = _PAIRS.get(line)
    if known is not None:
        return known
    key, sep, rest = line.partition(": ")
    if not sep or not rest:
        if not sep and line[-1:] != ":":
            raise _Abstain
        key, rest = line[:-1] if not sep else key, ""
    if key not in _GOOD_KEYS and not _good_key(key):
        raise _Abstain
    if not rest:
        return key, _NONE
    value = _scalar(rest)
    if len(_PAIRS) < MAX_REMEMBERED and len(rest) < 12 and not isinstance(value, (dict, list)):
        _PAIRS[line] = (key, value)
    return key, value


def _summary(text: str) -> dict[str, dict[str, Any]]:
    """summary.yaml as `summarize` writes it (the whole text already matched `_SUMMARY`)."""
    entries = _SUMMARY_ENTRY.findall(text)
    out = {key: {"last": _float(last), "step": int(step), "min": _float(low), "max": _float(high),
                 "count": int(count)} for key, last, step, low, high, count in entries}
    if len(out) != len(entries) or not all(key in _GOOD_KEYS or _good_key(key) for key in out):
        raise _Abstain
    return out


def summary_json(data: bytes) -> tuple[str, str] | Any:
    """(JSON of summary.yaml, JSON of each metric's last value) if it has the shape `summarize`
    writes, else FAIL: `json.loads` of each gives what `parse` gives (and its `last` values).

    The numbers keep their YAML text where JSON reads it as the same number, so a cold
    listing never turns its 30 floats a run back into text: float repr was most of the
    cost of encoding a summary.
    """
    if not _compiled:
        _compile()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FAIL
    if not _SUMMARY.fullmatch(text):
        return FAIL
    entries = _SUMMARY_ENTRY.findall(text)
    if len({e[0] for e in entries}) != len(entries) or not all(e[0] in _GOOD_KEYS or _good_key(e[0]) for e in entries):
        return FAIL
    names = [encode_basestring_ascii(e[0]) for e in entries]
    summary = ", ".join(f'{name}: {{"last": {_json_float(last)}, "step": {step}, "min": {_json_float(low)},'
                        f' "max": {_json_float(high)}, "count": {count}}}'
                        for name, (_, last, step, low, high, count) in zip(names, entries))
    return f"{{{summary}}}", f"{{{', '.join(f'{n}: {_json_float(e[1])}' for n, e in zip(names, entries))}}}"


def _json_float(text: str) -> str:
    """JSON for a float's YAML text (as `_FLOAT_TEXT` has it): the text itself unless JSON
    spells it otherwise (nan, inf, a point before the exponent: `1.e5`)."""
    if text[-1] in "nNfF":
        return "NaN" if text[-1] in "nN" else "-Infinity" if text[0] == "-" else "Infinity"
    return text if ".e" not in text and ".E" not in text else repr(float(text))


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
        key, value = _pair(lines[i][1])
        if key in out:
            raise _Abstain
        i += 1
        if value is not _NONE:
            out[key] = value
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
