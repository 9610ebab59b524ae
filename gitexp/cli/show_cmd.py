"""`gitexp show`: everything about one run."""

from __future__ import annotations

from typing import Any

import click

from gitexp.cli.output import echo_json, fmt_duration, fmt_value, open_db


@click.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def show(run: str, as_json: bool) -> None:
    """Show one run: info, params, tags, metric summaries, artifacts and code.

    RUN is a run id, an id prefix (4+ characters), a run name, or any git
    revision that resolves to a run commit.

    \b
    Example:
        gitexp show brisk-otter
        gitexp show 1m8bpv3w --json
    """
    from gitexp.services.catalog.listing import get_run

    from gitexp.services.registry.writes import registry_of_run

    with open_db() as db:
        r = get_run(db, run)
        registry = registry_of_run(db).get(r.id, [])
    if as_json:
        echo_json({**r.to_dict(), **({"registry": registry} if registry else {})})  # key only when registered
        return
    lines = ["", click.style("registry", bold=True)] + [f"  {x}" for x in registry] if registry else []
    click.echo("\n".join([_render(r), *lines]))


def _render(r: Any) -> str:
    from gitexp.store.record import flatten

    i = r.info
    lines = [
        click.style(f"run {r.name}", bold=True) + f"  ({r.id})",
        f"  experiment  {i.experiment}",
        f"  status      {i.status}" + (f" (exit code {i.exit_code})" if i.exit_code is not None else ""),
        f"  started     {i.start_time}   duration {fmt_duration(r.duration)}",
        f"  user        {i.user}@{i.host}",
        f"  command     {' '.join(i.command) or '-'}",
        f"  code        baseline {i.baseline[:12] if i.baseline else '(no commits)'}"
        + (", dirty (uncommitted changes included)" if i.dirty else ", clean"),
        f"  ref         {r.ref or '(no ref: read from a commit)'}",
        f"  commit      {r.commit}",
    ]
    if i.parent_run:
        lines.append(f"  parent run  {i.parent_run}")
    if i.description:
        lines.append(f"  note        {i.description}")
    if i.skipped:
        lines.append(f"  skipped     {len(i.skipped)} files not snapshotted (see run.yaml)")
    lines += _section("params", list(flatten(r.params).items()))
    lines += _section("tags", sorted(r.tags.items()))
    lines += _metrics(r.summary)
    lines += _section("artifacts", [(a.path, f"{a.size} bytes, {'inline' if a.inline else 'side store'}")
                                    for a in sorted(r.artifacts, key=lambda a: a.path)])
    return "\n".join(lines)


def _section(title: str, items: list[tuple[str, Any]]) -> list[str]:
    if not items:
        return []
    width = max(len(k) for k, _ in items)
    return ["", click.style(title, bold=True)] + [f"  {k.ljust(width)}  {fmt_value(v, 60)}" for k, v in items]


def _metrics(summary: dict[str, dict]) -> list[str]:
    if not summary:
        return []
    from tabulate import tabulate

    rows = [[k, fmt_value(v["last"]), v["step"], fmt_value(v["min"]), fmt_value(v["max"]), v["count"]]
            for k, v in summary.items()]
    table = tabulate(rows, headers=["metric", "last", "step", "min", "max", "count"], disable_numparse=True)
    return ["", click.style("metrics", bold=True)] + ["  " + line for line in table.splitlines()]


