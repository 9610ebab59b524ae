"""`gitexp run`: run a command as a tracked run."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gitexp.services.tracking.run import ActiveRun


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-e", "--experiment", help="Experiment to record the run in (default: 'default').")
@click.option("-n", "--name", help="Human name of the run (default: a generated one like brisk-otter).")
@click.option("-p", "--param", "params", multiple=True, metavar="[+|++]KEY=VALUE",
              help="A param (typed as YAML: 0.01 is a number). Written into params.yaml when the repo has one: "
                   "KEY must be in it (+KEY adds a new key; ++KEY may also turn a mapping into a value or back).")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (text).")
@click.option("--keep-params-file", is_flag=True,
              help="Leave -p overrides in params.yaml after the run (default: restore the file).")
@click.option("--force", is_flag=True, help="Let every -p add keys and change shapes, as ++KEY=VALUE does.")
@click.option("--no-wait", is_flag=True,
              help="Refuse, rather than wait, when another run holds params.yaml (one with -p overrides).")
@click.option("--register", "register_as", metavar="MODEL",
              help="After a successful run, register it as the next version of MODEL.")
@click.option("--artifact", metavar="PATH", help="With --register: the run artifact that is the model.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(experiment: str | None, name: str | None, params: tuple[str, ...], tags: tuple[str, ...],
        keep_params_file: bool, force: bool, no_wait: bool, register_as: str | None, artifact: str | None,
        command: tuple[str, ...]) -> int:
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
    from gitexp.cli.options import open_db
    from gitexp.services.tracking.launcher import LaunchSpec, check_command, launch
    from gitexp.services.tracking.paramsfile import parse_assignments, parse_overrides

    args = list(command)
    if args and args[0] == "--":
        args = args[1:]
    check_command(args)  # before anything else: `gitexp run` alone gets the error and a hint
    if artifact and not register_as:
        raise click.UsageError("--artifact needs --register MODEL")
    if register_as:
        from gitexp.services.registry.tagnames import check_model

        check_model(register_as)
    overrides = parse_overrides(params)
    spec = LaunchSpec(args, experiment, name, {}, parse_assignments(tags, "tag"),
                      restore_params_file=not keep_params_file, overrides=overrides, force=force, wait=not no_wait)
    with open_db() as db:
        result = launch(db, spec, sys.stdout.buffer, sys.stderr.buffer, on_start=_announce, notify=_say)
    colour = {"FINISHED": "green", "FAILED": "red"}.get(result.status, "yellow")
    click.echo(click.style(f"gitexp: run {result.name} {result.status}", fg=colour)
               + f" (exit code {result.exit_code}, {result.duration:.1f}s); see: gitexp show {result.name}",
               err=True)
    if result.interrupted_clean_exit:
        click.echo("gitexp: the command caught the interrupt and exited 0; the run is KILLED (exit code 130)",
                   err=True)
    if result.params_file_restored is False:
        click.echo("gitexp: params.yaml was changed during the run, so the -p overrides were left in it",
                   err=True)
    if register_as and result.status == "FINISHED":
        _register(register_as, result.run_id, artifact)
    return result.exit_code


def _register(model: str, run_id: str, artifact: str | None) -> None:
    from gitexp.cli.options import open_db
    from gitexp.services.registry.writes import RegisterRequest, register

    with open_db() as db:
        w = register(db, RegisterRequest(model, run_id, artifact=artifact))
    click.echo(f"gitexp: registered {w.model} {w.version}: created tag {w.tag}; share it: {w.share}", err=True)


def _announce(run: ActiveRun) -> None:
    info = run.info
    click.echo(f"gitexp: run {info.name} ({info.id}) started in experiment {info.experiment}", err=True)
    for line in getattr(run, "notices", []):
        _say(line)


def _say(line: str) -> None:
    click.echo(f"gitexp: {line}", err=True)
