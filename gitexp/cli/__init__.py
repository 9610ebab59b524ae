"""The `gitexp` command line: a thin click layer over the services.

Subcommands live in their own modules and load only when used, so that
`gitexp --help` stays fast; heavy libraries are imported inside commands.
The group, its error boundary and the command table live in `gitexp.cli.app`.
"""

from __future__ import annotations

from gitexp.cli.app import COMMANDS, GitexpGroup, cli, main

__all__ = ["COMMANDS", "GitexpGroup", "cli", "main"]
