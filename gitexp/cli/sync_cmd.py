"""`gitexp push`, `fetch`, `pull`, `remote setup`, `store set`, `gc`: share runs through Git remotes.

Data (what would be sent, JSON) goes to stdout; progress and summaries to stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from gitexp.cli.options import echo_json, open_db


def _say(text: str) -> None:
    click.echo(f"gitexp: {text}", err=True)


class _Progress:
    """A progress bar on stderr, shown only once work has taken over a second."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.drawn = False

    def __call__(self, what: str, done: int, total: int) -> None:
        if time.monotonic() - self.start < 1.0 and not self.drawn:
            return
        self.drawn = True
        width = 30
        filled = width * done // max(total, 1)
        click.echo(f"\rgitexp: {what} [{'#' * filled}{' ' * (width - filled)}] {done}/{total}", err=True,
                   nl=done >= total)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


@click.command()
@click.argument("remote", required=False)
@click.argument("runs", nargs=-1)
@click.option("-e", "--experiment", help="Only this experiment's runs.")
@click.option("-a", "--all", "all_", is_flag=True, help="Every run (the default when no RUN is given).")
@click.option("--include-running", is_flag=True, help="Also send runs still RUNNING.")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--no-artifacts", is_flag=True, help="Send the run records only, not large artifacts.")
@click.option("--prune", is_flag=True, help="Also delete on the remote the runs removed here with rm.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask about files that look like credentials.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def push(remote: str | None, runs: tuple[str, ...], experiment: str | None, all_: bool, include_running: bool,
         dry_run: bool, no_artifacts: bool, prune: bool, yes: bool, as_json: bool) -> None:
    """Send runs to REMOTE: the ones it lacks or has older, with their large artifacts.

    Experiment records and the runs' registry tags go with them.

    REMOTE defaults to the current branch's upstream remote, else origin.
    Large artifacts go to the remote's artifact store first (gitexp store set),
    then the run refs. Nothing is forced: a run edited both here and on the
    remote is rejected and named; `gitexp pull` merges it.

    \b
    Example:
        gitexp push
        gitexp push origin brisk-otter
        gitexp push origin -e baseline --dry-run
    """
    from gitexp.services.sync.push import PushOptions, execute_push, pending_updates, plan_push

    with open_db() as s:
        opts = PushOptions(remote, runs, experiment, include_running, dry_run, not no_artifacts, prune)
        plan = plan_push(s, opts)
        if plan.secrets and not dry_run:
            _confirm_secrets(plan.secrets, yes)
        if dry_run:
            _show_plan(plan, as_json)
            return
        result = execute_push(s, plan, _Progress()) if pending_updates(plan) else None
    _report_push(plan, result, as_json)
    if plan.rejected:
        sys.exit(1)


def _confirm_secrets(secrets: list[tuple[str, str, str]], yes: bool) -> None:
    click.echo("gitexp: these files in the runs to send look like credentials:", err=True)
    for label, path, pattern in secrets:
        click.echo(f"  {path}  (matches {pattern}, in run {label})", err=True)
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.ClickException("refusing to send them without confirmation; pass --yes to send anyway")
    if not click.confirm("Send them anyway?", default=False, err=True):
        raise click.Abort()


def _show_plan(plan: Any, as_json: bool) -> None:
    data = {
        "remote": plan.remote.name, "send": [{"id": o.run_id, "name": o.name, "ref": o.ref,
                                              "new": o.expect is None} for o in plan.send],
        "up_to_date": plan.up_to_date, "behind": plan.behind, "rejected": plan.rejected,
        "running": plan.running, "artifacts": [{"run": a.run_id, "path": a.path, "size": a.size}
                                               for a in plan.artifacts],
        "delete": [u.ref for u in plan.deletes],
        "tags": [u.ref[len("refs/tags/"):] for u in plan.tags.send],
        "experiments": [u.ref.rsplit("/", 1)[-1] for u in plan.experiments.send],
    }
    if as_json:
        echo_json(data)
        return
    for o in plan.send:
        click.echo(f"{'new ' if o.expect is None else 'update'}  {o.run_id}  {o.name}")
    for a in plan.artifacts:
        click.echo(f"artifact  {a.run_id}  {a.path}  {_mib(a.size)}")
    for ref in data["delete"]:
        click.echo(f"delete  {ref}")
    for name in data["tags"]:
        click.echo(f"tag  {name}")
    for slug in data["experiments"]:
        click.echo(f"experiment  {slug}")
    _say(f"would send {len(plan.send)} run(s), {len(plan.experiments.send)} experiment record(s), "
         f"{len(plan.tags.send)} registry tag(s) and {len(plan.artifacts)} artifact(s) to {plan.remote.name}; "
         f"{plan.up_to_date} up to date")
    _report_skips(plan)


def _report_skips(plan: Any) -> None:
    if plan.running:
        _say(f"{len(plan.running)} running run(s) not sent (--include-running sends them)")
    if plan.behind:
        _say(f"{len(plan.behind)} run(s) are newer on {plan.remote.name}: gitexp pull {plan.remote.name}")
    if plan.experiments.behind:
        _say(f"{len(plan.experiments.behind)} experiment record(s) are newer on {plan.remote.name}: "
             f"gitexp pull {plan.remote.name}")
    for label, why in plan.rejected.items():
        click.secho(f"rejected: {label}: {why}", err=True, fg="red")


def _report_push(plan: Any, result: Any, as_json: bool) -> None:
    if as_json:
        echo_json({"remote": plan.remote.name, "sent": result.sent if result else [],
                   "deleted": result.deleted if result else [], "up_to_date": plan.up_to_date,
                   "artifacts": result.artifacts_sent if result else 0,
                   "bytes": result.artifact_bytes if result else 0, "rejected": plan.rejected,
                   "tags": result.tags_sent if result else [],
                   "experiments": result.experiments_sent if result else [],
                   "behind": plan.behind, "running": plan.running})
    if result is None or not (result.sent or result.deleted or result.tags_sent or result.experiments_sent):
        if not plan.rejected:
            tags = f", {plan.tags.up_to_date} registry tag(s)" if plan.tags.up_to_date else ""
            _say(f"{plan.remote.name} is up to date ({plan.up_to_date} run(s){tags})")
    else:
        deleted = f", deleted {len(result.deleted)}" if result.deleted else ""
        tags = f", {len(result.tags_sent)} registry tag(s)" if result.tags_sent else ""
        tags += f", {len(result.experiments_sent)} experiment record(s)" if result.experiments_sent else ""
        _say(f"pushed {len(result.sent)} run(s) to {plan.remote.name}{deleted}{tags}, {result.artifacts_sent} "
             f"artifact(s) ({_mib(result.artifact_bytes)}); {plan.up_to_date} already up to date")
    _report_skips(plan)


@click.command()
@click.argument("remote", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def fetch(remote: str | None, as_json: bool) -> None:
    """Fetch REMOTE's runs and experiment records into refs/gitexp/remotes/REMOTE/; local ones are not touched.

    `gitexp pull` then integrates them; `gitexp ls --unpushed` compares.

    \b
    Example:
        gitexp fetch
        gitexp fetch origin
    """
    from gitexp.services.sync.pull import fetch as do_fetch

    with open_db() as s:
        result = do_fetch(s, remote)
    if as_json:
        echo_json({"remote": result.remote.name, "runs": len(result.refs), "updated": result.new,
                   "pruned": result.pruned, "tags": result.tags.created,
                   "tag_conflicts": result.tags.conflicts, "experiments": len(result.experiments),
                   "experiments_updated": result.experiments_new})
    _say(f"{result.remote.name} has {len(result.refs)} run(s); {result.new} new or updated, {result.pruned} gone"
         + (f"; {result.experiments_new} experiment record(s) new or updated" if result.experiments_new else "")
         + _tags_note(result.tags))
    if _report_tag_conflicts(result.tags):
        sys.exit(1)


def _tags_note(tags: Any) -> str:
    return f"; {len(tags.created)} registry tag(s) new" if tags.created else ""


def _report_tag_conflicts(tags: Any) -> bool:
    for name, why in tags.conflicts.items():
        click.secho(f"conflict: registry tag {name}: {why}", err=True, fg="red")
    return bool(tags.conflicts)


@click.command()
@click.argument("remote", required=False)
@click.option("-e", "--experiment", help="Only this experiment's runs.")
@click.option("--artifacts", is_flag=True, help="Also download large artifacts into the local store.")
@click.option("--restore", is_flag=True, help="Bring back runs removed here with rm.")
@click.option("--prefer", type=click.Choice(["ours", "theirs"]),
              help="Settle conflicting edits by keeping this side's values.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def pull(remote: str | None, experiment: str | None, artifacts: bool, restore: bool, prefer: str | None,
         as_json: bool) -> None:
    """Fetch REMOTE's runs and integrate them: new runs appear, edits are merged.

    A run edited here and there gets a merge commit with both histories as
    parents. Conflicting edits (one tag set to two values) leave the run as it
    is here and are listed with the command that settles them. Runs removed
    here with rm are not brought back unless --restore.

    \b
    Example:
        gitexp pull
        gitexp pull origin -e baseline --artifacts
        gitexp pull origin --prefer theirs
    """
    from gitexp.services.sync.pull import pull as do_pull

    with open_db() as s:
        result = do_pull(s, remote, experiment, restore, prefer, artifacts, _Progress())
    integ, name, exps = result.integration, result.fetch.remote.name, result.experiments
    if as_json:
        echo_json({"remote": name, "created": integ.created, "fast_forwarded": integ.fast_forwarded,
                   "merged": integ.merged, "ahead": integ.ahead, "skipped_removed": integ.skipped_removed,
                   "conflicts": {k: [c.describe() for c in v] for k, v in integ.conflicts.items()},
                   "errors": integ.errors, "artifacts": result.artifacts, "tags": result.fetch.tags.created,
                   "tag_conflicts": result.fetch.tags.conflicts,
                   "experiments": {"created": exps.created, "fast_forwarded": exps.fast_forwarded,
                                   "merged": exps.merged, "ahead": exps.ahead, "same_name": exps.same_name,
                                   "conflicts": {k: [c.describe() for c in v] for k, v in exps.conflicts.items()},
                                   "errors": exps.errors}})
    _say(f"pulled from {name}: {len(integ.created)} new, {len(integ.fast_forwarded)} updated, "
         f"{len(integ.merged)} merged, {len(integ.unchanged) + len(integ.ahead)} unchanged"
         + (f", {result.artifacts} artifact(s) ({_mib(result.artifact_bytes)})" if artifacts else "")
         + (f"; {exps.changed} experiment record(s) new, updated or merged" if exps.changed else "")
         + _tags_note(result.fetch.tags))
    bad_experiments = _report_experiments(exps, name)
    if integ.skipped_removed:
        _say(f"{len(integ.skipped_removed)} run(s) removed here were not brought back (--restore does)")
    if integ.ahead:
        _say(f"{len(integ.ahead)} run(s) have local edits to send: gitexp push {name}")
    for run_id, conflicts in integ.conflicts.items():
        for c in conflicts:
            click.secho(f"conflict: run {run_id}: {c.describe()}", err=True, fg="red")
    if integ.conflicts:
        click.echo(f"hint: keep one side's values with: gitexp pull {name} --prefer ours  "
                   f"(or --prefer theirs); the other side's commit stays in the run's history", err=True)
    for what, why in {**integ.errors, **{str(i): e for i, e in enumerate(result.artifact_errors)}}.items():
        click.secho(f"error: {what}: {why}", err=True, fg="red")
    tag_conflicts = _report_tag_conflicts(result.fetch.tags)
    if integ.conflicts or integ.errors or result.artifact_errors or tag_conflicts or bad_experiments:
        sys.exit(1)


def _report_experiments(exps: Any, remote: str) -> bool:
    """Say what pulling the experiment records left to do; True when something needs the user."""
    if exps.ahead:
        _say(f"{len(exps.ahead)} experiment record(s) have local edits to send: gitexp push {remote}")
    for name, slugs in exps.same_name.items():
        _say(f"experiments {', '.join(slugs)} are all named {name!r}: both kept; a lookup by that name picks "
             f"{slugs[0]} (the oldest), the others by their slug or id")
    for slug, conflicts in exps.conflicts.items():
        for c in conflicts:
            click.secho(f"conflict: experiment {slug}: {c.describe()}", err=True, fg="red")
    if exps.conflicts:
        click.echo(f"hint: keep one side's values with: gitexp pull {remote} --prefer ours  (or --prefer theirs); "
                   "the other side's record stays in the experiment's history", err=True)
    for slug, why in exps.errors.items():
        click.secho(f"error: experiment {slug}: {why}", err=True, fg="red")
    return bool(exps.conflicts or exps.errors)


@click.group()
def remote() -> None:
    """Set up a Git remote for gitexp runs.

    \b
    Example:
        gitexp remote setup origin
        gitexp remote setup origin --undo
    """


@remote.command("setup")
@click.argument("name", default="origin")
@click.option("--undo", is_flag=True, help="Remove the lines this command added.")
def remote_setup(name: str, undo: bool) -> None:
    """Make plain `git fetch` / `git push` of NAME carry runs too (opt-in).

    Adds to .git/config: fetch refspecs into refs/gitexp/remotes/NAME/runs/
    and .../experiments/ (never onto local refs), and push refspecs HEAD,
    refs/gitexp/runs/*:refs/gitexp/runs/* and the same for
    refs/gitexp/experiments/* (no +, so diverged runs are rejected). Note:
    with push lines set, a bare `git push` pushes only those (HEAD keeps the
    current branch going to its same-named branch).

    \b
    Example:
        gitexp remote setup origin
    """
    from gitexp.services.sync.setup import remote_setup as do_setup

    with open_db() as s:
        changes = do_setup(s, name, undo)
    for c in changes:
        verb = ("removed" if undo else "added") if c.changed else ("absent" if undo else "kept")
        click.echo(f"{verb}  {c.key} = {c.value}")


@click.group()
def store() -> None:
    """Configure the artifact store of a remote (in the tracked .gitexp.yaml).

    \b
    Example:
        gitexp store set origin /mnt/team/gitexp-store
        gitexp store set origin s3://bucket/gitexp
    """


@store.command("set")
@click.argument("remote_name", metavar="REMOTE")
@click.argument("location")
def store_set(remote_name: str, location: str) -> None:
    """Use LOCATION as REMOTE's artifact store: a directory, file:// or fsspec URL.

    Written to .gitexp.yaml (remote_stores), so commit it to share it.

    \b
    Example:
        gitexp store set origin /mnt/team/gitexp-store
    """
    from gitexp.services.sync.setup import set_store

    with open_db() as s:
        path = set_store(s, remote_name, location)
    _say(f"artifact store of {remote_name} is {location} (in {path}; commit it to share it)")


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--grace", type=click.FloatRange(min=0), default=14.0, show_default=True,
              help="Keep unreachable objects younger than this many days.")
def gc(dry_run: bool, grace: float) -> None:
    """Remove local side-store objects no ref and no active run reaches.

    Only objects older than the grace period go, so nothing a running run has
    just stored is lost.

    \b
    Example:
        gitexp gc --dry-run
        gitexp gc
    """
    from gitexp.services.sync.gc import collect

    with open_db() as s:
        result = collect(s, dry_run, grace * 86400)
    for sha in result.removed:
        click.echo(sha)
    _say(f"{'would remove' if dry_run else 'removed'} {len(result.removed)} object(s) ({_mib(result.freed)}); "
         f"{result.kept_young} unreachable but younger than {grace:g} days kept")
