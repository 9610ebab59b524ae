"""`gitexp ls`: list runs as a table, Markdown, CSV or JSON."""

from __future__ import annotations

from gitexp.cli.out import (
    CSV,
    JSON,
    MD,
    OUTPUT,
    SELECTION,
    echo,
    echo_json,
    open_db,
    output_of,
    output_problem,
    progress_bar,
    selection_of,
    selection_problem,
    terminal_width,
)
from gitexp.cli.spec import FLAG, MULTIPLE, VALUE, Opt, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from gitexp.cli.spec import Values
    from gitexp.services.catalog.selection import RunSelection
    from gitexp.services.session import Session


def run_ls(values: Values) -> None:
    """`gitexp ls` with the values of its table."""
    from gitexp.render import runlist
    from gitexp.render.tables import render_csv, render_markdown, render_text
    from gitexp.errors import FilterSyntaxError
    from gitexp.services.catalog.listing import run_refs
    from gitexp.services.catalog.query import search, search_page, short_ids
    from gitexp.services.registry.labels import registry_of_run

    selection, out, sort, limit = selection_of(values), output_of(values), values["sort"], values["limit"]
    cols = _columns(values["columns"]) if values["columns"] else None
    with open_db() as db:
        exp = selection.experiment_in(db)
        keep = _unpushed(db) if values["unpushed"] else None
        registry = registry_of_run(db)
        db.recover()  # before the refs are listed, once: short ids must resolve repo-wide
        every = run_refs(db)
        try:
            if out.kind == JSON:  # every field of every shown run: fetched with the rows, not one at a time
                rows = search(db, selection.filter, list(sort), exp, None if keep is not None else limit or None,
                              output="dicts", progress=progress_bar, refs=every)
                rows = [r for r in rows if keep is None or r["id"] in keep]
                # "registry" only on runs that are model versions, as "error" only on corrupt ones
                rows = [{**r, "registry": registry[r["id"]]} if r.get("id") in registry else r for r in rows]
                echo_json(rows[:limit] if limit else rows)
                return
            if keep is None:  # only the shown rows are read, and how many match
                shown, total = search_page(db, selection.filter, list(sort), exp, limit or None, progress_bar, every,
                                           fields=("params",))  # the table's; metrics come with every row
            else:
                runs = [r for r in search(db, selection.filter, list(sort), exp, progress=progress_bar, refs=every)
                        if r.id in keep]
                shown, total = runs[:limit] if limit else runs, len(runs)
        except FilterSyntaxError as exc:
            from gitexp.services.catalog import hints

            raise hints.explain_unknown_attribute(hints.KeyIndex.of(search(db, None, None, exp)), exc) from None
        every_id = [ref.rsplit("/", 1)[-1] for ref in every]
        if not shown:
            _say_no_runs(db, selection, exp, sort, bool(every_id))
            return
        _warn_missing_sort_keys(shown, sort)
    ids = short_ids([s.id for s in shown], among=every_id)
    width = None if out.kind == CSV else terminal_width()
    cols = cols or runlist.default_columns(shown, selection.all or not selection.named and _many(shown), ids, width)
    table = runlist.runs_table(shown, cols, ids, exact=out.kind == CSV)
    if any(s.id in registry for s in shown):  # the registry tags a run carries
        table.headers.append("registry")
        for row, s in zip(table.rows, shown):
            row.append(", ".join(registry.get(s.id, [])) or "-")
    echo(render_csv(table) if out.kind == CSV else
         render_markdown([table]) if out.kind == MD else render_text([table], out.fmt))
    if total > len(shown):
        echo(f"({total - len(shown)} more; use --limit 0 to list all)", err=True)


def _say_no_runs(db: Session, selection: RunSelection, exp: str | None, sort: tuple[str, ...],
                 any_runs: bool) -> None:
    """Why nothing is listed: keys no run has, runs in other experiments, runs on a remote."""
    from gitexp.services.catalog import hints
    from gitexp.services.catalog.query import search

    where = "in any experiment" if selection.all else f"in experiment {exp!r}"
    echo(f"No runs {where}" + (" match the filter." if selection.filter else "."), err=True)
    if not any_runs:
        remote = hints.remote_hint(db)
        if remote:
            echo(f"hint: {remote}", err=True)
        return
    if selection.filter:
        index = hints.KeyIndex.of(search(db, None, None, exp))
        missing = hints.missing_keys(index, selection.filter, sort)
        if missing:
            message, hint = hints.describe_missing(index, missing, where)
            echo(f"{message[:1].upper()}{message[1:]}." + (f" hint: {hint}" if hint else ""), err=True)
    if exp is not None:
        more = hints.count_elsewhere(db, exp, selection.filter)
        if more:
            runs = f"{more} run" if more == 1 else f"{more} runs"
            what = ("matches" if more == 1 else "match") + " in" if selection.filter else "in"
            import shlex

            again = shlex.join(["gitexp", "ls", "--all"] + (["-f", selection.filter] if selection.filter else []))
            echo(f"hint: {runs} {what} other experiments: {again}", err=True)


def _warn_missing_sort_keys(runs: list, sort: tuple[str, ...]) -> None:
    if not sort:
        return
    from gitexp.services.catalog import hints

    index = hints.KeyIndex.of(runs)
    missing = hints.missing_keys(index, None, sort)
    if missing:
        message, hint = hints.describe_missing(index, missing, "listed")
        echo(f"warning: {message}, so it does not order them" + (f"; {hint}" if hint else ""), err=True)


def _unpushed(db: Any) -> set[str]:
    from gitexp.services.sync.status import unpushed_ids

    return unpushed_ids(db)


def _many(runs: list) -> bool:
    return len({s.experiment for s in runs}) > 1


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def check_columns(text: str) -> str | None:
    """What is wrong with a --columns list."""
    from gitexp.render.runlist import ATTRS

    for col in _columns(text):
        kind = col.split(".", 1)[0]
        if col not in ATTRS and not (kind in ("params", "metrics", "tags") and "." in col):
            return (f"unknown column {col!r}; use attributes ({', '.join(sorted(ATTRS))}) "
                    "or params.KEY, metrics.KEY, tags.KEY")
    return None


def _problem(values: Values) -> str | None:
    return selection_problem(values) or output_problem(values)


HELP = """List runs, newest first.

Without -e or --all, lists the default experiment. Params and metrics that
fit the terminal are shown: the params that vary most across the listed
runs (a swept param first) and the metrics most runs have, before start
and duration; choose others with --columns. Headers name params p.KEY,
metrics m.KEY and tags t.KEY. --md prints the same table as Markdown;
--csv prints exact values (full ids, ISO 8601 UTC times, duration in
seconds) and, by default, every param and metric column.

When nothing matches, ls says why: a filter or sort key no run has (and
the keys it probably meant), or runs in other experiments.

\b
Example:
    gitexp ls
    gitexp ls --all --limit 10
    gitexp ls -f "metrics.acc > 0.9" -s metrics.acc:desc
    gitexp ls -c id,name,params.lr,metrics.acc --fmt github
    gitexp ls --csv > runs.csv
    gitexp ls --json
"""


ls = Spec([
    *SELECTION,
    Opt(("-s", "--sort"), "sort", MULTIPLE, "Sort key, e.g. metrics.acc:desc (repeatable). Default: newest first.",
        "KEY[:asc|desc]"),
    Opt(("-n", "--limit"), "limit", VALUE, "Show at most N runs (0: all).", number=int, minimum=0, default=50,
        show_default=True),
    Opt(("-c", "--columns"), "columns", VALUE,
        "Comma-separated columns: id,name,experiment,status,start,end,duration,user,commit,"
        "params.KEY,metrics.KEY,tags.KEY.", "COLS", check=check_columns),
    Opt(("--unpushed",), "unpushed", FLAG,
        "Only runs the default remote lacks or has older (as of the last fetch, pull or push)."),
    *OUTPUT,
], HELP, run_ls, problem=_problem)
