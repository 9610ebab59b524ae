"""`gitexp remote setup` and `gitexp store set`: configure a Git remote and its artifact store."""

from __future__ import annotations

import click

from gitexp.cli.out import say
from gitexp.cli.options import open_db


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
    say(f"artifact store of {remote_name} is {location} (in {path}; commit it to share it)")
