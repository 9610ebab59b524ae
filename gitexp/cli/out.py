"""What commands share without click: output and selection options as tables, printing, progress.

`echo` writes as `click.echo` does (ANSI codes stripped unless the stream is a terminal,
and always with NO_COLOR set); when click is loaded it is `click.echo`, so a command
run by click (CliRunner's `color=True` included) prints exactly as before.
"""

from __future__ import annotations

import os
import sys
import time

from gitexp.cli.spec import FLAG, VALUE, Opt

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from gitexp.cli.spec import Values
    from gitexp.services.catalog.selection import RunSelection
    from gitexp.services.session import Session

TEXT, JSON, CSV, MD = "text", "json", "csv", "md"
FMT_HINT = "try one of: github, grid, plain, simple, tsv"
ANSI_FG = {"red": 31, "green": 32, "yellow": 33}


class Output:
    """How a command prints its data: `kind` is text, json, csv or md; `fmt` the text table format."""

    __slots__ = ("kind", "fmt")

    def __init__(self, kind: str = TEXT, fmt: str = "simple") -> None:
        self.kind, self.fmt = kind, fmt


def check_fmt(value: str) -> str | None:
    """What is wrong with a table format (refused up front, not only when there is a table to print)."""
    from gitexp.render.tables import check_table_format

    if value != "simple" and not check_table_format(value):
        return f"unknown format {value!r}; {FMT_HINT}"
    return None


OUTPUT = [
    Opt(("--json",), "as_json", FLAG, "Print machine-readable JSON."),
    Opt(("--csv",), "as_csv", FLAG, "Print CSV (exact values)."),
    Opt(("--md",), "as_md", FLAG, "Print Markdown (e.g. for a pull-request comment)."),
    Opt(("--fmt",), "fmt", VALUE, "Table format of text output: any tabulate format (github, grid, plain, tsv, …). "
        "Default: simple.", "FORMAT", check=check_fmt),
]
SELECTION = [
    Opt(("-e", "--experiment"), "experiment", VALUE,
        "Only runs of this experiment (default: the default experiment)."),
    Opt(("-a", "--all"), "all_", FLAG, "Runs of every experiment."),
    Opt(("-f", "--filter"), "filter_", VALUE,
        "MLflow-style filter, e.g. \"metrics.acc > 0.9 and params.lr = 0.01\".", "EXPR"),
]


def output_problem(values: Values) -> str | None:
    """What is wrong with the output options together (a usage error)."""
    chosen = _chosen(values)
    if len(chosen) > 1:
        return "choose one of --json, --csv and --md"
    if chosen and values["fmt"] is not None:
        return f"--fmt sets the table format of text output; it cannot be combined with --{chosen[0]}"
    return None


def output_of(values: Values) -> Output:
    """The output options as one value (checked by `output_problem` first)."""
    chosen = _chosen(values)
    return Output(chosen[0] if chosen else TEXT, values["fmt"] or "simple")


def _chosen(values: Values) -> list[str]:
    return [kind for kind, key in ((JSON, "as_json"), (CSV, "as_csv"), (MD, "as_md")) if values[key]]


def selection_problem(values: Values) -> str | None:
    return "-e and --all cannot be combined" if values["experiment"] and values["all_"] else None


def selection_of(values: Values) -> RunSelection:
    from gitexp.services.catalog.selection import RunSelection

    return RunSelection(values["experiment"], values["all_"], values["filter_"])


# -- printing ---------------------------------------------------------------------------------------------

def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    """`click.echo(text, err=err, nl=nl)`, without loading click."""
    if "click" in sys.modules:
        sys.modules["click"].echo(text, err=err, nl=nl)
        return
    stream = sys.stderr if err else sys.stdout
    text = text + "\n" if nl else text
    if "\x1b" in text and (os.environ.get("NO_COLOR") or not stream.isatty()):
        text = unstyle(text)
    stream.write(text)
    stream.flush()


def style(text: str, fg: str | None = None, bold: bool = False) -> str:
    """`click.style(text, fg=fg, bold=bold or None)`: the same ANSI codes."""
    codes = (f"\x1b[{ANSI_FG[fg]}m" if fg else "") + ("\x1b[1m" if bold else "")
    return f"{codes}{text}\x1b[0m"


def unstyle(text: str) -> str:
    """`text` without ANSI codes, as `click.unstyle`."""
    import re

    return re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)


def say(text: str) -> None:
    echo(f"gitexp: {text}", err=True)


def echo_json(data: Any) -> None:
    from gitexp.render.tables import render_json

    echo(render_json(data))


def echo_table(headers: list[str], rows: list[list[Any]], out: Output) -> None:
    """Print one untitled table as `out` asks: text (tabulate), Markdown or CSV; JSON is the caller's."""
    from gitexp.render.tables import Table, render_csv, render_markdown, render_text

    table = Table("", headers, rows)
    if out.kind == CSV:
        echo(render_csv(table))
    elif out.kind == MD:
        echo(render_markdown([table]))
    else:
        echo(render_text([table], out.fmt))


def terminal_width(fallback: int = 100) -> int:
    """As `shutil.get_terminal_size((fallback, 24)).columns` (COLUMNS first), without loading shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or fallback


def open_db() -> Session:
    """A session on the repository of the current folder; its warnings go to stderr."""
    from gitexp.services.session import open_session

    session = open_session()
    session.on_warning = lambda message: echo(f"warning: {message}", err=True)
    return session


def _bar(what: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    echo(f"\rgitexp: {what} [{'#' * filled}{' ' * (width - filled)}] {done}/{total}", err=True, nl=done >= total)


def progress_bar(done: int, total: int) -> None:
    """Draw `gitexp: indexing runs [#####     ] 500/1000` on stderr (services call it)."""
    _bar("indexing runs", done, total)


class Progress:
    """A progress bar on stderr, shown only once work has taken over a second."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.drawn = False

    def __call__(self, what: str, done: int, total: int) -> None:
        if time.monotonic() - self.start < 1.0 and not self.drawn:
            return
        self.drawn = True
        _bar(what, done, total)
