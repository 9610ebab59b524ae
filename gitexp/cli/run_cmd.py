"""`gitexp run`: run a command as a tracked run, parsed without click for ordinary arguments.

Every millisecond before COMMAND starts is overhead: `RUN` is the command's table
(`cli/spec.py`), parsed by the console script unless the input needs click (help, a
typo, no `--`); the click command is built from the same table.
"""

from __future__ import annotations

import os
import sys

from gitexp.cli.out import open_db
from gitexp.cli.spec import FLAG, MULTIPLE, VALUE, Arg, Opt, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gitexp.services.tracking.paramsfile import Override
    from gitexp.services.tracking.run import ActiveRun

COLOURS = {"FINISHED": "32", "FAILED": "31"}  # ANSI green, red; anything else yellow (33), as click.style

OPTIONS = (
    Opt(("-e", "--experiment"), "experiment", VALUE, "Experiment to record the run in (default: 'default')."),
    Opt(("-n", "--name"), "name", VALUE, "Human name of the run (default: a generated one like brisk-otter)."),
    Opt(("-p", "--param"), "params", MULTIPLE,
        "A param (typed as YAML: 0.01 is a number). Written into params.yaml when the repo has one: "
        "KEY must be in it (+KEY adds a new key; ++KEY may also turn a mapping into a value or back).",
        "[+|++]KEY=VALUE"),
    Opt(("-t", "--tag"), "tags", MULTIPLE, "A tag (text).", "KEY=VALUE"),
    Opt(("--keep-params-file",), "keep_params_file", FLAG,
        "Leave -p overrides in params.yaml after the run (default: restore the file)."),
    Opt(("--force",), "force", FLAG, "Let every -p add keys and change shapes, as ++KEY=VALUE does."),
    Opt(("--no-wait",), "no_wait", FLAG,
        "Refuse, rather than wait, when another run holds params.yaml (one with -p overrides)."),
    Opt(("--register",), "register_as", VALUE, "After a successful run, register it as the next version of MODEL.",
        "MODEL"),
    Opt(("--artifact",), "artifact", VALUE, "With --register: the run artifact that is the model.", "PATH"),
)


def usage_problem(values: dict[str, Any]) -> str | None:
    """What is wrong with options that parse but do not go together (click shows it as a usage error)."""
    if values["artifact"] and not values["register_as"]:
        return "--artifact needs --register MODEL"
    return None


def _parsed(tags: Sequence[str], params: Sequence[str]) -> tuple[dict[str, Any], list[Override]]:
    """`-t` and `-p` parsed (their module loaded only when there are some)."""
    if not tags and not params:
        return {}, []
    from gitexp.services.tracking.paramsfile import parse_assignments, parse_overrides

    return parse_assignments(list(tags), "tag"), parse_overrides(list(params))


def execute(values: dict[str, Any]) -> int:
    """Run the command as a tracked run (click's `run` and `fast_main` both end here); its exit code."""
    _start_git_early()
    from gitexp.services.tracking.launcher import LaunchSpec, check_command, launch

    args = list(values["command"])
    if args and args[0] == "--":
        args = args[1:]
    check_command(args)  # before anything else: `gitexp run` alone gets the error and a hint
    register_as, artifact = values["register_as"], values["artifact"]
    if register_as:
        from gitexp.services.registry.tagnames import check_model

        check_model(register_as)
    tags, overrides = _parsed(values["tags"], values["params"])
    spec = LaunchSpec(args, values["experiment"], values["name"], {}, tags,
                      restore_params_file=not values["keep_params_file"],
                      overrides=overrides, force=values["force"],
                      wait=not values["no_wait"])
    with open_db() as s:
        result = launch(s, spec, sys.stdout.buffer, sys.stderr.buffer, on_start=_announce, notify=say)
    say(f"run {result.name} {result.status}", COLOURS.get(result.status, "33"),
        f" (exit code {result.exit_code}, {result.duration:.1f}s); see: gitexp show {result.name}")
    if result.interrupted_clean_exit:
        say("the command caught the interrupt and exited 0; the run is KILLED (exit code 130)")
    if result.params_file_restored is False:
        say("params.yaml was changed during the run, so the -p overrides were left in it")
    if register_as and result.status == "FINISHED":
        _register(register_as, result.run_id, artifact)
    return result.exit_code


def _start_git_early() -> None:
    """Start the git processes a run start reads (the config, the untracked files, and the
    `cat-file` that reads HEAD's commit and tree) before its modules load, so git works on the
    other core meanwhile. Only for a repository found from this folder as `open_repo` finds it
    without dulwich (no GIT_DIR or GIT_WORK_TREE in the environment)."""
    from gitexp.store import gitproc
    from gitexp.store.location import batch_command, config_command, find_repository, untracked_command

    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return
    place = find_repository(".")
    if place is not None and place.plain and place.work_tree is not None:
        gitproc.start_early(*config_command(place))
        gitproc.start_early(*untracked_command(place))
        gitproc.start_early(*batch_command(place.common_dir), stdin=True, quiet=True)


def _register(model: str, run_id: str, artifact: str | None) -> None:
    from gitexp.services.registry.writes import RegisterRequest, register

    with open_db() as s:
        w = register(s, RegisterRequest(model, run_id, artifact=artifact))
    say(f"registered {w.model} {w.version}: created tag {w.tag}; share it: {w.share}")


def _announce(run: ActiveRun) -> None:
    info = run.info
    say(f"run {info.name} ({info.id}) started in experiment {info.experiment}")
    for line in getattr(run, "notices", []):
        say(line)


def say(text: str, colour: str | None = None, rest: str = "") -> None:
    """`gitexp: TEXT` and `rest` on stderr; `gitexp: TEXT` in `colour` (an ANSI code, as click.style) on
    a terminal unless NO_COLOR is set."""
    text = f"gitexp: {text}"
    if colour and not os.environ.get("NO_COLOR") and sys.stderr.isatty():
        text = f"\x1b[{colour}m{text}\x1b[0m"
    _write(text + rest)


def _write(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


HELP = """Run COMMAND as a tracked run; exit with COMMAND's exit code.

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


run = Spec([*OPTIONS, Arg("command", many=True)], HELP, execute, problem=usage_problem, after_dashes="command")
