"""`gitexp log`, `apply`, `branch`, `reproduce`: from commits to runs and back to a run's code."""

from __future__ import annotations

import sys

import click

from gitexp.cli.options import echo_json, open_db
from gitexp.render.formats import fmt_value

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from typing import Any


@click.command()
@click.argument("rev", default="HEAD", required=False)
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="Show at most N commits.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def log(rev: str, limit: int, as_json: bool) -> None:
    """The commit history of REV with, under each commit, its runs.

    'recorded' runs are those its Gitexp-Run trailers name (see 'gitexp
    hooks install'); 'based on it' are the runs whose baseline it is. Each
    shows id, name, status and key metrics.

    \b
    Example:
        gitexp log
        gitexp log main -n 5 --json
    """
    from gitexp.services.code import commit_log, run_brief

    with open_db() as s:
        commits = commit_log(s, rev, limit)
        if as_json:
            echo_json([_commit_dict(c, run_brief) for c in commits])
            return
        for c in commits:
            click.echo(click.style(f"commit {c.commit[:12]}", fg="yellow") + f"  {c.date[:10]}  {c.author}")
            click.echo(f"    {c.subject}")
            for run_id in c.recorded:
                r = c.runs.get(run_id)
                click.echo("    recorded   " + (_brief_line(run_brief(r)) if r else f"{run_id}  (not in this clone)"))
            for r in c.baseline_of:
                click.echo("    based on   " + _brief_line(run_brief(r)))
            click.echo("")


def _commit_dict(c: Any, brief: Any) -> dict[str, Any]:
    return {"commit": c.commit, "parents": c.parents, "author": c.author, "date": c.date, "subject": c.subject,
            "recorded": [brief(c.runs[i]) if i in c.runs else {"id": i, "status": None} for i in c.recorded],
            "baseline_of": [brief(r) for r in c.baseline_of]}


def _brief_line(b: dict[str, Any]) -> str:
    metrics = "  ".join(f"{k}={fmt_value(v, 12)}" for k, v in b["metrics"].items())
    return f"{b['id'][:8]}  {b['name']:<18} {b['status']:<9} {metrics}".rstrip()


@click.command()
@click.argument("run")
@click.option("--force", is_flag=True, help="Overwrite uncommitted changes (and untracked files in the way).")
def apply(run: str, force: bool) -> None:
    """Put RUN's code snapshot into the working tree (never its record folder).

    Only files change, not the index: 'git status' and 'git diff' then show
    what the run ran on top of HEAD. Refuses over uncommitted changes unless
    --force.

    \b
    Example:
        gitexp apply brisk-otter
        gitexp apply 1m8bpv3w --force
    """
    from gitexp.services.code import apply_run

    with open_db() as s:
        result = apply_run(s, run, force)
    label = f"{result.run.name} ({result.run.id})"
    if not result.changes:
        click.echo(f"the working tree already holds the code of run {label}", err=True)
        return
    for kind, path in result.changes:
        click.echo(f"{kind:<9} {path}")
    click.echo(f"applied the code of run {label}: {len(result.changes)} file(s) changed; "
               f"see: git status", err=True)


@click.command()
@click.argument("run")
@click.argument("name")
def branch(run: str, name: str) -> None:
    """Create the branch NAME at RUN's commit (an existing branch is refused).

    The branch holds the run's code and its record under .gitexp/; check it
    out, merge it or push it like any branch.

    \b
    Example:
        gitexp branch brisk-otter exp/lr-0.1
        git switch exp/lr-0.1
    """
    from gitexp.services.code import branch_from_run

    with open_db() as s:
        info, _ref, commit = branch_from_run(s, run, name)
    click.echo(f"branch {name} created at {commit[:12]} (run {info.name}, {info.id})", err=True)
    click.echo(f"next: git switch {name}", err=True)


@click.command()
@click.argument("run")
@click.option("--compare", is_flag=True, help="Then print 'gitexp diff' of the run and its reproduction.")
@click.option("-y", "--yes", is_flag=True, help="Run a command from a run not created in this clone without asking.")
def reproduce(run: str, compare: bool, yes: bool) -> int:
    """Run RUN's recorded command again, on its recorded code, as a new run.

    The command runs in a temporary linked worktree (your working tree is not
    touched) at the run's baseline with its snapshot on top, with the
    recorded params, as a new run tagged reproduces=<run-id>; the worktree is
    removed afterwards, whatever happens. Ignored inputs (data/) are not in
    that worktree: the command finds your working tree in
    $GITEXP_SOURCE_ROOT. For a run not created in this clone the command,
    its author and origin are shown first, and it runs only after a yes.

    \b
    Example:
        gitexp reproduce brisk-otter --compare
        gitexp reproduce 1m8bpv3w --yes
    """
    from gitexp.services import reproduce as rep

    with open_db() as s:
        p = rep.plan(s, run)
        if not p.local:
            _confirm(p, yes)
        result = rep.reproduce(s, p, sys.stdout.buffer, sys.stderr.buffer, on_start=_announce)
    colour = {"FINISHED": "green", "FAILED": "red"}.get(result.status, "yellow")
    click.echo(click.style(f"gitexp: run {result.name} {result.status}", fg=colour)
               + f" (exit code {result.exit_code}); it reproduces {p.info.name} ({p.info.id})", err=True)
    if compare:
        from gitexp.cli.diff_cmd import diff

        # --all: equal params and metrics are the point of a reproduction; the table has the other defaults
        diff.run(diff.values(run_a=p.info.id, run_b=result.run_id, all_=True))
    else:
        click.echo(f"compare: gitexp diff {p.info.id} {result.run_id}", err=True)
    return result.exit_code


def _confirm(p: Any, yes: bool) -> None:
    click.echo(f"run {p.info.name} ({p.info.id}) was {p.source}", err=True)
    click.echo(f"  author   {p.author}  (recorded as {p.info.user}@{p.info.host})", err=True)
    click.echo(f"  command  {' '.join(p.info.command)}", err=True)
    if yes:
        return
    from gitexp.errors import GitexpError

    hint = f"check its code (gitexp apply {p.info.id}), then: gitexp reproduce {p.info.id} --yes"
    try:
        ok = click.confirm("Run this command on this machine?", default=False, err=True)
    except click.exceptions.Abort:  # no answer (no terminal, Ctrl-D): no
        raise GitexpError("nothing was run: no answer to the question", hint=hint) from None
    if not ok:
        raise GitexpError("nothing was run", hint=hint)


def _announce(run: Any) -> None:
    info = run.info
    click.echo(f"gitexp: run {info.name} ({info.id}) started in a temporary worktree", err=True)
