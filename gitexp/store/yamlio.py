"""Safe YAML reading and writing (ruamel.yaml; the C loader when installed).

ruamel is imported on first use (`_ruamel.py`): records gitexp wrote are read
by the fast reader, and `gitexp ls` on a warm cache parses no YAML at all.
"""

from __future__ import annotations

import io
from types import ModuleType

from gitexp.errors import CorruptRecord
from gitexp.lazyre import lazy

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Any

# Limits checked before any YAML reaches the parser: records come from other
# people's pushes, and ruamel's C parser recurses per nesting level (50,000
# brackets crash the process) while aliases can expand exponentially.
MAX_YAML_BYTES = 16 << 20
MAX_DEPTH = 100  # nesting levels (flow brackets, or block indentation steps)
MAX_ALIASES = 100  # `*alias` references; gitexp itself never writes any
MAX_NODES = 1_000_000  # values after alias expansion
FAST_MAX_BYTES = 1 << 20  # records up to this size try the fast reader first (no aliases: no expansion)
_ALIAS = lazy(rb"(?:^|[\s\[{,:?-])\*[^\s,\[\]{}]")
_ANCHOR = lazy(rb"(?:^|[\s\[{,:?-])&[^\s,\[\]{}]")


def load(data: bytes | str, what: str = "YAML") -> Any:
    """Parse YAML safely (no tags, no code); raise CorruptRecord on bad or oversized input."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    _prescan(raw, what)
    ruamel = _ruamel_module()
    try:
        value = ruamel.load(data)
    except ruamel.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptRecord(f"malformed {what}: {first}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:  # unhashable keys, bad dates
        raise CorruptRecord(f"malformed {what}: {type(exc).__name__}: {str(exc)[:80]}") from None
    _check_size(value, what)
    return value


def load_record(data: bytes | str, what: str) -> Any:
    """Parse a run record file: `load` plus only the types the format has.

    Mappings with string keys, lists, strings, numbers, booleans and null;
    anything else (timestamps, sets, complex or non-string keys) is CorruptRecord.
    """
    if len(data) <= FAST_MAX_BYTES:
        # What gitexp writes is read by a small strict reader; anything else (or
        # anything it is unsure of) goes through the full loader and its limits.
        from gitexp.store import yamlfast  # here: a warm listing parses no YAML, nor compiles its patterns

        value = yamlfast.parse(data)
        if value is not yamlfast.FAIL:
            return value
    value = load(data, what)
    _check_types(value, what)
    return value


def _prescan(raw: bytes, what: str) -> None:
    """Refuse input over the size, alias or depth limits, without parsing it."""
    if len(raw) > MAX_YAML_BYTES:
        raise CorruptRecord(f"{what} is {len(raw)} bytes, over the {MAX_YAML_BYTES >> 20} MiB limit for YAML")
    if raw.count(b"*") > MAX_ALIASES and len(_ALIAS.findall(raw)) > MAX_ALIASES:
        raise CorruptRecord(f"{what} uses more than {MAX_ALIASES} YAML aliases")
    if raw.count(b"&") > MAX_ALIASES and len(_ANCHOR.findall(raw)) > MAX_ALIASES:
        raise CorruptRecord(f"{what} defines more than {MAX_ALIASES} YAML anchors")
    depth = _flow_depth(raw) if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH else 0
    if depth > MAX_DEPTH or _block_depth(raw) > MAX_DEPTH:
        raise CorruptRecord(f"{what} is nested more than {MAX_DEPTH} levels deep")


def _flow_depth(raw: bytes) -> int:
    """The deepest bracket nesting outside quoted strings and comments (an upper bound)."""
    depth = deepest = 0
    quote = 0
    prev = 32
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if quote:
            if c == quote:
                if quote == 39 and i + 1 < n and raw[i + 1] == 39:
                    i += 1  # '' inside a single-quoted string
                else:
                    quote = 0
            elif c == 92 and quote == 34:
                i += 1  # a backslash escape in a double-quoted string
        elif c in (34, 39) and prev in b" \t\n[{,:-?":
            quote = c
        elif c == 35 and prev in b" \t\n":  # a comment runs to the end of the line
            end = raw.find(b"\n", i)
            i = n if end < 0 else end
            c = 10
        elif c in (91, 123):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (93, 125):
            depth = max(depth - 1, 0)
        prev = c
        i += 1
    return deepest


def _block_depth(raw: bytes) -> int:
    """An upper bound of block nesting: a new level needs a deeper indent or a `- ` / `? ` marker."""
    deepest = 0
    for line in raw.splitlines():
        body = line.lstrip(b" ")
        markers = 0
        while body[:2] in (b"- ", b"? ", b"-\t"):
            markers += 1
            body = body[2:].lstrip(b" ")
        deepest = max(deepest, (len(line) - len(body)) // 2 + markers)
    return deepest


def _check_size(value: Any, what: str) -> None:
    """Refuse documents whose aliases expand beyond MAX_NODES values (billion laughs)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)) or (id(node) in sizes and not done):
            continue
        children = list(node.items()) if isinstance(node, dict) else node
        items = [v for pair in children for v in pair] if isinstance(node, dict) else children
        if not done:
            sizes[id(node)] = -1  # in progress (a recursive alias is a cycle: count it once)
            stack.append((node, True))
            stack.extend((v, False) for v in items)
            continue
        total = 1 + sum(max(sizes.get(id(v), 1), 1) if isinstance(v, (dict, list)) else 1 for v in items)
        if total > MAX_NODES:
            raise CorruptRecord(f"{what} expands to more than {MAX_NODES} values (YAML aliases)")
        sizes[id(node)] = total


def _check_types(value: Any, what: str, path: str = "") -> None:
    """Only plain data: str-keyed mappings, lists and scalars."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise CorruptRecord(f"malformed {what}: key {key!r:.40} at {where or 'top level'} is a "
                                        f"{type(key).__name__}, not a string")
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{n}]") for n, child in enumerate(node))
        elif node is not None and not isinstance(node, (str, int, float, bool)):
            raise CorruptRecord(f"malformed {what}: {where or 'the document'} is a {type(node).__name__} "
                                "(quote dates and other values as strings)")


def dump(obj: Any) -> bytes:
    """Serialise plain data (dicts, lists, scalars) as block-style YAML bytes.

    The common shapes are written by `yamlemit` (the same bytes, without loading ruamel).
    """
    from gitexp.store import yamlemit  # here: reading commands never write YAML

    data = _plain(obj)
    fast = yamlemit.dump(data)
    if fast is not None:
        return fast
    buf = io.StringIO()
    _ruamel_module().dumper.dump(data, buf)
    return buf.getvalue().encode()


def _plain(obj: Any) -> Any:
    """Convert numpy scalars, tuples and other odd types into YAML-safe plain data."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return _plain(obj.item())
    return str(obj)


def roundtrip_set(text: str, updates: dict[str, Any]) -> tuple[str, Any]:
    """Apply dotted-key updates to a YAML document, keeping comments and key order.

    Returns the new text and the resulting data as plain Python objects.
    """
    rt = _ruamel_module().YAML()  # round-trip mode; loading is still safe (no arbitrary tags)
    rt.preserve_quotes = True
    doc = rt.load(text) if text.strip() else None
    if doc is None:
        doc = rt.load("{}")
    for dotted, value in updates.items():
        node = doc
        *parents, last = dotted.split(".")
        for part in parents:
            if part not in node or not isinstance(node[part], dict):
                node[part] = {}
            node = node[part]
        node[last] = value
    out = io.StringIO()
    rt.dump(doc, out)
    new_text = out.getvalue()
    return new_text, load(new_text, "params file")


def _ruamel_module() -> ModuleType:
    from gitexp.store import _ruamel

    return _ruamel
