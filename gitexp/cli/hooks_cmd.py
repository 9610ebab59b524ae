"""`gitexp hook` (what git's hooks call) and `gitexp hooks install|uninstall|status`."""

from __future__ import annotations

import os

import click

from gitexp.hookrun import GIT_HOOKS, run_hook
from gitexp.cli.options import echo_json

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from gitexp.services.hooks.install import HooksReport


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", required=False, type=click.Choice(GIT_HOOKS))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--runs", "runs", multiple=True, metavar="RUN",
              help="Record RUN in the next commit on this HEAD, whatever its code (repeatable).")
def hook(name: str | None, args: tuple[str, ...], runs: tuple[str, ...]) -> int:
    """Run the git hook NAME (git's hook scripts call this), or name runs for the next commit.

    The installed hook scripts call 'gitexp hook NAME' with git's own
    arguments. prepare-commit-msg adds a 'Gitexp-Run: <run-id>' trailer for
    each run whose baseline is HEAD and whose code snapshot holds exactly the
    staged code (untracked files aside); commit-msg lets git abort a message
    holding nothing else; pre-commit warns when a commit adds a run record
    folder (.gitexp/). Without strict mode (git config gitexp.hooks.strict
    true) a gitexp failure never blocks a commit.

    Which runs are recorded: git config gitexp.hooks.record staged (default),
    finished (every FINISHED run whose baseline is HEAD) or none. With --runs,
    the named runs are added to the next commit made on the current HEAD.

    \b
    Example:
        gitexp hook --runs brisk-otter --runs calm-fox
        gitexp hook prepare-commit-msg .git/COMMIT_EDITMSG message
    """
    if name is not None:
        if runs:
            raise click.UsageError("--runs names runs for the next commit; give it without a hook name")
        return run_hook(name, list(args))
    if not runs:
        raise click.UsageError("give a hook name (pre-commit, prepare-commit-msg, commit-msg) or --runs RUN")
    from gitexp.cli.options import open_db
    from gitexp.services.catalog.listing import resolve
    from gitexp.services.hooks.commit import mark_for_next_commit

    with open_db() as s:
        ids = [(resolve(s, text)[0] or "").rsplit("/", 1)[-1] or text for text in runs]
        mark_for_next_commit(s, ids)
    click.echo(f"the next commit records {len(ids)} run(s): {', '.join(ids)}", err=True)
    return 0


@click.group()
def hooks() -> None:
    """Install, remove or inspect gitexp's git hooks (they link commits to runs).

    Hooks go into the folder git really uses: core.hooksPath when set, else the
    common .git/hooks that linked worktrees share. A hook already there is kept
    as <name>.legacy and still runs first. See docs/commits.md.

    \b
    Example:
        gitexp hooks install
        gitexp hooks status
        gitexp hooks uninstall
    """


@hooks.command()
@click.option("--force", is_flag=True, help="Rewrite gitexp's scripts, and overwrite a <name>.legacy in the way.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def install(force: bool, as_json: bool) -> None:
    """Install gitexp's hooks (again: upgrades them; idempotent).

    \b
    Example:
        gitexp hooks install
    """
    from gitexp.services.hooks.install import install as do_install

    report = do_install(_root(), force)
    _show(report, as_json)
    if report.hooks_path and not as_json:
        click.echo(f"note: core.hooksPath is set ({report.hooks_path}): installed there", err=True)


@hooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def uninstall(as_json: bool) -> None:
    """Remove gitexp's hooks only, putting back any hook kept as <name>.legacy.

    \b
    Example:
        gitexp hooks uninstall
    """
    from gitexp.services.hooks.install import uninstall as do_uninstall

    _show(do_uninstall(_root()), as_json)


@hooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(as_json: bool) -> None:
    """Show each hook: gitexp's (current or outdated), another tool's, or absent.

    \b
    Example:
        gitexp hooks status --json
    """
    from gitexp.services.hooks.install import status as get_status

    _show(get_status(_root()), as_json)


def _root() -> str:
    from gitexp.cli.options import open_db

    with open_db() as s:  # one line and a hint outside a repository
        return str(s.db.root or os.getcwd())


def _show(report: HooksReport, as_json: bool) -> None:
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(f"hooks folder: {report.folder}")
    for h in report.hooks:
        legacy = f" (+ {h.name}.legacy)" if h.legacy else ""
        click.echo(f"  {h.name:<20} {h.state}{legacy}" + (f"  -- {h.action}" if h.action else ""))
