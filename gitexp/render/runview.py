"""The view of one run (`gitexp show`): a text page, its sections as tables, or exact CSV rows.

Every value that comes from the record is escaped (`escape_controls`): a run
pushed by someone else may hold terminal escape sequences in any text field.
"""

from __future__ import annotations

import shlex

from gitexp.render.formats import escape_all, escape_controls, fmt_duration, fmt_raw, fmt_value
from gitexp.render.tables import Style, Table, ansi, tabulate_rows

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

METRIC_HEADERS = ["metric", "last", "step", "min", "max", "count"]
METRIC_FIELDS = ("last", "step", "min", "max", "count")


def info_fields(r: Any) -> list[tuple[str, str]]:
    """The run's info as (label, display text) pairs, in page order."""
    i = r.info
    fields = [
        ("experiment", i.experiment),
        ("status", i.status + (f" (exit code {i.exit_code})" if i.exit_code is not None else "")),
        ("started", f"{i.start_time}   duration {fmt_duration(r.duration)}"),
        ("user", f"{i.user}@{i.host}"),
        ("command", shlex.join(i.command) or "-"),
        ("code", f"baseline {i.baseline[:12] if i.baseline else '(no commits)'}"
         + (", dirty (uncommitted changes included)" if i.dirty else ", clean")),
        ("ref", r.ref or "(no ref: read from a commit)"),
        ("commit", r.commit),
    ]
    if getattr(i, "branch", None):
        fields.insert(5, ("branch", i.branch))
    if i.parent_run:
        fields.append(("parent run", i.parent_run))
    if i.description:
        fields.append(("note", i.description))
    if i.skipped:
        fields.append(("skipped", f"{len(i.skipped)} files not snapshotted (see run.yaml)"))
    return [(k, escape_controls(str(v))) for k, v in fields]


def _key_values(r: Any) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """(section, key header, items) for params, tags and artifacts."""
    from gitexp.store.record import flatten

    artifacts = [(a.path, f"{a.size} bytes, {'inline' if a.inline else 'side store'}")
                 for a in sorted(r.artifacts, key=lambda a: a.path)]
    return [("params", "param", list(flatten(r.params).items())), ("tags", "tag", sorted(r.tags.items())),
            ("artifacts", "path", artifacts)]


def _metric_rows(summary: dict[str, dict]) -> list[list[Any]]:
    return [[k, fmt_value(v["last"]), v["step"], fmt_value(v["min"]), fmt_value(v["max"]), v["count"]]
            for k, v in summary.items()]


def run_text(r: Any, fmt: str = "simple", style: Style = ansi) -> str:
    """The terminal page: a header line, info fields, then params, tags, metrics and artifacts."""
    lines = [style(f"run {escape_all(r.name)}", {"bold": True}) + f"  ({r.id})"]
    lines += [f"  {label.ljust(10)}  {text}" for label, text in info_fields(r)]
    for title, _, items in _key_values(r):
        if title == "artifacts" and r.summary:  # metrics come before artifacts
            table = tabulate_rows(METRIC_HEADERS, _metric_rows(r.summary), fmt)
            lines += ["", style("metrics", {"bold": True})] + ["  " + line for line in table.splitlines()]
        lines += _section(title, items, style)
    return "\n".join(lines)


def _section(title: str, items: list[tuple[str, Any]], style: Style) -> list[str]:
    if not items:
        return []
    keys = [escape_controls(k) for k, _ in items]
    width = max(len(k) for k in keys)
    return ["", style(title, {"bold": True})] + [f"  {k.ljust(width)}  {fmt_value(v, 60)}"
                                                  for k, (_, v) in zip(keys, items)]


def run_tables(r: Any) -> list[Table]:
    """The page as tables (Markdown): run info, params, tags, metrics, artifacts."""
    title = f"run {r.name} ({r.id})"
    tables = [Table(title, ["field", "value"], [[k, v] for k, v in info_fields(r)])]
    sections = {title: Table(title, [key, "value"], [[k, fmt_value(v, 60)] for k, v in items])
                for title, key, items in _key_values(r)}
    metrics = Table("metrics", METRIC_HEADERS, _metric_rows(r.summary))
    return tables + [sections["params"], sections["tags"], metrics, sections["artifacts"]]


def run_csv_table(r: Any) -> Table:
    """Exact values, one per row: `section,key,value`. Fields of a metric or an artifact are
    keys `<name>.<field>` (the field is after the last dot)."""
    from gitexp.store.record import flatten

    i = r.info
    rows = [["info", k, fmt_raw(v)] for k, v in (
        ("id", r.id), ("name", r.name), ("experiment", i.experiment), ("status", i.status),
        ("exit_code", i.exit_code), ("start_time", i.start_time), ("end_time", i.end_time),
        ("duration", r.duration), ("user", i.user), ("host", i.host), ("command", shlex.join(i.command)),
        ("baseline", i.baseline), ("dirty", i.dirty), ("parent_run", i.parent_run),
        ("description", i.description), ("ref", r.ref), ("commit", r.commit))]
    rows += [["params", k, fmt_raw(v)] for k, v in flatten(r.params).items()]
    rows += [["tags", k, fmt_raw(v)] for k, v in sorted(r.tags.items())]
    rows += [["metrics", f"{k}.{f}", fmt_raw(s.get(f))] for k, s in r.summary.items() for f in METRIC_FIELDS]
    for a in sorted(r.artifacts, key=lambda a: a.path):
        rows += [["artifacts", f"{a.path}.size", fmt_raw(a.size)],
                 ["artifacts", f"{a.path}.storage", "inline" if a.inline else "side store"]]
    return Table("", ["section", "key", "value"], rows)
