"""`gitexp --help` without click: the same text click prints, in a fraction of the start-up.

Click's layout (8.x `HelpFormatter`) for the one page that is all plain text:
paragraphs re-wrapped to the terminal's width (at most 78), a paragraph after a
`\\b` line kept as it is, and two definition lists. tests/test_cli_app.py checks
the page against click's at several widths.
"""

from __future__ import annotations

import sys
import textwrap

from gitexp.cli.commands import COMMANDS, SUMMARIES, TOP_HELP, TOP_OPTIONS
from gitexp.cli.out import terminal_width

USAGE = "Usage: gitexp [OPTIONS] COMMAND [ARGS]..."
NO_REWRAP = "\b"


def top_help(width: int | None = None) -> str:
    """The top-level help page, `width` columns wide (default: as click measures the terminal)."""
    width = width or max(min(terminal_width(80), 80) - 2, 50)  # click's: the terminal's, at most 78
    names = max(map(len, COMMANDS))
    commands = [(name, short_help(SUMMARIES[name], width - 6 - names)) for name in COMMANDS]
    return "\n".join([
        USAGE, "", wrap(TOP_HELP.strip().partition("\f")[0], width, "  "), "",
        "Options:", definitions(list(TOP_OPTIONS.items()), width), "",
        "Commands:", definitions(commands, width),
    ])


def print_top_help(asked: bool = True) -> int:
    """The page on stdout, exit code 0; not `asked` (no arguments at all), on stderr with 2."""
    (sys.stdout if asked else sys.stderr).write(top_help() + "\n")
    return 0 if asked else 2


def wrap(text: str, width: int, indent: str = "") -> str:
    """Click's `wrap_text` keeping paragraphs: each re-wrapped at its first line's indent, `\\b` ones kept."""
    paragraphs: list[tuple[int, list[str]]] = []
    lines: list[str] = []
    for line in text.expandtabs().splitlines() + [""]:
        if line:
            if not lines:  # a paragraph's first line gives its indent
                stripped = line.lstrip()
                paragraphs.append((len(line) - len(stripped), lines))
                line = stripped
            lines.append(line)
        elif lines:
            lines = []
    out = []
    for extra, lines in paragraphs:
        lead = indent + " " * extra
        if lines[0].strip() == NO_REWRAP:
            out.append("\n".join(lead + line for line in lines[1:]))
        else:
            out.append(_Wrapper(width, initial_indent=lead, subsequent_indent=lead,
                                replace_whitespace=False).fill(" ".join(lines)))
    return "\n\n".join(out)


class _Wrapper(textwrap.TextWrapper):
    """As click's: a word longer than a line is cut where the line ends, not at a hyphen."""

    def _handle_long_word(self, chunks: list[str], line: list[str], length: int, width: int) -> None:
        space = max(width - length, 1)
        if self.break_long_words:
            line.append(chunks[-1][:space])
            chunks[-1] = chunks[-1][space:]
        elif not line:
            line.append(chunks.pop())


def definitions(rows: list[tuple[str, str]], width: int, indent: int = 2) -> str:
    """Click's `write_dl`: terms in a column at most 30 wide, their texts wrapped beside them."""
    column = min(max(len(term) for term, _ in rows), 30) + 2
    out = []
    for term, text in rows:
        if not text:
            out.append(" " * indent + term)
            continue
        lines = wrap(text, max(width - column - 2, 10)).splitlines() or [""]  # blank: term and gap, as click
        gap = " " * (column - len(term)) if len(term) <= column - 2 else "\n" + " " * (column + indent)
        out.append(" " * indent + term + gap + lines[0])
        out.extend(" " * (column + indent) + line for line in lines[1:])
    return "\n".join(out)


def short_help(text: str, limit: int) -> str:
    """Click's short help of a command: its first sentence, shortened at a word to `limit`."""
    words = text.partition("\n\n")[0].split()
    if words[:1] == [NO_REWRAP]:
        words = words[1:]
    for i, word in enumerate(words):
        if word.endswith(".") and (i == len(words) - 1 or not words[i + 1][0].islower()):
            words = words[:i + 1]
            break
    short = " ".join(words)
    if len(short) <= limit:
        return short
    return "..." if limit < 3 else textwrap.shorten(short, limit, placeholder="...", break_on_hyphens=False)
