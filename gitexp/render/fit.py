"""Fit text tables to a terminal width: wrap long cells, then split wide tables by columns.

A table wider than the terminal is first narrowed by wrapping its longest cells onto
more lines (the widest columns give way first, none below `MIN_WIDTH`); if it is still
too wide (`gitexp compare` of many runs), its columns are split into several tables
that each repeat the first `keep` columns, as pandas prints a wide frame. Nothing is
cut: every character of every value is still shown.
"""

from __future__ import annotations

import textwrap

from gitexp.render.tables import Styled, Table, cell_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

MIN_WIDTH = 10  # a column is never wrapped narrower than this
GAP = 2  # tabulate's "simple" format: two spaces between columns
HEADER_PAD = 2


def fit_tables(tables: list[Table], width: int, keep: int = 1) -> list[Table]:
    """Each table made to fit `width` columns (titled tables are indented by 2 when printed)."""
    out: list[Table] = []
    for t in tables:
        out += fit_table(t, width - (2 if t.title else 0), keep)
    return out


def fit_table(table: Table, width: int, keep: int = 1) -> list[Table]:
    """`table` wrapped (and, if need be, split by columns) to at most `width` characters."""
    if not table.rows:
        return [table]
    widths = _widths(table)
    if _total(widths) <= width:
        return [table]
    caps = _caps(widths, width)
    if _total([min(w, c) for w, c in zip(widths, caps)]) <= width:
        return [_wrapped(table, caps)]
    parts = _split(table, widths, width, keep)
    return [_wrapped(p, _caps(_widths(p), width)) if _total(_widths(p)) > width else p for p in parts]


def _widths(table: Table) -> list[int]:
    """Printed column widths: tabulate pads every header by 2 (its MIN_PADDING)."""
    cols = list(zip(*[[cell_text(c) for c in row] for row in table.rows]))
    return [max([len(line) for text in col for line in text.split("\n")] + [_longest(h) + HEADER_PAD])
            for h, col in zip(table.headers, cols)]


def _longest(text: str) -> int:
    return max(len(line) for line in str(text).split("\n"))


def _total(widths: list[int]) -> int:
    return sum(widths) + GAP * (len(widths) - 1)


def _caps(widths: list[int], width: int) -> list[int]:
    """The largest common cap (≥ MIN_WIDTH) that makes the columns fit: the widest give way first."""
    lo, hi = MIN_WIDTH, max(widths)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _total([min(w, mid) for w in widths]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return [lo] * len(widths)


def _wrapped(table: Table, caps: list[int]) -> Table:
    return table.replace(headers=[_wrap(h, max(c - HEADER_PAD, 1)) for h, c in zip(table.headers, caps)],
                         rows=[[_wrap(cell, c) for cell, c in zip(row, caps)] for row in table.rows])


def _wrap(cell: Any, cap: int) -> Any:
    text = cell.text if isinstance(cell, Styled) else str(cell)
    if len(text) <= cap:
        return cell
    lines = textwrap.wrap(text, cap, break_long_words=True, break_on_hyphens=False,
                          replace_whitespace=False, drop_whitespace=True) or [text]
    wrapped = "\n".join(lines)
    return Styled(wrapped, cell.style) if isinstance(cell, Styled) else wrapped


def _split(table: Table, widths: list[int], width: int, keep: int) -> list[Table]:
    """Column groups that each fit `width` (at MIN_WIDTH per wide column), repeating the first `keep`."""
    capped = [min(w, MIN_WIDTH) if w > MIN_WIDTH else w for w in widths]
    fixed = list(range(min(keep, len(widths))))
    groups: list[list[int]] = []
    current: list[int] = []
    for i in range(len(fixed), len(widths)):
        if current and _total([capped[j] for j in fixed + current + [i]]) > width:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    parts = []
    for n, group in enumerate(groups):
        cols = fixed + group
        title = table.title if n == 0 else (f"{table.title} (continued)" if table.title else "")
        parts.append(Table(title, [table.headers[i] for i in cols], [[row[i] for i in cols] for row in table.rows],
                           table.empty, table.after if n == len(groups) - 1 else []))
    return parts
