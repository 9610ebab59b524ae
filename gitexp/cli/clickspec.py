"""Click commands built from command tables (`cli/spec.py`): help, usage errors and completion stay click's."""

from __future__ import annotations


import click

from gitexp.cli.spec import FLAG, MULTIPLE, Arg, Opt, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def to_click(name: str, spec: Spec) -> click.Command:
    """The click command `name` for `spec`; it returns the body's exit code."""

    def callback(**values: Any) -> int | None:
        problem = spec.problem(values) if spec.problem else None
        if problem:
            raise click.UsageError(problem)
        return spec.run(values)

    settings = {"ignore_unknown_options": True, "allow_interspersed_args": False} if spec.after_dashes else {}
    params: list[click.Parameter] = [_argument(p, spec) if isinstance(p, Arg) else _click_param(p)
                                     for p in spec.params]
    return click.Command(name, context_settings=settings, callback=callback, params=params, help=spec.help)


def click_option(opt: Opt) -> Any:
    """The click decorator adding `opt`."""
    decls, attrs = _option_args(opt)
    return click.option(*decls, **attrs)


def _click_param(opt: Opt) -> click.Option:
    decls, attrs = _option_args(opt)
    return click.Option(decls, **attrs)


def _option_args(opt: Opt) -> tuple[list[str], dict[str, Any]]:
    # is_flag only when True: click 8.3+ reads an explicit is_flag=False as "the value may be
    # omitted", so `-p -- cmd` gave params (None,) instead of click's usual ('--',)
    attrs: dict[str, Any] = {"is_flag": True} if opt.kind == FLAG else {"multiple": opt.kind == MULTIPLE}
    if opt.default is not None:
        attrs.update(default=opt.default, show_default=opt.show_default)
    if opt.check is not None:
        attrs["callback"] = _checker(opt.check)
    return [*opt.decls, opt.dest], {"metavar": opt.metavar, "help": opt.help, "type": _type(opt), **attrs}


def _type(opt: Opt) -> Any:
    if opt.choices is not None:
        return click.Choice(opt.choices)
    if opt.number is int:
        return click.IntRange(min=int(opt.minimum)) if opt.minimum is not None else int
    if opt.number is float:
        return click.FloatRange(min=opt.minimum) if opt.minimum is not None else float
    return None


def _checker(checked: Callable[[str], str | None]) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        problem = None if value is None else checked(value)
        if problem:
            raise click.BadParameter(problem)
        return value

    return check


def _argument(arg: Arg, spec: Spec) -> click.Argument:
    extra: dict[str, Any] = {}
    if arg.complete_runs:
        from gitexp.cli.options import complete_runs

        extra["shell_complete"] = complete_runs
    if arg.dest == spec.after_dashes:
        extra["type"] = click.UNPROCESSED
    return click.Argument([arg.dest], metavar=arg.metavar, nargs=-1 if arg.many else 1,
                          required=arg.required, **extra)
