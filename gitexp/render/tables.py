"""The table model (`Table`, `Styled`, `Block`) and its renderers: text, Markdown, CSV, JSON.

Commands build a list of `Table`s once; these functions turn them into one
string each. Text output styles cells through a styling function (ANSI codes
by default; the CLI drops them when stdout is not a colour terminal). Every
cell, title and block line is passed through `escape_controls`, so record data
never reaches a terminal raw. tabulate is imported lazily (command modules
stay light to import).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

from gitexp.render.formats import escape_controls
from gitexp.slots import Slots, Value

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

Style = Callable[[str, dict], str]
_ANSI_FG = {"black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36,
            "white": 37}


class Styled(Value):
    """A cell with style keywords (`fg`, `bold`); plain renderers use the text only (Markdown: bold)."""

    text: str
    style: dict


class Block(Slots):
    """Preformatted text under a table, e.g. one file's unified diff."""

    __slots__ = ("title", "text", "lang")

    def __init__(self, title: str, text: str, lang: str = "diff") -> None:
        self.title, self.text, self.lang = title, text, lang


class Table(Slots):
    """A titled table; with no rows it is skipped, unless `empty` says what to print instead.
    `after`: text shown below the table (code diffs)."""

    __slots__ = ("title", "headers", "rows", "empty", "after")

    def __init__(self, title: str, headers: list[str], rows: list[list[Any]] | None = None, empty: str | None = None,
                 after: list[Block] | None = None) -> None:
        self.title, self.headers, self.rows, self.empty = title, headers, [] if rows is None else rows, empty
        self.after = [] if after is None else after


def ansi(text: str, style: dict) -> str:
    """`text` wrapped in ANSI codes for `fg` and `bold` (the same codes click.style writes)."""
    codes = ([f"\x1b[{_ANSI_FG[style['fg']]}m"] if style.get("fg") else []) + \
        (["\x1b[1m"] if style.get("bold") else [])
    return "".join(codes) + text + "\x1b[0m" if codes else text


def plain(text: str, style: dict) -> str:
    """A styling function that drops every style."""
    return text


def cell_text(cell: Any) -> str:
    """The text of a cell, control characters escaped."""
    return escape_controls(cell.text if isinstance(cell, Styled) else str(cell))


def check_table_format(fmt: str) -> bool:
    """Whether tabulate knows the table format `fmt`."""
    from tabulate import tabulate_formats

    return fmt in tabulate_formats


def tabulate_rows(headers: list[str], rows: list[list[Any]], fmt: str = "simple", style: Style = plain) -> str:
    """One tabulate table; numbers are kept as written (no re-alignment or re-formatting)."""
    def styled(cell: Any) -> str:
        text = cell_text(cell)
        if isinstance(cell, Styled) and text:  # each line of a wrapped cell styled on its own
            return "\n".join(style(line, cell.style) for line in text.split("\n"))
        return text

    cells, heads = [[styled(c) for c in row] for row in rows], [escape_controls(h) for h in headers]
    fast = simple_table(heads, cells) if fmt == "simple" else None
    if fast is not None:
        return fast
    from tabulate import tabulate

    return tabulate(cells, headers=heads, tablefmt=fmt, disable_numparse=True)


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def simple_table(headers: list[str], rows: list[list[str]]) -> str | None:
    """tabulate's "simple" format (cells as text), for the common case of ASCII cells and one-line
    headers over rows of their length: what most commands print, without importing tabulate
    (its import reads package metadata). None for anything else: tabulate renders it."""
    texts = headers + [c for row in rows for c in row]
    if not headers or any(len(r) != len(headers) for r in rows) or any("\n" in h for h in headers) \
            or not all(_plain_ascii(_SGR.sub("", text)) for text in texts):
        return None

    def width(text: str) -> int:
        return len(_SGR.sub("", text))

    multiline = any("\n" in cell for cell in texts)  # then tabulate gives a row as many lines as it has
    lines = [[cell.strip().splitlines() if multiline else [cell.strip()] for cell in row] for row in rows]
    widths = [max([width(h) + 2] + [width(part) for row in lines for part in row[i]]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - width(c)) for c, w in zip(cells, widths)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for row in lines:
        out += [line([cell[k] if k < len(cell) else "" for cell in row]) for k in range(max(map(len, row)))]
    return "\n".join(out)


def _plain_ascii(text: str) -> bool:
    return text.isascii() and text.replace("\n", "").isprintable()


def render_text(tables: list[Table], fmt: str = "simple", style: Style = ansi) -> str:
    """Terminal output: bold titles, then each table indented under its title."""
    out: list[str] = []
    for t in tables:
        if not t.rows and t.empty is None:
            continue
        out += ["", style(escape_controls(t.title), {"bold": True})] if t.title else [""]
        if not t.rows:
            out.append(f"  {escape_controls(t.empty or '')}")
            continue
        indent = "  " if t.title else ""
        out += [indent + line for line in tabulate_rows(t.headers, t.rows, fmt, style).splitlines()]
        for block in t.after:
            out += [""] + [_diff_line(escape_controls(x), style) for x in block.text.splitlines()]
    return "\n".join(out[1:] if out and out[0] == "" else out)


def _diff_line(line: str, style: Style) -> str:
    if line.startswith(("+++", "---")):
        return style(line, {"bold": True})
    for prefix, colour in (("+", "green"), ("-", "red"), ("@@", "cyan")):
        if line.startswith(prefix):
            return style(line, {"fg": colour})
    return line


def render_markdown(tables: list[Table]) -> str:
    """GitHub-flavoured Markdown: a bold title and a pipe table per section; diffs in <details>."""
    out: list[str] = []
    for t in tables:
        if not t.rows and t.empty is None:
            continue
        out += ["", f"**{md_escape(t.title[:1].upper() + t.title[1:])}**", ""] if t.title else [""]
        if not t.rows:
            out.append(f"_{md_escape(t.empty or '')}_")
            continue
        out.append("| " + " | ".join(md_escape(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
        for block in t.after:
            text = escape_controls(block.text)
            fence = "`" * max(3, _longest_backticks(text) + 1)
            out += ["", f"<details><summary>{_html_escape(block.title)}</summary>", "",
                    fence + block.lang, text, fence, "", "</details>"]
    return "\n".join(out[1:] if out and out[0] == "" else out)


def _md_cell(cell: Any) -> str:
    text = md_escape(cell.text if isinstance(cell, Styled) else str(cell))
    if isinstance(cell, Styled) and cell.style.get("bold") and text:
        return f"**{text}**"
    return text


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes, emphasis, HTML, newlines, controls)."""
    text = escape_controls(text.replace("\r\n", "\n"))
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
            .replace("_", "\\_").replace("<", "&lt;").replace("\n", "<br>"))


def _html_escape(text: str) -> str:
    return escape_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return longest


def render_csv(table: Table) -> str:
    """One table as CSV: a header row, then the rows (cell text, controls escaped)."""
    buf = io.StringIO()
    import csv

    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows([[cell_text(c) for c in row] for row in table.rows])
    return buf.getvalue().rstrip("\n")


def render_json(data: Any) -> str:
    """Indented JSON; NaN and infinity kept as JavaScript writes them, anything else as text."""
    return json.dumps(data, indent=2, default=str, allow_nan=True)
