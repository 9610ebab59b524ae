"""The `gitexp` group: lazy subcommands and the CLI's single error boundary.

`GitexpGroup.invoke` runs a command and turns whatever it raises into what a
user should see (pre-commit's and GTO's habit); `GitexpGroup.main` adds click's
own usage errors and decides between exiting and returning the code:

| raised                                   | stderr                                   | exit |
|------------------------------------------|------------------------------------------|------|
| `GitexpError`                            | `Error: …` and `hint: …`                 | `exit_code`: 1, usage 2 |
| click usage error (bad option, conflict) | click's usage line and `Error: …`        | 2 |
| `KeyboardInterrupt` (Ctrl-C)             | `Interrupted.`                           | 130 |
| `click.Abort` (a declined prompt)        | `Aborted.`                               | 1 |
| `BrokenPipeError` (ls piped to head -1)  | nothing                                  | 141, as git (128 + SIGPIPE) |
| anything else                            | one error line and a `--traceback` hint  | 1 |
"""

from __future__ import annotations

import errno
import os
import sys

import click

from gitexp import __version__
from gitexp.cli.commands import COMMANDS, SUMMARIES, TOP_HELP, TOP_OPTIONS, load
from gitexp.cli.spec import Spec
from gitexp.errors import GitexpError, ReadOnlyRepository

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from typing import Any

ARGV = "gitexp.argv"  # ctx.meta key: the arguments as typed, for the --traceback hint
SIGPIPE_EXIT = 141


class GitexpGroup(click.Group):
    """The top-level group: imports a subcommand's module only when it is needed, and owns
    the error boundary (see the module docstring)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        command = load(name)
        if isinstance(command, Spec):  # a table (cli/spec.py): the click command is built from it
            from gitexp.cli.clickspec import to_click

            command = to_click(name, command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, from SUMMARIES: `gitexp --help` imports no command module."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        with formatter.section("Commands"):
            formatter.write_dl([(name, click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit))
                                for name in COMMANDS])

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[Any, ...]:
        """As click's, and a misspelt command gets the closest one suggested."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.list_commands(ctx):
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.5)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if os.environ.get("NO_COLOR") and parent is None:  # https://no-color.org: never colour when set
            extra["color"] = False
        argv = list(args)  # parsing consumes `args`
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[ARGV] = argv
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; every error but click's own becomes a message and an exit code."""
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a closed pipe must fail here, inside the boundary, not at exit
            return result
        except (click.ClickException, click.exceptions.Exit):
            raise  # usage errors and explicit exits: click shows them
        except (Exception, KeyboardInterrupt) as exc:
            code = report(exc, ctx.meta.get(ARGV, []), show_traceback=bool(ctx.params.get("traceback")))
            raise click.exceptions.Exit(code) from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Like click's main, with the boundary always on: `standalone_mode` only chooses
        between `sys.exit(code)` and returning the code (`gitexp.cli.main`)."""
        try:
            result = super().main(args, prog_name or "gitexp", complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0  # `gitexp run` returns its command's code
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except (Exception, KeyboardInterrupt) as exc:  # raised while parsing, before invoke
            code = report(exc, [], show_traceback=False)
        if standalone_mode:
            sys.exit(code)
        return code


def report(exc: BaseException, argv: list[str], show_traceback: bool) -> int:
    """Print what the user should see about `exc`; return the exit code."""
    if isinstance(exc, GitexpError):
        _print_error(exc.message, exc.hint)
        pointer = getattr(exc, "pointer", None)  # a filter's syntax error: where it is
        if pointer:
            click.echo(_indent(pointer), err=True)
        return exc.exit_code
    if _is_interrupt(exc):
        click.echo("Interrupted.", err=True)
        return 130
    if isinstance(exc, click.ClickException):  # raised by a command run without click's parser (cli/spec.py)
        exc.show()
        return exc.exit_code
    if isinstance(exc, click.Abort):
        click.echo("Aborted.", err=True)
        return 1
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return SIGPIPE_EXIT
    refused = _refused_write(exc)
    if refused is not None:
        return report(refused, argv, show_traceback)
    if show_traceback:
        import traceback as tb

        tb.print_exception(type(exc), exc, exc.__traceback__)
        _print_error(f"unexpected {type(exc).__name__}: {exc}", "please report the traceback above")
        return 1
    import shlex

    command = shlex.join(["gitexp", "--traceback", *[a for a in argv if a != "--traceback"]])
    _print_error(f"unexpected {type(exc).__name__}: {exc}",
                 f"rerun as {command!r} and report the output" if argv else
                 "rerun with 'gitexp --traceback …' and report the output")
    return 1


def _refused_write(exc: BaseException) -> GitexpError | None:
    """A write the file system refused, as one line: a read-only repository, or a file without permission."""
    if not isinstance(exc, OSError) or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        return None
    name = os.fsdecode(exc.filename) if exc.filename else None
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno == errno.EROFS or name is None or ".git" in os.path.abspath(name).split(os.sep):
        where = name or os.getcwd()
        return ReadOnlyRepository(
            f"repository is read-only: cannot write {where} ({reason})",
            hint="gitexp records runs, tags, notes and its cache under .git: make it writable, "
                 "or work in a writable clone (git clone)")
    return GitexpError(f"cannot write {name}: {reason}", hint="check its permissions, or choose another path")


def _is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, also when a click prompt turned it into Abort (it keeps it as the context)."""
    return isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, click.Abort) and isinstance(exc.__context__, KeyboardInterrupt))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (tests capture stdout): nothing will be flushed to a pipe


def _print_error(message: str, hint: str | None) -> None:
    # NO_COLOR here too: a command's fast path (cli/spec.py) reports without a click context.
    click.secho(f"Error: {message}", err=True, fg="red", color=False if os.environ.get("NO_COLOR") else None)
    if hint:
        click.echo(f"hint: {hint}", err=True)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


@click.group(name="gitexp", cls=GitexpGroup, help=TOP_HELP,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitexp", help=TOP_OPTIONS["--version"])
@click.option("--traceback", is_flag=True, help=TOP_OPTIONS["--traceback"])
def cli(traceback: bool) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    """Run gitexp with `argv` (default: the process's arguments) and return the exit code."""
    return cli.main(args=sys.argv[1:] if argv is None else argv, prog_name="gitexp", standalone_mode=False)


def entry() -> None:
    """console_scripts entry point."""
    sys.exit(main())
