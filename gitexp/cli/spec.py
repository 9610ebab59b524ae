"""Commands as tables: their options and arguments, parsed without click for ordinary input.

Importing click costs about a third of a warm `gitexp ls`. A command module that holds
a `Spec` (its parameters, in click's order, its help and the function that runs it) and
imports no click gets two front ends from the one table: `cli/clickspec.py` builds the
click command (so `--help`, docs/cli.md, shell completion and every odd or wrong input
stay click's), and `fast_main`, which the console script (`_entry.py`) tries first,
parses only what it is sure click would parse the same way and leaves anything else
(help, an unknown, malformed or abbreviated option, a short-flag cluster, a value that
click would refuse or that looks like an option, shell completion) to click. Both end
in `Spec.run(values)`; errors go through the CLI's one boundary (`cli.app.report`),
imported only then.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Values = dict[str, Any]

VALUE, MULTIPLE, FLAG = "value", "multiple", "flag"
COMPLETE_VAR = "_GITEXP_COMPLETE"  # click's shell-completion variable for prog name `gitexp`


class Opt:
    """An option: its flags, the parameter it fills, its kind, help and how its value is checked.

    `number` (int or float) with `minimum` is click's IntRange/FloatRange(min=…); `choices` its
    Choice; `check(value)` returns what is wrong with a value (click shows it as a bad parameter).
    """

    __slots__ = ("decls", "dest", "kind", "help", "metavar", "default", "show_default", "number", "minimum",
                 "choices", "check")

    def __init__(self, decls: tuple[str, ...], dest: str, kind: str, help: str, metavar: str | None = None, *,
                 default: Any = None, show_default: bool = False, number: type | None = None,
                 minimum: float | None = None, choices: tuple[str, ...] | None = None,
                 check: Callable[[str], str | None] | None = None) -> None:
        self.decls, self.dest, self.kind, self.help, self.metavar = decls, dest, kind, help, metavar
        self.default, self.show_default, self.number, self.minimum = default, show_default, number, minimum
        self.choices, self.check = choices, check

    def initial(self) -> Any:
        """The value click gives when the option is not typed."""
        return () if self.kind == MULTIPLE else False if self.kind == FLAG else self.default

    def convert(self, value: str) -> Any:
        """`value` as click's type makes it; raises ValueError where click would refuse it."""
        if self.choices is not None and value not in self.choices:
            raise ValueError(value)
        if self.check is not None and self.check(value) is not None:
            raise ValueError(value)
        if self.number is None:
            return value
        number = self.number(value)
        if self.minimum is not None and number < self.minimum:
            raise ValueError(value)
        return number


class Arg:
    """A positional argument: one value (required or not) or, with `many`, all the rest."""

    __slots__ = ("dest", "metavar", "required", "many", "complete_runs")

    def __init__(self, dest: str, metavar: str | None = None, *, required: bool = True, many: bool = False,
                 complete_runs: bool = False) -> None:
        self.dest, self.metavar, self.complete_runs = dest, metavar, complete_runs
        self.required, self.many = required and not many, many


class Spec:
    """A command: its parameters in click's order, help text, body and the rule for values that do not
    go together (`problem`: a message, which click shows as a usage error).

    `after_dashes` names the argument that takes everything after `--` (`gitexp run`); such a command
    has no other positional argument and stops its options at `--`.
    """

    __slots__ = ("params", "help", "run", "problem", "after_dashes")

    def __init__(self, params: list[Opt | Arg], help: str | None, run: Callable[[Values], int | None], *,
                 problem: Callable[[Values], str | None] | None = None, after_dashes: str | None = None) -> None:
        self.params, self.help, self.run, self.problem, self.after_dashes = params, help, run, problem, after_dashes

    def options(self) -> list[Opt]:
        return [p for p in self.params if isinstance(p, Opt)]

    def arguments(self) -> list[Arg]:
        return [p for p in self.params if isinstance(p, Arg)]

    def values(self, **given: Any) -> Values:
        """The values of a command line giving only `given` (another command calling this one)."""
        return {**{opt.dest: opt.initial() for opt in self.options()}, **given}


def parse(spec: Spec, argv: list[str]) -> Values | None:
    """The values click would pass to the command for `argv`; None when not sure."""
    by_flag = {flag: opt for opt in spec.options() for flag in opt.decls}
    values = spec.values()
    positional: list[str] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        arg = argv[i]
        i += 1
        if arg[:1] != "-" or arg == "-":
            if spec.after_dashes:
                return None  # `gitexp run` takes its command after `--` only
            positional.append(arg)
            continue
        flag, value = _split(arg)
        opt = by_flag.get(flag)
        if opt is None or (opt.kind == FLAG and value is not None):
            return None  # unknown (help, a typo, a prefix, a cluster), or a flag given a value
        if opt.kind == FLAG:
            values[opt.dest] = True
            continue
        if value is None:
            if i >= len(argv):
                return None
            value, i = argv[i], i + 1
        if value.startswith("-"):
            return None  # click would take it as the value; a user more likely forgot one
        try:
            value = opt.convert(value)
        except ValueError:
            return None
        values[opt.dest] = values[opt.dest] + (value,) if opt.kind == MULTIPLE else value
    rest = argv[i + 1:]
    if spec.after_dashes:
        values[spec.after_dashes] = tuple(rest)
        ok = bool(rest)
    else:
        ok = _place(spec.arguments(), positional + rest, values)
    if not ok or (spec.problem is not None and spec.problem(values) is not None):
        return None
    return values


def _place(arguments: list[Arg], positional: list[str], values: Values) -> bool:
    """Fill `arguments` from `positional` as click does; False when some are missing or left over."""
    for arg in arguments:
        if arg.many:
            values[arg.dest], positional = tuple(positional), []
        elif positional:
            values[arg.dest] = positional.pop(0)
        elif arg.required:
            return False
        else:
            values[arg.dest] = None
    return not positional


def _split(arg: str) -> tuple[str, str | None]:
    """`--long=value` / `-svalue` to (flag, value); (arg, None) when no value is attached."""
    if arg.startswith("--"):
        flag, eq, value = arg.partition("=")
        return (flag, value) if eq else (arg, None)
    if len(arg) > 2:
        return arg[:2], arg[2:]
    return arg, None


def fast_main(argv: list[str]) -> int | None:
    """`gitexp COMMAND …` for a command with a Spec, and `gitexp --help` (or no arguments, which
    prints the same page on stderr and exits 2, as click does): the exit code, or None to leave
    it to click."""
    from gitexp.cli.commands import COMMANDS, load

    top_help = argv in (["--help"], ["-h"], [])
    if not (top_help or argv[0] in COMMANDS) or COMPLETE_VAR in os.environ or not _plain_streams():
        return None
    if top_help:
        from gitexp.cli.helptext import print_top_help

        return _within_boundary(lambda: print_top_help(asked=bool(argv)), argv)
    try:
        spec = load(argv[0])
    except Exception:  # a command module that fails to import: click reports it, as always
        return None
    values = parse(spec, argv[1:]) if isinstance(spec, Spec) else None
    if values is None:
        return None
    return _within_boundary(lambda: spec.run(values), argv)


def _within_boundary(action: Callable[[], int | None], argv: list[str]) -> int:
    """Run `action` as the click group runs a command: errors become a message and an exit code."""
    try:
        code = action()
        sys.stdout.flush()  # a closed pipe must fail here, inside the boundary, not at exit
        return code or 0
    except (Exception, KeyboardInterrupt) as exc:
        from gitexp.cli.app import report

        return report(exc, argv, show_traceback=False)


def _plain_streams() -> bool:
    """Whether stdout and stderr take text as they are (click re-wraps a stream encoded as ASCII)."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            if stream is None or codecs.lookup(encoding).name == "ascii":
                return False
        except LookupError:
            return False
    return True
