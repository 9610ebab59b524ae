"""`gitexp diff` (two runs) and `gitexp compare` (N runs side by side).

Both commands call one service and print its result through the views in
`gitexp.render.comparison` (text, Markdown or CSV tables) or as JSON. Their
tables (`cli/spec.py`) are parsed without click for ordinary input.
"""

from __future__ import annotations

from gitexp.cli.out import (
    CSV, JSON, MD, OUTPUT, echo, echo_json, open_db, output_of, output_problem, terminal_width, unstyle,
)
from gitexp.cli.spec import FLAG, Arg, Opt, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from gitexp.cli.spec import Values


def run_diff(values: Values) -> None:
    """`gitexp diff` with the values of its table."""
    from gitexp.render import comparison as view
    from gitexp.render.tables import Table, render_csv, render_markdown, render_text
    from gitexp.services.compare import diff_runs
    from gitexp.services.registry.labels import registry_of_run

    out = output_of(values)
    with open_db() as db:
        d = diff_runs(db, values["run_a"], values["run_b"], include_unchanged=values["all_"],
                      code_text=values["code"])
        labels = registry_of_run(db)
    registry = {"a": labels.get(d.a.id, []), "b": labels.get(d.b.id, [])}
    tables = view.diff_tables(d)
    if registry["a"] or registry["b"]:  # the registry tags each run carries
        na, nb = view.unique_names([d.a, d.b])
        tables.insert(0, Table("registry", ["", na, nb],
                               [["versions", ", ".join(registry["a"]) or "-", ", ".join(registry["b"]) or "-"]]))
    if out.kind == JSON:
        echo_json({**d.to_dict(), **({"registry": registry} if registry["a"] or registry["b"] else {})})
    elif out.kind == CSV:
        echo(render_csv(view.diff_csv_table(d)))
    elif out.kind == MD:
        echo(view.diff_heading_md(d) + "\n\n" + render_markdown(tables) + view.diff_footer(d, md=True))
    else:
        from gitexp.render.fit import fit_tables

        width = terminal_width()
        heading = view.diff_heading_text(d)
        if len(unstyle(heading)) > width:
            heading = heading.replace(" -> ", "\n  -> ", 1)
        echo(heading + "\n\n" + render_text(fit_tables(tables, width), out.fmt) + view.diff_footer(d, md=False))


def run_compare(values: Values) -> None:
    """`gitexp compare` with the values of its table."""
    from gitexp.render.comparison import compare_table
    from gitexp.render.tables import render_csv, render_markdown, render_text
    from gitexp.services.catalog.query import short_ids
    from gitexp.services.compare import compare_runs

    out = output_of(values)
    with open_db() as db:
        cmp = compare_runs(db, list(values["runs"]))
    if values["diff_only"]:
        cmp.rows = [r for r in cmp.rows if r.differs or r.section == "info"]
    if out.kind == JSON:
        echo_json(cmp.to_dict())
        return
    table = compare_table(cmp, short_ids([r.id for r in cmp.runs]), full=out.kind == CSV)
    if out.kind == CSV:
        echo(render_csv(table))
    elif out.kind == MD:
        echo(render_markdown([table]))
    else:
        from gitexp.render.fit import fit_tables

        echo(render_text(fit_tables([table], terminal_width()), out.fmt))


DIFF_HELP = """Show what changed from run A to run B.

Params (nested ones by dotted path), metric summaries (last, min, max,
with absolute and relative change), tags, artifacts (by sha256), the code
files that differ between the two snapshots with their +added -removed
line counts, and run info (status, duration, baseline commit, dirty).
Only differences are shown unless --all is given; durations within 25%
(or 1 s) of each other count as the same (timing noise). Tables wider
than the terminal are wrapped.

A and B are run ids, id prefixes (4+ characters), run names, or any git
revision that resolves to a run commit (e.g. a branch made from a run).

\b
--json prints one object:
  {"a": {id, name, experiment, ref, commit}, "b": {…}, "identical": bool,
   "info"|"params"|"tags": [{key, change, a, b}],
   "metrics": [{key, change, a: {last, step, min, max, count}|null, b: …,
                delta: {last|min|max: {abs, rel}}}],
   "artifacts": [{path, change, a: {size, sha256, storage}|null, b: …}],
   "code": {"files": [{path, change, binary, old_mode, new_mode, note?,
                       added_lines, removed_lines, text?}], "unchanged": N}}
change is added, removed, changed or unchanged (code files: added,
removed, modified); rel is (b - a) / |a|, null when a is 0 or nan.

--md prints the same tables as Markdown (code diffs folded in <details>);
--csv prints one row per difference with exact values: section, key,
change, stat (metrics), a, b, abs_change, rel_change, detail (code).

\b
Example:
    gitexp diff brisk-otter calm-heron
    gitexp diff 1m8bpv3w 1m8bq0aa --code
    gitexp diff baseline-run my-branch --md > comment.md
    gitexp diff brisk-otter calm-heron --json
"""

COMPARE_HELP = """Show two or more runs side by side.

Rows are the run id, status and duration, then every param (nested ones by
dotted path) and the last value of every metric; columns are the runs.
On a colour terminal the values that differ between runs are highlighted
(bold in Markdown); '-' marks a param or metric a run does not have.
Long values are wrapped to the terminal's width, and runs that do not fit
next to each other continue in a second table.

RUN is a run id, an id prefix (4+ characters), a run name, or any git
revision that resolves to a run commit.

\b
--json prints {"runs": [{id, name, experiment, ref, commit}, …],
               "rows": [{section, key, values: [one per run],
                         present: [bool per run], differs: bool}]}
with section info (status, duration in seconds), params or metrics.

--csv prints full values and ids, one column per run; --md a Markdown table.

\b
Example:
    gitexp compare brisk-otter calm-heron eager-lynx
    gitexp compare brisk-otter calm-heron --diff-only
    gitexp compare brisk-otter calm-heron --md
    gitexp compare brisk-otter calm-heron --csv > runs.csv
"""

diff = Spec([
    Arg("run_a", "A", complete_runs=True),
    Arg("run_b", "B", complete_runs=True),
    Opt(("-a", "--all"), "all_", FLAG, "Also show what is the same (params, metrics, tags, artifacts, run info)."),
    Opt(("--code",), "code", FLAG, "Add the unified diff of each changed code file."),
    *OUTPUT,
], DIFF_HELP, run_diff, problem=output_problem)

compare = Spec([
    Arg("runs", "RUN...", many=True, complete_runs=True),
    Opt(("-d", "--diff-only"), "diff_only", FLAG, "Only the params and metrics that differ."),
    *OUTPUT,
], COMPARE_HELP, run_compare, problem=output_problem)
