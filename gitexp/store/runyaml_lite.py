"""`run.yaml` as gitexp writes it, read without a YAML library (for git hooks).

Importing ruamel costs a commit more than reading a few records. gitexp writes
run.yaml in a small, regular subset of YAML: top-level `key: scalar` lines and
block lists of scalars. `run_fields` reads exactly that subset and answers
`FALLBACK` for anything else (comments, anchors, tags, flow collections, nested
mappings, multi-line or escaped scalars, numbers other than plain integers,
timestamps), so the caller hands that record to the real loader
(`RunInfo.from_yaml`): the result is always the one the real loader gives.
The checks mirror `record.RunInfo.from_yaml` (tests keep the two in agreement).
"""

from __future__ import annotations

import re

from gitexp.store.gitlite import _B32, ID_LENGTH, is_run_id
from gitexp.lazyre import lazy

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: git hooks import this module
if TYPE_CHECKING:
    from typing import Any


FALLBACK = object()  # not in the subset: use the YAML loader
FORMAT = 1  # record.FORMAT
MAX_YAML_BYTES = 16 << 20  # yamlio.MAX_YAML_BYTES
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")  # record.STATUSES
_TEXT = ("id", "name", "experiment", "status", "start_time", "user", "host", "gitexp_version", "python_version")
_OPTIONAL_TEXT = ("end_time", "baseline", "branch", "parent_run", "description")
FIELDS = _TEXT + _OPTIONAL_TEXT + ("command", "exit_code", "dirty", "skipped")  # RunInfo's fields

_KEY = re.compile(r"([a-z_][a-z0-9_]*):(?: (.*))?")
_ITEM = re.compile(r"( *)- (.*)")
_NULL = re.compile(r"~|null|Null|NULL")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
# What ruamel's YAML 1.2 resolver reads as a float, an int or a timestamp (ruamel.yaml.resolver).
_SPECIAL = [re.compile(p, re.X) for p in (
    r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)""",
    r"""[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+""",
    r"""[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
    (?:[Tt]|[ \t]+)[0-9][0-9]?
    :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
    (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?""",
    r"<<|=",
)]
_ODD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ufeff\ud800-\udfff\ufffe\uffff\u2028\u2029]")  # loader's business
_NOT_KEYS = {"null", "true", "false"}  # keys YAML reads as null or booleans (non-string keys)
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


# run.yaml as gitexp writes it, every value plain or simply quoted: read by one match (`canonical`).
_C = r"[^\x00-\x1f\x7f-\x9f:#\"'\\\u2028\u2029\ufeff\ufffe\uffff]"  # in a plain string: no indicator, quote...
_L = _C.replace("x1f", "x20")  # ...and as its last character, no space
_PLAIN = (r"(?!(?:null|Null|NULL|true|True|TRUE|false|False|FALSE)\n)(?:[A-Za-z_/]|-[-A-Za-z_])"
          rf"(?:{_C}*{_L})?|[0-9]+(?:\.[0-9]+){{2,}}")  # text that YAML reads as a string; versions (3.11.7)
_STR = rf"{_PLAIN}|'{_C.replace(':#', '')}*'"  # or single-quoted without quotes in it
_B32_CLASS = f"[{''.join(sorted(_B32))}]{{{ID_LENGTH}}}"
_HEX = "(?!0b)(?=[0-9e]*[a-df])"  # hex that YAML reads as a string: a letter, and not a binary number
_SHAPES = {  # field kind: its value's pattern
    "text": _STR, "or_null": rf"{_STR}|null", "format": str(FORMAT), "status": "|".join(STATUSES),
    "id": rf"(?!0[bx])(?=[0-9e]*[^0-9e\n]){_B32_CLASS}|'{_B32_CLASS}'",  # a letter: not a number
    "command": rf" \[\]|(?:\n- (?:{_STR}))+", "exit_code": "-?(?:0|[1-9][0-9]{0,8})|null",
    "baseline": rf"{_HEX}(?:[0-9a-f]{{40}}|[0-9a-f]{{64}})|'(?:[0-9a-f]{{40}}|[0-9a-f]{{64}})'|null",
    "dirty": "true|false", "skipped": r"\[\]",
}
# RunInfo's fields in the order gitexp writes them; each may be absent but id and status.
_CANONICAL = (("format", "format"), ("id", "id"), ("name", "text"), ("experiment", "text"), ("status", "status"),
              ("start_time", "text"), ("end_time", "or_null"), ("user", "text"), ("host", "text"),
              ("command", "command"), ("exit_code", "exit_code"), ("baseline", "baseline"), ("branch", "or_null"),
              ("dirty", "dirty"), ("skipped", "skipped"), ("gitexp_version", "text"), ("python_version", "text"),
              ("parent_run", "or_null"), ("description", "or_null"))


def _line(key: str, kind: str) -> str:
    """The pattern of one `canonical` line, its value a group; optional but for id and status."""
    line = f"{key}:{'' if kind == 'command' else ' '}({_SHAPES[kind]})\n"  # a list's items start on the next line
    return line if key in ("id", "status") else f"(?:{line})?"


_CANONICAL_RE = lazy("".join(_line(key, kind) for key, kind in _CANONICAL))


def canonical(text: str) -> dict[str, Any] | None:
    """run.yaml's fields as `RunInfo.from_yaml` reads them (as `run_fields` returns them) if the
    record has exactly the shape gitexp writes: known keys in their order, plain or simply quoted
    values. None for anything else.

    One match reads the whole record (a cold listing reads 10,000): no value is parsed alone.
    """
    found = _CANONICAL_RE.fullmatch(text)
    if found is None:
        return None
    known: dict[str, Any] = {}
    for (key, kind), raw in zip(_CANONICAL, found.groups()):
        if raw is None or key == "format":
            continue
        if kind in ("text", "id", "status") or raw != "null" and kind in ("or_null", "baseline"):
            known[key] = raw[1:-1] if raw[0] == "'" else raw
        else:
            known[key] = _typed(kind, raw)
    for key in ("name", "experiment", "start_time"):
        known[key] = known.get(key) or ""
    return known


def _typed(kind: str, raw: str) -> Any:
    """The value of a `canonical` field other than a string, from its text."""
    if raw == "null":
        return None
    if kind == "command":
        return [item[1:-1] if item[0] == "'" else item for item in raw[3:].split("\n- ")] if raw != " []" else []
    if kind == "exit_code":
        return int(raw)
    return raw == "true" if kind == "dirty" else []  # dirty, or skipped (always [])


class Corrupt(Exception):
    """What the real loader rejects as a malformed run.yaml (the hook then skips the run)."""


def _scalar(text: str) -> Any:
    if text[:1] == "'":
        if len(text) < 2 or text[-1] != "'" or "'" in text[1:-1].replace("''", ""):
            return FALLBACK
        return text[1:-1].replace("''", "'")
    if text[:1] == '"':
        if len(text) < 2 or text[-1] != '"' or '"' in text[1:-1] or "\\" in text:
            return FALLBACK
        return text[1:-1]
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if not text or text != text.strip() or ": " in text or " #" in text or text.endswith(":"):
        return FALLBACK
    if text[0] in _INDICATORS and not (text[0] in "-?:" and len(text) > 1 and text[1] != " " and text[:3] != "---"):
        return FALLBACK  # `-x`, `--lr`, `?x`, `:x` are plain text (command arguments); others are syntax
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        return int(text)
    if any(p.fullmatch(text) for p in _SPECIAL):  # a number, a timestamp or a merge key to YAML: leave it to the loader
        return FALLBACK
    return text


def _parse(text: str) -> dict[str, Any] | object:
    doc: dict[str, Any] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        m = _KEY.fullmatch(lines[i])
        if m is None or m.group(1) in doc or m.group(1) in _NOT_KEYS:
            return FALLBACK
        key, raw = m.group(1), m.group(2)
        i += 1
        if raw is None or raw == "":
            items = []
            indent = None
            while i < len(lines) and (im := _ITEM.fullmatch(lines[i])) is not None:
                if indent is None:
                    indent = im.group(1)
                elif im.group(1) != indent:
                    return FALLBACK
                value = _scalar(im.group(2))
                if value is FALLBACK or isinstance(value, (list, dict)):
                    return FALLBACK
                items.append(value)
                i += 1
            if raw == "" and not items:
                return FALLBACK  # `key: ` with a trailing space: leave such spelling to the loader
            doc[key] = items if items else None
        else:
            value = _scalar(raw)
            if value is FALLBACK:
                return FALLBACK
            doc[key] = value
    return doc


def _field(key: str, value: Any) -> Any:
    """record._field: a known field, type-checked; Corrupt when the loader would refuse it."""
    if key in _TEXT or key in _OPTIONAL_TEXT:
        if value is None and key in _OPTIONAL_TEXT:
            return None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif key == "command":
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v) for v in value]
    elif key == "exit_code":
        if value is None or (type(value) is int and abs(value) < 1 << 31):
            return value
    elif key == "dirty":
        if isinstance(value, bool):
            return value
    elif key == "skipped":
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
    raise Corrupt(key)


def run_fields(data: bytes) -> dict[str, Any] | object:
    """run.yaml's known fields, checked as `RunInfo.from_yaml` checks them; `FALLBACK` outside
    the subset. Raises Corrupt for a record the loader refuses (malformed or of a newer format)."""
    if len(data) > MAX_YAML_BYTES:
        raise Corrupt("size")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FALLBACK
    if not text or _ODD.search(text):
        return FALLBACK
    raw = _parse(text)
    if raw is FALLBACK:
        return FALLBACK
    assert isinstance(raw, dict)
    version = raw.get("format", FORMAT)
    if type(version) is not int or not 1 <= version <= FORMAT:
        raise Corrupt("format")
    if raw.get("status") not in STATUSES:
        raise Corrupt("status")
    known = {k: _field(k, raw[k]) for k in FIELDS if k in raw}
    for key in ("id", "name", "experiment", "start_time"):
        known[key] = known.get(key) or ""
    if not is_run_id(known["id"]):
        raise Corrupt("id")
    return known
