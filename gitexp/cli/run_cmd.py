"""`gitexp run`: run a command as a tracked run.

The options come from `gitexp.runcli.OPTIONS`, which the console script also parses
without click (`runcli.fast_main`); the command itself is `runcli.execute`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from gitexp.runcli import FLAG, MULTIPLE, OPTIONS, execute, usage_problem


def _options(fn: Callable) -> Callable:
    """Add every option of OPTIONS to `fn`, in the table's order."""
    for opt in reversed(OPTIONS):
        # is_flag only when True: click 8.3+ reads an explicit is_flag=False as "the value may be
        # omitted", so `-p -- cmd` gave params (None,) instead of click's usual ('--',)
        kind: dict[str, Any] = {"is_flag": True} if opt.kind == FLAG else {"multiple": opt.kind == MULTIPLE}
        fn = click.option(*opt.decls, opt.dest, metavar=opt.metavar, help=opt.help, **kind)(fn)
    return fn


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(**values: Any) -> int:
    """Run COMMAND as a tracked run; exit with COMMAND's exit code.

    The working tree is snapshotted, the run starts (RUNNING), and COMMAND runs
    with GITEXP_RUN_ID in its environment, so gitexp calls in it (and in its
    children) log to this run. Its stdout and stderr go to the terminal and to
    the run's output.log. Ctrl-C, SIGTERM and SIGHUP reach COMMAND once and the
    run is recorded as KILLED; a second Ctrl-C sends SIGTERM, a third SIGKILL.
    If gitexp run itself is killed, COMMAND is killed too (Linux). gitexp exits
    as a shell would: COMMAND's exit code, 128+N after signal N, 130 when
    COMMAND caught Ctrl-C and exited 0, 127 for a command not found and 126 for
    one that is not executable.

    With a params.yaml in the repository, -p overrides are written into it
    for the run and the file is restored byte for byte afterwards. A run
    holds the file for its whole life: another run with -p waits for it
    (saying so), or with --no-wait refuses. To run overridden trials in
    parallel, run them in separate worktrees (git worktree add).

    \b
    Example:
        gitexp run -- python train.py
        gitexp run -e mnist -n baseline -p lr=0.01 -p model.depth=4 -- python train.py
        gitexp run --register churn --artifact model.pkl -- python train.py
        gitexp run -p train.lr=0.1 -p +train.dropout=0.2 -- python train.py
    """
    problem = usage_problem(values)
    if problem:
        raise click.UsageError(problem)
    return execute(values)
