"""The CLI's single error boundary."""

from __future__ import annotations

import sys
import traceback as tb

import click

from gitexp.errors import GitexpError


def run_guarded(group: click.Group, argv: list[str]) -> int:
    """Run the click group; expected errors print `Error: …` and `hint: …` only."""
    show_traceback = "--traceback" in argv
    try:
        result = group.main(args=argv, prog_name="gitexp", standalone_mode=False)
    except GitexpError as exc:
        _print_error(exc.message, exc.hint)
        if getattr(exc, "pointer", None):
            click.echo(_indent(exc.pointer), err=True)  # type: ignore[attr-defined]
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the boundary: nothing unexpected escapes as a bare traceback
        if show_traceback:
            tb.print_exc()
        _print_error(f"unexpected {type(exc).__name__}: {exc}",
                     "rerun with 'gitexp --traceback …' and report the output")
        return 1
    return result if isinstance(result, int) else 0


def _print_error(message: str, hint: str | None) -> None:
    click.secho(f"Error: {message}", err=True, fg="red")
    if hint:
        click.echo(f"hint: {hint}", err=True)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def entry() -> None:
    """console_scripts entry point."""
    from gitexp.cli import main

    sys.exit(main())
