"""`gitexp ls`: list runs as a table or JSON."""

from __future__ import annotations

from collections import Counter
from itertools import zip_longest
from typing import Any

import click

from gitexp.cli.output import (
    echo_json, echo_table, fmt_duration, fmt_time, fmt_value, open_db, output_options, progress_bar,
    terminal_width,
)

BASE = ["id", "name", "status", "start", "duration"]
ATTRS = {"id", "name", "experiment", "status", "start", "end", "duration", "user", "commit"}


@click.command()
@click.option("-e", "--experiment", help="Only this experiment (default: the default experiment).")
@click.option("-a", "--all", "all_", is_flag=True, help="Runs of every experiment.")
@click.option("-f", "--filter", "filter_", metavar="EXPR",
              help="MLflow-style filter, e.g. \"metrics.acc > 0.9 and params.lr = 0.01\".")
@click.option("-s", "--sort", "sort", multiple=True, metavar="KEY[:asc|desc]",
              help="Sort key, e.g. metrics.acc:desc (repeatable). Default: newest first.")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show at most N runs (0: all).")
@click.option("-c", "--columns", metavar="COLS",
              help="Comma-separated columns: id,name,experiment,status,start,end,duration,user,commit,"
                   "params.KEY,metrics.KEY,tags.KEY.")
@output_options
def ls(experiment: str | None, all_: bool, filter_: str | None, sort: tuple[str, ...], limit: int,
       columns: str | None, as_json: bool, fmt: str) -> None:
    """List runs, newest first.

    Without -e or --all, lists the default experiment. Params and metrics that
    fit the terminal are shown (those that differ between runs first); choose
    others with --columns.

    \b
    Example:
        gitexp ls
        gitexp ls --all --limit 10
        gitexp ls -f "metrics.acc > 0.9" -s metrics.acc:desc
        gitexp ls -c id,name,params.lr,metrics.acc --fmt github
        gitexp ls --json
    """
    from gitexp.services.catalog.query import search, short_ids
    from gitexp.services.catalog.listing import run_refs
    from gitexp.services.registry.writes import registry_of_run

    with open_db() as db:
        exp = None if all_ else (experiment or db.default_experiment)
        registry = registry_of_run(db)
        if as_json:  # every field of every shown run: fetched with the rows, not one at a time
            rows = search(db, filter_, list(sort), exp, limit or None, output="dicts", progress=progress_bar)
            # "registry" only on runs that are model versions, as "error" only on corrupt ones
            echo_json([{**r, "registry": registry[r["id"]]} if r.get("id") in registry else r for r in rows])
            return
        runs = search(db, filter_, list(sort), exp, progress=progress_bar)
        every_id = [ref.rsplit("/", 1)[-1] for ref in run_refs(db)]  # short ids must resolve repo-wide
    shown = runs[:limit] if limit else runs
    if not shown:
        where = "in any experiment" if all_ else f"in experiment {exp!r}"
        click.echo(f"No runs {where}" + (" match the filter." if filter_ else "."), err=True)
        if not all_ and not filter_:
            click.echo("hint: 'gitexp ls --all' lists every experiment", err=True)
        return
    ids = short_ids([s.id for s in shown], among=every_id)
    cols = _parse_columns(columns) if columns else \
        _default_columns(shown, all_ or experiment is None and _many(runs), ids)
    heads = [_header(c) for c in cols]
    heads = [h if heads.count(h) == 1 else c for h, c in zip(heads, cols)]
    rows = [[_cell(s, c, ids) for c in cols] for s in shown]
    if any(s.id in registry for s in shown):  # the registry tags a run carries
        heads.append("registry")
        for row, s in zip(rows, shown):
            row.append(", ".join(registry.get(s.id, [])) or "-")
    echo_table(heads, rows, fmt)
    if len(runs) > len(shown):
        click.echo(f"({len(runs) - len(shown)} more; use --limit 0 to list all)", err=True)


def _many(runs: list) -> bool:
    return len({s.experiment for s in runs}) > 1


def _parse_columns(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    for col in cols:
        kind = col.split(".", 1)[0]
        if col not in ATTRS and not (kind in ("params", "metrics", "tags") and "." in col):
            raise click.BadParameter(f"unknown column {col!r}; use attributes ({', '.join(sorted(ATTRS))}) "
                                     "or params.KEY, metrics.KEY, tags.KEY", param_hint="--columns")
    return cols


def _default_columns(runs: list, with_experiment: bool, ids: dict[str, str]) -> list[str]:
    """Base columns, then varying params and metrics while they fit the terminal."""
    cols = BASE[:2] + (["experiment"] if with_experiment else []) + BASE[2:]
    width = sum(_col_width(runs, c, ids) for c in cols)
    for col in _candidates(runs):
        need = _col_width(runs, col, ids)
        if width + need > terminal_width():
            continue  # a narrower column further down may still fit
        cols.append(col)
        width += need
    return cols


def _candidates(runs: list) -> list[str]:
    from gitexp.store.record import flatten

    params, metrics = Counter(), Counter()
    values: dict[str, set] = {}
    for s in runs:
        for key, value in flatten(s.params).items():
            params[key] += 1
            values.setdefault(key, set()).add(repr(value))
        metrics.update(s.summary.keys())
    varying = [f"params.{k}" for k in params if len(values[k]) > 1 or params[k] < len(runs)]
    constant = [f"params.{k}" for k in params if f"params.{k}" not in varying]
    metric_cols = [f"metrics.{k}" for k, _ in metrics.most_common()]
    # Results and what changed between runs, alternately, so a narrow terminal shows both.
    mixed = [c for pair in zip_longest(metric_cols, varying) for c in pair if c]
    return mixed + constant


def _col_width(runs: list, col: str, ids: dict[str, str]) -> int:
    # tabulate pads a header by 2 (MIN_PADDING) and puts 2 spaces between columns.
    return 2 + max([len(_header(col)) + 2] + [len(_cell(s, col, ids)) for s in runs[:50]])


def _header(col: str) -> str:
    return col.split(".", 1)[1] if col.startswith(("params.", "metrics.")) else col


def _cell(s: Any, col: str, ids: dict[str, str]) -> str:
    if col == "id":
        return ids.get(s.id, s.id[:8])
    if col in ("name", "experiment", "status", "user", "commit"):
        value = getattr(s, col, None) if col not in ("user", "commit") else \
            (s.info.get("user") if col == "user" else s.commit[:10])
        return fmt_value(value, 20)
    if col in ("start", "end"):
        return fmt_time(s.start_ms if col == "start" else s.end_ms)
    if col == "duration":
        return fmt_duration(s.duration)
    kind, key = col.split(".", 1)
    if kind == "params":
        return fmt_value(_param(s.params, key), 16)
    if kind == "metrics":
        return fmt_value(s.summary.get(key, {}).get("last"), 12)
    return fmt_value(s.tags.get(key), 16)


def _param(params: dict, key: str) -> Any:
    if key in params:
        return params[key]
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
