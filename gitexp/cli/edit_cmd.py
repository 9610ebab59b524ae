"""`gitexp tag`, `note`, `rename`, `rm`: manage runs after the fact.

Each edit of an ended run is a new commit on the run's ref, so `git log <ref>`
shows every change. Messages about what was done go to stderr; data (a tag
listing, a note) goes to stdout.
"""

from __future__ import annotations

import sys

import click

from gitexp.cli.options import complete_runs, open_db
from gitexp.render.formats import escape_controls

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from gitexp.services.edit.core import EditResult
    from gitexp.services.edit.runs import Removed


def _done(text: str) -> None:
    click.echo(f"gitexp: {escape_controls(text)}", err=True)


def _commit_note(result: EditResult) -> str:
    return f" (commit {result.new[:12]})"


@click.command()
@click.argument("run", shell_complete=complete_runs)
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("-d", "--delete", "deletes", multiple=True, metavar="KEY",
              help="Delete the tag KEY (repeat for several).")
def tag(run: str, assignments: tuple[str, ...], deletes: tuple[str, ...]) -> None:
    """Set or delete tags of RUN; with neither, print its tags (KEY=VALUE lines).

    RUN is a run id, an id prefix (4+ characters), a run name, or a git revision
    of a run commit. Values are text. A finished run gets a new commit on its
    ref ("gitexp: tag stage=best"). A run still running on this machine gets
    the tags in its journal, and its final commit includes them.

    \b
    Example:
        gitexp tag brisk-otter stage=best reviewed=yes
        gitexp tag brisk-otter --delete reviewed
        gitexp tag brisk-otter
    """
    from gitexp.services.edit import set_tags
    from gitexp.services.tracking.paramsfile import parse_assignments

    with open_db() as db:
        if not assignments and not deletes:
            from gitexp.services.catalog.listing import get_run

            for key, value in sorted(get_run(db, run).tags.items()):
                click.echo(escape_controls(f"{key}={value}"))
            return
        tags = parse_assignments(assignments, "tag")
        result = set_tags(db, run, tags, list(deletes))
    what = ", ".join([f"{k}={v}" for k, v in tags.items()] + [f"deleted {k}" for k in deletes])
    if result.queued:
        _done(f"tagged running run {result.name}: {what}; its final commit will include it")
    elif result.changed:
        _done(f"tagged {result.name}: {what}" + _commit_note(result))
    else:
        _done(f"{result.name} already has {what}; nothing changed")


@click.command()
@click.argument("run", shell_complete=complete_runs)
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the run's note.")
def note(run: str, text: str | None, clear: bool) -> None:
    """Set the note (description) of RUN to TEXT; without TEXT, print the note.

    TEXT '-' reads the note from stdin. The note is stored as `description` in
    run.yaml, in a new commit on the run's ref ("gitexp: note"). A run that is
    still running cannot get a note yet (its process owns the ref): add it
    after the run ends, or set a tag meanwhile.

    \b
    Example:
        gitexp note brisk-otter "baseline with the new tokenizer"
        git log -1 --format=%B | gitexp note brisk-otter -
        gitexp note brisk-otter --clear
    """
    from gitexp.services.edit import set_note

    if clear and text is not None:
        raise click.UsageError("give TEXT or --clear, not both")
    if text == "-":
        text = sys.stdin.read()
    with open_db() as db:
        if text is None and not clear:
            from gitexp.services.catalog.listing import get_run

            r = get_run(db, run)
            if r.info.description:
                click.echo(escape_controls(r.info.description.rstrip("\n")))
            else:
                _done(f"run {r.name} has no note")
            return
        result = set_note(db, run, None if clear else text)
    if not result.changed:
        _done(f"{result.name} already has that note; nothing changed")
    else:
        _done(("cleared the note of " if clear else "noted ") + result.name + _commit_note(result))


@click.command()
@click.argument("run", shell_complete=complete_runs)
@click.argument("name")
def rename(run: str, name: str) -> None:
    """Rename RUN to NAME; run names are unique in the repository.

    The new name is recorded in run.yaml in a new commit on the run's ref
    ("gitexp: rename brisk-otter -> baseline"). A run that is still running
    cannot be renamed until it ends.

    \b
    Example:
        gitexp rename brisk-otter baseline
        gitexp rename 1m8bpv3w "lr sweep best"
    """
    from gitexp.services.edit import rename_run

    with open_db() as db:
        result = rename_run(db, run, name)
    if result.changed:
        _done(f"renamed {result.old_name} -> {result.name}" + _commit_note(result))
    else:
        _done(f"run is already named {result.name}; nothing changed")


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...", shell_complete=complete_runs)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Remove runs even if a registry tag (a model version) points at them.")
def rm(runs: tuple[str, ...], yes: bool, force: bool) -> None:
    """Remove runs: delete their refs (compare-and-delete), after confirmation.

    Nothing is lost at once: the ref's reflog keeps the run's last commit, and
    the exact command to restore it is printed (git update-ref REF SHA). After
    the reflog entry expires (gc.reflogExpireUnreachable, 30 days by default)
    `git gc` reclaims the run's objects. Runs still running are refused, and
    so are registered model versions unless --force (their tags keep the run's
    commit, so its artifacts stay reachable).

    \b
    Example:
        gitexp rm brisk-otter
        gitexp rm -y 1m8bpv3w 1m8bq0xa
    """
    from gitexp.services.edit import find_removable, remove_runs

    with open_db() as db:
        targets = find_removable(db, runs, force)
        if not yes:
            click.echo(f"About to remove {len(targets)} run{'s' if len(targets) != 1 else ''}:", err=True)
            for t in targets:
                click.echo(f"  {t.info.name}  {t.info.id}  {t.info.status}  experiment {t.info.experiment}",
                           err=True)
            click.confirm("Remove?", default=False, abort=True, err=True)
        remove_runs(db, targets, on_removed=_report_removed)


def _report_removed(r: Removed) -> None:
    _done(f"removed run {r.name} ({r.run_id}); undo: {r.undo}")
    if r.registry_tags:
        _done(f"note: registry tags still point at it: {', '.join(r.registry_tags)}")
