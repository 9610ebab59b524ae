"""`gitexp show`: everything about one run (a table, `cli/spec.py`, parsed without click for ordinary input)."""

from __future__ import annotations

from gitexp.cli.out import CSV, JSON, MD, OUTPUT, echo, echo_json, open_db, output_of, output_problem, style
from gitexp.cli.spec import Arg, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from gitexp.cli.spec import Values


def run_show(values: Values) -> None:
    """`gitexp show` with the values of its table."""
    from gitexp.render import runview
    from gitexp.render.tables import render_csv, render_markdown
    from gitexp.render.formats import escape_controls
    from gitexp.services.catalog.listing import get_run
    from gitexp.services.code import recording_commits
    from gitexp.services.registry.labels import registry_of_run

    out = output_of(values)
    with open_db() as db:
        r = get_run(db, values["run"])
        commits = recording_commits(db, r.id)
        registry = registry_of_run(db).get(r.id, [])
    if out.kind == JSON:
        echo_json({**r.to_dict(), "recorded_by": [{"commit": c, "subject": t} for c, t in commits],
                   **({"registry": registry} if registry else {})})  # registry key only when registered
    elif out.kind == CSV:
        echo(render_csv(runview.run_csv_table(r)))
    elif out.kind == MD:
        echo(render_markdown(runview.run_tables(r)))
    else:
        echo(runview.run_text(r, out.fmt))
        if registry:
            echo("\n" + style("registry", bold=True) + "\n" + "\n".join(f"  {x}" for x in registry))
        if commits:  # commits whose Gitexp-Run trailer names this run (gitexp hooks install)
            echo("\n" + style("recorded by", bold=True))
            echo("\n".join(f"  {c[:12]}  {escape_controls(t)}" for c, t in commits))


HELP = """Show one run: info, params, tags, metric summaries, artifacts and code.

RUN is a run id, an id prefix (4+ characters), a run name, or any git
revision that resolves to a run commit. --fmt sets the format of the
metrics table; --md prints every section as a Markdown table; --csv prints
exact values as section,key,value rows (a metric's or an artifact's fields
are keys NAME.FIELD, e.g. loss.min).

\b
Example:
    gitexp show brisk-otter
    gitexp show 1m8bpv3w --json
    gitexp show brisk-otter --md > run.md
"""

show = Spec([Arg("run", complete_runs=True), *OUTPUT], HELP, run_show, problem=output_problem)
