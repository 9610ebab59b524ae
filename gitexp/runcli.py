"""`gitexp run` without click: its option table, a parser for ordinary arguments, the command.

Every millisecond before COMMAND starts is overhead, and importing click costs a fifth
of a run start. The click command (`cli/run_cmd.py`) is built from OPTIONS; the console
script (`_entry.py`) first tries `fast_main`, which parses only what it is sure click
would parse the same way (`gitexp run [OPTIONS] -- COMMAND …`) and leaves anything else
(help, an unknown or malformed option, no command, shell completion) to click, so usage
messages and help stay click's. Errors of the run itself go through the CLI's one error
boundary (`cli.app.report`), imported only then.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from gitexp.services.session import Session
    from gitexp.services.tracking.run import ActiveRun

VALUE, MULTIPLE, FLAG = "value", "multiple", "flag"
COMPLETE_VAR = "_GITEXP_COMPLETE"  # click's shell-completion variable for prog name `gitexp`
COLOURS = {"FINISHED": "32", "FAILED": "31"}  # ANSI green, red; anything else yellow (33), as click.style


class Opt:
    """One option of `gitexp run`: its flags, the parameter it fills, its kind and help."""

    __slots__ = ("decls", "dest", "kind", "help", "metavar")

    def __init__(self, decls: tuple[str, ...], dest: str, kind: str, help: str, metavar: str | None = None) -> None:
        self.decls, self.dest, self.kind, self.help, self.metavar = decls, dest, kind, help, metavar

    def default(self) -> Any:
        return () if self.kind == MULTIPLE else False if self.kind == FLAG else None


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


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The values click would pass to `run` for `[OPTIONS] -- COMMAND …`; None when not sure."""
    by_flag = {flag: opt for opt in OPTIONS for flag in opt.decls}
    values = {opt.dest: opt.default() for opt in OPTIONS}
    i = 0
    while i < len(argv) and argv[i] != "--":
        flag, value = _split(argv[i])
        opt = by_flag.get(flag)
        if opt is None or (opt.kind == FLAG and value is not None):
            return None  # unknown (help, a typo, a prefix), or a flag given a value
        if opt.kind == FLAG:
            values[opt.dest] = True
            i += 1
            continue
        if value is None:
            i += 1
            if i >= len(argv):
                return None
            value = argv[i]
        if value.startswith("-"):
            return None  # click would take it as the value; a user more likely forgot one
        values[opt.dest] = values[opt.dest] + (value,) if opt.kind == MULTIPLE else value
        i += 1
    command = tuple(argv[i + 1:])
    if not command or usage_problem(values) is not None:
        return None
    values["command"] = command
    return values


def _split(arg: str) -> tuple[str, str | None]:
    """`--long=value` / `-svalue` to (flag, value); (arg, None) when no value is attached."""
    if arg.startswith("--"):
        flag, eq, value = arg.partition("=")
        return (flag, value) if eq else (arg, None)
    if arg.startswith("-") and len(arg) > 2:
        return arg[:2], arg[2:]
    return arg, None


def fast_main(argv: list[str]) -> int | None:
    """`gitexp run` for the arguments after `run`: its exit code, or None to leave them to click."""
    if COMPLETE_VAR in os.environ:
        return None
    values = parse(argv)
    if values is None:
        return None
    try:
        code = execute(values)
        sys.stdout.flush()  # a closed pipe must fail here, inside the boundary, not at exit
        return code
    except (Exception, KeyboardInterrupt) as exc:
        from gitexp.cli.app import report

        return report(exc, ["run", *argv], show_traceback=False)


def execute(values: dict[str, Any]) -> int:
    """Run the command as a tracked run (click's `run` and `fast_main` both end here); its exit code."""
    from gitexp.services.tracking.launcher import LaunchSpec, check_command, launch
    from gitexp.services.tracking.paramsfile import parse_assignments, parse_overrides

    args = list(values["command"])
    if args and args[0] == "--":
        args = args[1:]
    check_command(args)  # before anything else: `gitexp run` alone gets the error and a hint
    register_as, artifact = values["register_as"], values["artifact"]
    if register_as:
        from gitexp.services.registry.tagnames import check_model

        check_model(register_as)
    spec = LaunchSpec(args, values["experiment"], values["name"], {}, parse_assignments(values["tags"], "tag"),
                      restore_params_file=not values["keep_params_file"],
                      overrides=parse_overrides(values["params"]), force=values["force"],
                      wait=not values["no_wait"])
    with open_session() as s:
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


def open_session() -> Session:
    """A session on the repository of the current folder; its warnings go to stderr."""
    from gitexp.services.session import open_session as open_

    session = open_()
    session.on_warning = lambda message: _write(f"warning: {message}")
    return session


def _register(model: str, run_id: str, artifact: str | None) -> None:
    from gitexp.services.registry.writes import RegisterRequest, register

    with open_session() as s:
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
