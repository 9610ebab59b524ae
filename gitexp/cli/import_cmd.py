"""`gitexp import mlflow SOURCE`: bring an MLflow store's runs into the repository."""

from __future__ import annotations

import sys

import click

from gitexp.cli.options import echo_json, open_db

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from gitexp.services.mlflow_import import ImportReport


@click.group(name="import")
def import_() -> None:
    """Import runs from another tracker (MLflow) as ordinary gitexp runs.

    \b
    Example:
        gitexp import mlflow ./mlruns
        gitexp import mlflow sqlite:///mlflow.db
    """


@import_.command(name="mlflow")
@click.argument("source")
@click.option("-e", "--experiment", "experiments", multiple=True, metavar="NAME|ID",
              help="Import only this MLflow experiment (name or id; repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def mlflow(source: str, experiments: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Import an MLflow store: experiments, runs, params, metric histories, tags, artifacts.

    SOURCE is an MLflow file store folder (mlruns/) or a SQLite database
    (sqlite:///mlflow.db). MLflow itself is not needed. Each MLflow run becomes
    an ended gitexp run in an experiment with the MLflow experiment's name;
    the MLflow run id is kept in the tag gitexp.import.mlflow_run_id, so running
    the import again adds only runs that are new. Runs deleted in MLflow are left
    out; a run that cannot be read is listed with the reason, and the rest is
    imported. Exits 1 when some runs failed.

    \b
    Example:
        gitexp import mlflow ./mlruns
        gitexp import mlflow sqlite:///mlflow.db -e "Wine Quality"
        gitexp ls --all
    """
    from gitexp.services.mlflow_import import import_mlflow

    show = not quiet and not as_json and sys.stderr.isatty()
    with open_db() as s:
        report = import_mlflow(s, source, _bar if show else None, list(experiments) or None)
    if as_json:
        echo_json(report.to_dict())
    else:
        for warning in report.warnings[:50]:
            click.echo(f"warning: {warning}", err=True)
        if len(report.warnings) > 50:
            click.echo(f"warning: … and {len(report.warnings) - 50} more warnings", err=True)
        for run_id, reason in report.failed:
            click.echo(f"failed: MLflow run {run_id}: {reason}", err=True)
        click.echo(summary_line(report))
    if report.failed:
        raise click.exceptions.Exit(1)


def summary_line(report: ImportReport) -> str:
    rate = report.runs / report.seconds if report.seconds > 0 else 0.0
    parts = [f"imported {report.runs} run{'s' * (report.runs != 1)} from {report.source} ({report.kind}): "
             f"{report.experiments} experiment{'s' * (report.experiments != 1)}, {report.points} metric points, "
             f"{_size(report.bytes)} of artifacts, in {report.seconds:.1f} s ({rate:.0f} runs/s)"]
    if report.already:
        parts.append(f"{report.already} already imported")
    if report.deleted:
        parts.append(f"{report.deleted} deleted in MLflow left out")
    if report.failed:
        parts.append(f"{len(report.failed)} failed")
    return "; ".join(parts)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    click.echo(f"\rgitexp: importing runs [{'#' * filled}{' ' * (width - filled)}] {done}/{total}",
               err=True, nl=done >= total)
