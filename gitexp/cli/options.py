"""Options shared by commands: output format (`--json/--csv/--md/--fmt`) and run selection
(`-e/--experiment`, `-a/--all`, `-f/--filter`), plus small helpers every command uses.

Each decorator adds its options and hands the command ONE value (`out: Output`,
`selection: RunSelection`), so the rules (which flags conflict, which experiment
is meant when none is named) are written once, here.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from gitexp.services.catalog.selection import RunSelection

TEXT, JSON, CSV, MD = "text", "json", "csv", "md"
FMT_HINT = "try one of: github, grid, plain, simple, tsv"


@dataclass(frozen=True)
class Output:
    """How a command prints its data: `kind` is text, json, csv or md; `fmt` the text table format."""

    kind: str = TEXT
    fmt: str = "simple"


def output_options(fn: Callable) -> Callable:
    """Add `--json`, `--csv`, `--md` and `--fmt FORMAT`; the command gets `out: Output`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, as_json: bool, as_csv: bool, as_md: bool, fmt: str | None, **kwargs: Any) -> Any:
        return fn(*args, out=_output(as_json, as_csv, as_md, fmt), **kwargs)

    for option in reversed([
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV (exact values)."),
        click.option("--md", "as_md", is_flag=True, help="Print Markdown (e.g. for a pull-request comment)."),
        click.option("--fmt", metavar="FORMAT", callback=_check_fmt,
                     help="Table format of text output: any tabulate format (github, grid, plain, tsv, …). "
                          "Default: simple."),
    ]):
        wrapper = option(wrapper)
    return wrapper


def _output(as_json: bool, as_csv: bool, as_md: bool, fmt: str | None) -> Output:
    chosen = [kind for kind, on in ((JSON, as_json), (CSV, as_csv), (MD, as_md)) if on]
    if len(chosen) > 1:
        raise click.UsageError("choose one of --json, --csv and --md")
    if chosen and fmt is not None:
        raise click.UsageError(f"--fmt sets the table format of text output; it cannot be combined with "
                               f"--{chosen[0]}")
    return Output(chosen[0] if chosen else TEXT, fmt or "simple")


def _check_fmt(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an unknown table format up front, not only when there is a table to print."""
    from gitexp.render.tables import check_table_format

    if value is not None and value != "simple" and not check_table_format(value):
        raise click.BadParameter(f"unknown format {value!r}; {FMT_HINT}")
    return value


def selection_options(fn: Callable) -> Callable:
    """Add `-e/--experiment`, `-a/--all`, `-f/--filter`; the command gets `selection: RunSelection`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, experiment: str | None, all_: bool, filter_: str | None, **kwargs: Any) -> Any:
        if experiment and all_:
            raise click.UsageError("-e and --all cannot be combined")
        return fn(*args, selection=RunSelection(experiment, all_, filter_), **kwargs)

    for option in reversed([
        click.option("-e", "--experiment", help="Only runs of this experiment (default: the default experiment)."),
        click.option("-a", "--all", "all_", is_flag=True, help="Runs of every experiment."),
        click.option("-f", "--filter", "filter_", metavar="EXPR",
                     help="MLflow-style filter, e.g. \"metrics.acc > 0.9 and params.lr = 0.01\"."),
    ]):
        wrapper = option(wrapper)
    return wrapper


# -- helpers shared by commands ------------------------------------------------------------------

def echo_json(data: Any) -> None:
    from gitexp.render.tables import render_json

    click.echo(render_json(data))


def echo_table(headers: list[str], rows: list[list[Any]], out: Output) -> None:
    """Print one untitled table as `out` asks: text (tabulate), Markdown or CSV; JSON is the caller's."""
    from gitexp.render.tables import Table, render_csv, render_markdown, render_text

    table = Table("", headers, rows)
    if out.kind == CSV:
        click.echo(render_csv(table))
    elif out.kind == MD:
        click.echo(render_markdown([table]))
    else:
        click.echo(render_text([table], out.fmt))


def terminal_width() -> int:
    """As `shutil.get_terminal_size((100, 24)).columns` (COLUMNS first), without loading shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 100


def open_db() -> Any:
    """A session on the repository of the current folder (errors become one line)."""
    from gitexp.services.session import open_session

    session = open_session()
    session.on_warning = lambda message: click.echo(f"warning: {message}", err=True)
    return session


def complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a run argument: the names and ids of the repository's runs.

    Read from the cache index (no record is parsed when it is fresh); any error (not a
    repository, a locked cache) completes nothing rather than printing into the shell.
    """
    from click.shell_completion import CompletionItem

    try:
        from gitexp.services.catalog.listing import run_refs
        from gitexp.services.session import open_session

        with open_session(".") as s:
            runs = s.cache.summaries(run_refs(s), fields=())
    except Exception:
        return []
    items: dict[str, str] = {}
    for r in sorted(runs, key=lambda r: r.start_ms or 0, reverse=True):
        if r.name and r.name.startswith(incomplete):
            items.setdefault(r.name, f"{r.experiment} {r.status}")
        if r.id.startswith(incomplete):
            items.setdefault(r.id, f"{r.name} ({r.experiment})")
    return [CompletionItem(value, help=help_) for value, help_ in items.items()]


def progress_bar(done: int, total: int) -> None:
    """Draw `gitexp: indexing runs [#####     ] 500/1000` on stderr (services call it)."""
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + " " * (width - filled)
    click.echo(f"\rgitexp: indexing runs [{bar}] {done}/{total}", err=True, nl=done >= total)
