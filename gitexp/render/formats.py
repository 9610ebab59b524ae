"""Every value formatter in one place: cells, numbers side by side, times, sizes, changes.

Records come from teammates' pushes, so every text shown to a terminal passes
through `escape_controls` first: a tag value holding an escape sequence is
shown as `\\033]0;x\\a`, never sent to the terminal raw. The functions here are
pure (no click, no printing), so the CLI, the web UI and exports share them.
"""

from __future__ import annotations

import json
import math
import re
import time

from gitexp.store.record import iso_from_ms

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

# C0 controls but tab and newline (harmless, and tables lay them out), DEL, and C1 controls
# (U+009B is a one-character CSI on some terminals).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\a": "\\a", "\b": "\\b", "\v": "\\v", "\f": "\\f", "\r": "\\r"}


def escape_controls(text: str) -> str:
    """`text` with control characters escaped C-style as git quotes paths (`\\033`, `\\a`).

    Idempotent: the escaped form holds no control character.
    """
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\{ord(m.group()):03o}"), text)


def escape_all(text: str) -> str:
    """Like `escape_controls`, but also newlines and tabs (one-line fields such as names)."""
    return escape_controls(text).replace("\t", "\\t").replace("\n", "\\n")


def fmt_value(value: Any, width: int = 24) -> str:
    """A compact, readable cell: 4 significant digits for floats, long text cut."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = f"{value:.4g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
    else:
        text = escape_controls(str(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def fmt_values(values: list[Any], present: list[bool] | None = None, width: int = 40) -> list[str]:
    """Cells for values shown next to each other: floats get just enough digits
    to tell apart values that differ (0.1234 vs 0.12341); absent is '-', null 'null'."""
    present = present if present is not None else [True] * len(values)
    floats = [v for v, p in zip(values, present) if p and isinstance(v, float) and math.isfinite(v)]
    digits = 4
    while digits < 17 and len({f"{v:.{digits}g}" for v in floats}) < len(set(floats)):
        digits += 1
    out = []
    for v, p in zip(values, present):
        if not p:
            out.append("-")
        elif v is None:
            out.append("null")
        elif isinstance(v, float) and math.isfinite(v):
            out.append(f"{v:.{digits}g}")
        else:
            out.append(fmt_value(v, width))
    return out


def fmt_raw(value: Any, present: bool = True) -> str:
    """The exact value as text (CSV): floats round-trip, absent and null are empty."""
    if not present or value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return escape_controls(str(value))


def fmt_time(ms: int | None) -> str:
    """Local time, short: `05-14 09:30` this year, `2023-05-14` before."""
    if ms is None:
        return "-"
    when = time.localtime(ms / 1000)  # (time, not datetime: `gitexp ls` need not import it)
    return time.strftime("%m-%d %H:%M" if when.tm_year == time.localtime().tm_year else "%Y-%m-%d", when)


def fmt_iso(ms: int | None) -> str:
    """ISO 8601 UTC with milliseconds (exact, for CSV); empty when unknown."""
    return iso_from_ms(ms) or ""  # as run.yaml writes times


def fmt_duration(seconds: float | None) -> str:
    """`4.2s`, `3m07s`, `2h05m`; '-' when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_size(n: Any) -> str:
    """`512 B`, `1.5 KiB`, … up to GiB; `? B` when the size is not a number."""
    if not isinstance(n, int):
        return "? B"
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def fmt_abs(delta: float | None) -> str:
    """An absolute change with its sign (`+0.05`); `n/a` when there is none."""
    return "n/a" if delta is None else f"{delta:+.4g}"


def fmt_rel(rel: float | None) -> str:
    """A relative change as a signed percentage (`+12.5%`); `n/a` when there is none."""
    return "n/a" if rel is None else f"{rel * 100:+.3g}%"
