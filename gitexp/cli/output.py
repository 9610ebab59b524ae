"""Shared output options and rendering for commands that show data."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import click


def output_options(fn: Callable) -> Callable:
    """`--json` and `--fmt` on every listing command."""
    fn = click.option("--fmt", default="simple", show_default=True, metavar="FORMAT", callback=_check_fmt,
                      help="Table format: any tabulate format (github, grid, plain, tsv, …).")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(fn)
    return fn


def _check_fmt(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an unknown table format up front, not only when there is a table to print."""
    if value != "simple":
        from tabulate import tabulate_formats

        if value not in tabulate_formats:
            raise click.BadParameter(f"unknown format {value!r}; try one of: github, grid, plain, simple, tsv")
    return value


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, allow_nan=True))


def echo_table(headers: list[str], rows: list[list[Any]], fmt: str) -> None:
    from tabulate import tabulate, tabulate_formats

    if fmt not in tabulate_formats:
        raise click.BadParameter(f"unknown format {fmt!r}; try one of: github, grid, plain, simple, tsv",
                                 param_hint="--fmt")
    click.echo(tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True))


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
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    when = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone()
    return when.strftime("%m-%d %H:%M" if when.year == datetime.now().year else "%Y-%m-%d")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def open_db() -> Any:
    """A session on the repository of the current folder (errors become one line)."""
    from gitexp.services.session import open_session

    session = open_session()
    session.on_warning = lambda message: click.echo(f"warning: {message}", err=True)
    return session


def progress_bar(done: int, total: int) -> None:
    """Draw `gitexp: indexing runs [#####     ] 500/1000` on stderr (services call it)."""
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + " " * (width - filled)
    click.echo(f"\rgitexp: indexing runs [{bar}] {done}/{total}", err=True, nl=done >= total)
