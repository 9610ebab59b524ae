"""A fast writer for the YAML gitexp writes most: the same bytes as ruamel's block dumper, or FAIL.

Every run start and end writes five small YAML files; ruamel takes tens of
milliseconds to import and a few to dump each. Plain data of the common shapes
(str-keyed mappings, lists, None, bools, ints, floats, and strings that are
plain or single-quoted printable ASCII) is written here exactly as
`yamlio.dump`'s ruamel dumper writes it (YAML 1.2, block style, width 4096).
Anything else returns FAIL and goes to ruamel, so the bytes never depend on
which writer ran (tests/test_yamlemit.py compares them).
"""

from __future__ import annotations

import re

from gitexp.lazyre import lazy

FAIL = None
MAX_KEY = 100  # ruamel writes keys over 128 characters as complex keys (`? key`): left to it

# ruamel's YAML 1.2 implicit resolvers (ruamel/yaml/resolver.py): the words of its bool, merge, null
# and value resolvers, and the patterns of the others with the first characters that select each
# and every character a match can hold (compiled on first use: most strings, such as run ids, are
# ruled out by their characters, and a run start compiles only the patterns some value needs).
_WORDS = frozenset(("true", "True", "TRUE", "false", "False", "FALSE", "<<", "~", "null", "Null", "NULL", "="))
_RESOLVED = [(lazy(pattern, re.X), first, frozenset(chars)) for pattern, first, chars in (
    (r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", "-+0123456789.", "-+0123456789._eEinfINFaA"),
    (r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$", "-+0123456789",
     "-+0123456789_boxabcdefABCDEF"),
    (r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[\ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
        (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", "0123456789", "0123456789-:.Tt \tZ+"),
)]
# Strings written plain: no indicator first, no `: ` or ` #`, nothing that needs quoting, inner spaces only.
_PLAIN = lazy(r"(?:[A-Za-z0-9_/]|--?[A-Za-z0-9_])(?:[A-Za-z0-9_./=+, -]*[A-Za-z0-9_./=+,-])?", re.ASCII)
MAX_TEXT = 1000  # longer strings with spaces may be folded at ruamel's width: left to it
_QUOTABLE = lazy(r"[!-~](?:[ -~]*[!-~])?", re.ASCII)  # printable ASCII, no space at either end


def dump(value: object) -> bytes | None:
    """`value` (a dict or a list) as ruamel would write it, or FAIL when it is not sure."""
    lines: list[str] = []
    if isinstance(value, dict) and value:
        ok = _mapping(value, "", lines)
    elif isinstance(value, list) and value:
        ok = _sequence(value, "", lines)
    elif isinstance(value, (dict, list)):
        return b"{}\n" if isinstance(value, dict) else b"[]\n"
    else:
        return FAIL  # a scalar document ends with `...`: rare, left to ruamel
    if not ok:
        return FAIL
    lines.append("")
    return "\n".join(lines).encode()


def _mapping(value: dict, indent: str, lines: list[str]) -> bool:
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > MAX_KEY:
            return False
        text = _scalar(key)
        if text is None or not _block(f"{indent}{text}:", item, indent + "  ", indent, lines):
            return False
    return True


def _sequence(value: list, indent: str, lines: list[str]) -> bool:
    return all(_block(f"{indent}-", item, indent + "  ", indent + "  ", lines, first_inline=True) for item in value)


def _block(lead: str, item: object, nested: str, seq_indent: str, lines: list[str],
           first_inline: bool = False) -> bool:
    """One entry: `lead value` for a scalar or an empty collection, else `lead` and the block below it.

    A list item's mapping or list starts on its `- ` line (`first_inline`).
    """
    if isinstance(item, (dict, list)) and item:
        start = len(lines)
        ok = _mapping(item, nested, lines) if isinstance(item, dict) else _sequence(item, seq_indent, lines)
        if not ok:
            return False
        if first_inline:
            lines[start] = f"{lead} {lines[start][len(nested):]}"
        else:
            lines.insert(start, lead)
        return True
    text = _scalar(item)
    if text is None:
        return False
    lines.append(f"{lead} {text}")
    return True


def _scalar(value: object) -> str | None:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float:
        return _float(value)  # type: ignore[arg-type]
    if kind is dict or kind is list:
        return "{}" if kind is dict else "[]"  # empty (a full one is a block)
    if kind is str:
        return _string(value)  # type: ignore[arg-type]
    return None


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    return repr(value).lower()


def _string(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        return None
    if _PLAIN.fullmatch(text) and not _resolves(text):
        return text
    if text == "" or (_QUOTABLE.fullmatch(text) and (_resolves(text) or not _plain_possible(text))):
        return "'" + text.replace("'", "''") + "'"
    return None


def _resolves(text: str) -> bool:
    """Whether a plain `text` would read back as something other than a string."""
    if text in _WORDS:
        return True
    first, used = text[:1], set(text)
    return any(first in firsts and used <= chars and pattern.match(text) for pattern, firsts, chars in _RESOLVED)


def _plain_possible(text: str) -> bool:
    """Whether ruamel might write `text` plain (then it is left to ruamel): only sure cases say no."""
    return not (text[0] in "#&*!|>%@`\"'{[" or ": " in text or " #" in text or text.endswith(":")
                or text in ("-", "?", ":") or text.startswith(("- ", "? ", ": ", "---", "...")))
