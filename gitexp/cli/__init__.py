"""The `gitexp` command line: a thin click layer over the services.

Subcommands live in their own modules and load only when used, so that
`gitexp --help` stays fast; heavy libraries are imported inside commands.
The group, its error boundary and the command table live in `gitexp.cli.app`,
imported on first use of a name below: the everyday commands are tables
(`cli/spec.py`) that the console script parses without importing click.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from gitexp.cli.app import COMMANDS, GitexpGroup, cli, main

__all__ = ["COMMANDS", "GitexpGroup", "cli", "main"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'gitexp.cli' has no attribute {name!r}")
    from gitexp.cli import app

    return getattr(app, name)
