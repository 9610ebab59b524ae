"""`gitexp show`: everything about one run."""

from __future__ import annotations

import click

from gitexp.cli.options import CSV, JSON, MD, Output, complete_runs, echo_json, open_db, output_options


@click.command()
@click.argument("run", shell_complete=complete_runs)
@output_options
def show(run: str, out: Output) -> None:
    """Show one run: info, params, tags, metric summaries, artifacts and code.

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
    from gitexp.render import runview
    from gitexp.render.tables import render_csv, render_markdown
    from gitexp.render.formats import escape_controls
    from gitexp.services.catalog.listing import get_run
    from gitexp.services.code import recording_commits
    from gitexp.services.registry.labels import registry_of_run

    with open_db() as db:
        r = get_run(db, run)
        commits = recording_commits(db, r.id)
        registry = registry_of_run(db).get(r.id, [])
    if out.kind == JSON:
        echo_json({**r.to_dict(), "recorded_by": [{"commit": c, "subject": t} for c, t in commits],
                   **({"registry": registry} if registry else {})})  # registry key only when registered
    elif out.kind == CSV:
        click.echo(render_csv(runview.run_csv_table(r)))
    elif out.kind == MD:
        click.echo(render_markdown(runview.run_tables(r)))
    else:
        click.echo(runview.run_text(r, out.fmt))
        if registry:
            click.echo("\n" + click.style("registry", bold=True) + "\n" + "\n".join(f"  {x}" for x in registry))
        if commits:  # commits whose Gitexp-Run trailer names this run (gitexp hooks install)
            click.echo("\n" + click.style("recorded by", bold=True))
            click.echo("\n".join(f"  {c[:12]}  {escape_controls(t)}" for c, t in commits))
