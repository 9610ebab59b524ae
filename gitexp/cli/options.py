"""Options shared by commands: output format (`--json/--csv/--md/--fmt`) and run selection
(`-e/--experiment`, `-a/--all`, `-f/--filter`), plus small helpers every command uses.

Each decorator adds its options and hands the command ONE value (`out: Output`,
`selection: RunSelection`), so the rules (which flags conflict, which experiment
is meant when none is named) are written once. The options themselves, those rules
and the helpers are click-free tables and functions in `cli/out.py`, which the
table-driven commands (`cli/spec.py`) use directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from gitexp.cli.clickspec import click_option
from gitexp.cli.out import (  # noqa: F401  (JSON, Output and the echo helpers: for the click commands)
    JSON,
    OUTPUT,
    SELECTION,
    Output,
    echo_json,
    echo_table,
    open_db,
    output_of,
    output_problem,
    selection_of,
    selection_problem,
)


def _from_table(table: list, problem: Callable[[dict], str | None], make: Callable[[dict], Any],
                name: str) -> Callable[[Callable], Callable]:
    """A decorator adding `table`'s options; the command gets them as one value, `name`."""

    def decorate(fn: Callable) -> Callable:
        dests = [opt.dest for opt in table]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {dest: kwargs.pop(dest) for dest in dests}
            message = problem(values)
            if message:
                raise click.UsageError(message)
            return fn(*args, **{name: make(values)}, **kwargs)

        for opt in reversed(table):
            wrapper = click_option(opt)(wrapper)
        return wrapper

    return decorate


def output_options(fn: Callable) -> Callable:
    """Add `--json`, `--csv`, `--md` and `--fmt FORMAT`; the command gets `out: Output`."""
    return _from_table(OUTPUT, output_problem, output_of, "out")(fn)


def selection_options(fn: Callable) -> Callable:
    """Add `-e/--experiment`, `-a/--all`, `-f/--filter`; the command gets `selection: RunSelection`."""
    return _from_table(SELECTION, selection_problem, selection_of, "selection")(fn)


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
