"""`gitexp plot`: metric histories, a scatter of two keys, or parallel coordinates, to an image file."""

from __future__ import annotations


import click

from gitexp.cli.options import complete_runs, open_db, selection_options
from gitexp.services.catalog.selection import RunSelection

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from gitexp.services.session import Session


@click.command()
@click.argument("args", nargs=-1, metavar="[RUN... | X Y | KEY...]", shell_complete=complete_runs)
@click.option("-m", "--metric", "metrics", multiple=True, metavar="KEY",
              help="Metric to plot over time (repeatable: one panel per metric).")
@click.option("--scatter", is_flag=True, help="Scatter plot of two keys X Y, one point per run.")
@click.option("--parallel", is_flag=True, help="Parallel coordinates of KEY..., one line per run.")
@click.option("--color", "--colour", "color", metavar="KEY",
              help="With --parallel: colour lines by this key (with a colorbar), e.g. metrics.acc.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Image file; .png, .svg or .pdf (overwritten). "
                   "Default: a new gitexp-plot-….png in .git/gitexp/plots/ (outside the working tree).")
@click.option("--label", metavar="KEY",
              help="Metric plots: label each run's line by this key, e.g. params.train.lr.")
@click.option("--x", "x_mode", type=click.Choice(["step", "time", "elapsed"]), default="step",
              show_default=True, help="Metric plots: x axis is the step, wall-clock time, "
                                      "or seconds since the run started.")
@click.option("--smooth", type=click.IntRange(min=1), default=1, metavar="N",
              help="Metric plots: trailing moving average over N points.")
@click.option("--logy", is_flag=True, help="Logarithmic y axis.")
@click.option("--logx", is_flag=True, help="With --scatter: logarithmic x axis.")
@selection_options
def plot(args: tuple[str, ...], metrics: tuple[str, ...], scatter: bool, parallel: bool, color: str | None,
         output: str | None, label: str | None, x_mode: str, smooth: int, logy: bool, logx: bool,
         selection: RunSelection) -> None:
    """Plot runs to an image file (PNG, SVG or PDF) and print its path.

    \b
    Three kinds of plot:
      gitexp plot RUN... -m METRIC     metric histories, one line per run
                                       (without RUN: the runs selected by
                                       -f/-e/--all that logged the metric)
      gitexp plot --scatter X Y        one point per run, e.g. params.lr metrics.acc
      gitexp plot --parallel KEY...    parallel coordinates, one line per run

    Keys are written as in filters: params.NAME, metrics.NAME (last value),
    tags.NAME, or an attribute such as duration. Runs lacking a value (or a
    metric, when other runs have it) are left out with a warning on stderr;
    NaN and infinite points are not drawn. Non-numeric keys are shown as
    categories. --scatter and --parallel take runs from -f/-e/--all (default:
    the default experiment, like 'gitexp ls').

    Without -o the image is a new file in the repository's .git/gitexp/plots/
    folder, outside the working tree, so that it does not make later runs'
    snapshots dirty (an existing file is never overwritten: a counter is
    added to the name); its path is printed. --label params.train.lr names
    each line by that key's value instead of the run's name.

    \b
    Example:
        gitexp plot brisk-otter calm-heron -m loss
        gitexp plot brisk-otter -m loss -m acc --x elapsed --smooth 20 -o curves.svg
        gitexp plot -m val/acc -e sweep --label params.train.lr
        gitexp plot -m loss -e sweep -f "params.lr > 0.001"
        gitexp plot --scatter params.lr metrics.acc --logx
        gitexp plot --parallel params.lr params.optimizer metrics.acc --color metrics.acc
    """
    from gitexp.services import plot as plots

    mode = _mode(scatter, parallel, metrics, args)
    _check_options(mode, color, x_mode, smooth, logx, logy)
    if label and mode != "metrics":
        from gitexp.errors import InvalidUsage

        raise InvalidUsage(f"--label is for metric plots, not --{mode}", hint="see 'gitexp plot --help'")
    if output is not None:
        plots.check_format(output)  # fail before reading any run
    with open_db() as db:
        exp = _experiment(db, selection, mode == "metrics" and bool(args))
        filter_ = selection.filter
        if mode == "metrics":
            fig = plots.plot_metrics(db, list(args), list(metrics), x=x_mode, smooth=smooth, logy=logy,
                                     filter_string=filter_, experiment=exp, warn=_warn, label=label)
            name = plots.default_name(*metrics)
        elif mode == "scatter":
            fig = plots.plot_scatter(db, args[0], args[1], filter_string=filter_, experiment=exp,
                                     logx=logx, logy=logy, warn=_warn)
            name = plots.default_name("scatter", args[1], "vs", args[0])
        else:
            fig = plots.plot_parallel(db, list(args), color=color, filter_string=filter_, experiment=exp,
                                      warn=_warn)
            name = plots.default_name("parallel", *([color] if color else []))
        folder = plots_folder(db) if output is None else None
    path = plots.save_figure(fig, output, default=name, folder=folder or ".")
    click.echo(_shown(str(path)))


def _shown(path: str) -> str:
    """The path as typed (-o), or relative to the current folder when it is below it."""
    import os

    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def plots_folder(s: Session) -> str:
    """Where a plot without -o goes: `.git/gitexp/plots/`, outside the working tree."""
    folder = s.db.local_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def _mode(scatter: bool, parallel: bool, metrics: tuple[str, ...], args: tuple[str, ...]) -> str:
    from gitexp.errors import InvalidUsage

    if scatter and parallel:
        raise InvalidUsage("--scatter and --parallel cannot be combined", hint="make one plot at a time")
    if (scatter or parallel) and metrics:
        flag = "--scatter" if scatter else "--parallel"
        raise InvalidUsage(f"-m is for metric histories, not {flag}",
                           hint=f"name metrics as keys instead: gitexp plot {flag} params.lr metrics.acc")
    if scatter:
        if len(args) != 2:
            raise InvalidUsage(f"--scatter needs two keys X Y, got {len(args)}",
                               hint="e.g. gitexp plot --scatter params.lr metrics.acc")
        return "scatter"
    if parallel:
        if not args:
            raise InvalidUsage("--parallel needs keys", hint="e.g. gitexp plot --parallel params.lr metrics.acc")
        return "parallel"
    if not metrics:
        raise InvalidUsage("what should be plotted? give a metric with -m, or use --scatter or --parallel",
                           hint="e.g. gitexp plot RUN -m loss; see 'gitexp plot --help'")
    return "metrics"


def _check_options(mode: str, color: str | None, x_mode: str, smooth: int, logx: bool, logy: bool) -> None:
    from gitexp.errors import InvalidUsage

    wrong = []
    if mode != "metrics":
        wrong += [o for o, used in (("--x", x_mode != "step"), ("--smooth", smooth != 1)) if used]
    if mode != "parallel" and color:
        wrong.append("--color")
    if mode != "scatter" and logx:
        wrong.append("--logx")
    if mode == "parallel" and logy:
        wrong.append("--logy")
    if wrong:
        what = {"metrics": "metric plots", "scatter": "--scatter", "parallel": "--parallel"}[mode]
        raise InvalidUsage(f"{', '.join(wrong)} cannot be used with {what}", hint="see 'gitexp plot --help'")


def _experiment(db: "Session", selection: RunSelection, runs_given: bool) -> str | None:
    """Which experiment the run selection uses; runs named on the command line need none."""
    from gitexp.errors import InvalidUsage

    if runs_given:
        if selection.named:
            raise InvalidUsage("give either runs or -e/--all, not both",
                               hint="runs given by name or id are found in every experiment")
        return None
    return selection.experiment_in(db)


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
