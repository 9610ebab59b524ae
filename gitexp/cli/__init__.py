"""The `gitexp` command line: a thin click layer over the services.

Subcommands live in their own modules and load only when used, so that
`gitexp --help` stays fast; heavy libraries are imported inside commands.
"""

from __future__ import annotations

import importlib
import sys

import click

from gitexp import __version__

COMMANDS = {
    "run": "gitexp.cli.run_cmd:run",
    "ls": "gitexp.cli.ls_cmd:ls",
    "show": "gitexp.cli.show_cmd:show",
    "diff": "gitexp.cli.diff_cmd:diff",
    "compare": "gitexp.cli.diff_cmd:compare",
    "plot": "gitexp.cli.plot_cmd:plot",
    "tag": "gitexp.cli.edit_cmd:tag",
    "note": "gitexp.cli.edit_cmd:note",
    "rename": "gitexp.cli.edit_cmd:rename",
    "rm": "gitexp.cli.edit_cmd:rm",
    "demo": "gitexp.cli.demo_cmd:demo",
    "ui": "gitexp.cli.ui_cmd:ui",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitexp")
@click.option("--traceback", is_flag=True, hidden=True, help="Show the full traceback of unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """gitexp: track machine-learning experiments in the Git repository your code lives in.

    Every run is a commit on a hidden ref (refs/gitexp/runs/<experiment>/<id>)
    holding the exact code, params, metric histories, tags and artifacts.

    \b
    Example:
        gitexp run -p lr=0.01 -- python train.py
        gitexp ls
        gitexp show brisk-otter
    """
    ctx.obj = {"traceback": traceback}


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error boundary turns gitexp errors into a line and a hint."""
    from gitexp.cli.app import run_guarded

    return run_guarded(cli, sys.argv[1:] if argv is None else argv)
