"""`gitexp diff` (two runs) and `gitexp compare` (N runs side by side).

Both commands turn the service's result into a list of `Table`s once; small
renderers then print those tables for the terminal (tabulate, with colour when
the terminal has it), as Markdown (pull-request comments) or as CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import click

from gitexp.cli.output import echo_json, fmt_duration, fmt_value, open_db, output_options

ADDED_STYLE = {"fg": "green"}
REMOVED_STYLE = {"fg": "red"}
CHANGED_STYLE = {"fg": "yellow"}
DIFFERS_STYLE = {"fg": "yellow", "bold": True}
CHANGE_STYLES = {"added": ADDED_STYLE, "removed": REMOVED_STYLE, "changed": CHANGED_STYLE,
                 "modified": CHANGED_STYLE}
WIDTH = 40  # longest value shown in a cell before it is cut


# -- tables and renderers ------------------------------------------------------------------------

class Styled(NamedTuple):
    """A cell with click.style keywords; plain renderers use the text only (Markdown: bold)."""

    text: str
    style: dict



@dataclass
class Table:
    """A titled table; with no rows it is skipped, unless `empty` says what to print instead."""

    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    empty: str | None = None
    after: list["Block"] = field(default_factory=list)  # text shown below the table (code diffs)


@dataclass
class Block:
    """Preformatted text under a table, e.g. one file's unified diff."""

    title: str
    text: str
    lang: str = "diff"


def _text(cell: Any) -> str:
    return cell.text if isinstance(cell, Styled) else str(cell)


def _ansi(cell: Any) -> str:
    return click.style(cell.text, **cell.style) if isinstance(cell, Styled) and cell.text else _text(cell)


def render_text(tables: list[Table], fmt: str = "simple") -> str:
    """Terminal output: bold titles, indented tabulate tables; styles are stripped by click.echo
    when the output is not a colour terminal."""
    from tabulate import tabulate, tabulate_formats

    if fmt not in tabulate_formats:
        raise click.BadParameter(f"unknown format {fmt!r}; try one of: github, grid, plain, simple, tsv",
                                 param_hint="--fmt")
    out: list[str] = []
    for t in tables:
        if not t.rows and t.empty is None:
            continue
        out += ["", click.style(t.title, bold=True)] if t.title else [""]
        if not t.rows:
            out.append(f"  {t.empty}")
            continue
        table = tabulate([[_ansi(c) for c in row] for row in t.rows], headers=t.headers, tablefmt=fmt,
                         disable_numparse=True)
        indent = "  " if t.title else ""
        out += [indent + line for line in table.splitlines()]
        for block in t.after:
            out += [""] + [_diff_line(x) for x in block.text.splitlines()]
    return "\n".join(out[1:] if out and out[0] == "" else out)


def _diff_line(line: str) -> str:
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    if line.startswith("+"):
        return click.style(line, fg="green")
    if line.startswith("-"):
        return click.style(line, fg="red")
    if line.startswith("@@"):
        return click.style(line, fg="cyan")
    return line


def render_markdown(tables: list[Table]) -> str:
    """GitHub-flavoured Markdown: a bold title and a pipe table per section; diffs in <details>."""
    out: list[str] = []
    for t in tables:
        if not t.rows and t.empty is None:
            continue
        out += ["", f"**{_md_escape(t.title[:1].upper() + t.title[1:])}**", ""] if t.title else [""]
        if not t.rows:
            out.append(f"_{_md_escape(t.empty or '')}_")
            continue
        out.append("| " + " | ".join(_md_escape(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
        for block in t.after:
            fence = "`" * max(3, _longest_backticks(block.text) + 1)
            out += ["", f"<details><summary>{_html_escape(block.title)}</summary>", "",
                    fence + block.lang, block.text, fence, "", "</details>"]
    return "\n".join(out[1:] if out and out[0] == "" else out)


def _md_cell(cell: Any) -> str:
    text = _md_escape(_text(cell))
    if isinstance(cell, Styled) and cell.style.get("bold") and text:
        return f"**{text}**"
    return text


def _md_escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
            .replace("<", "&lt;").replace("\r\n", "<br>").replace("\n", "<br>"))


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return longest


def render_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows([[_text(c) for c in row] for row in table.rows])
    return buf.getvalue().rstrip("\n")


# -- value formatting ------------------------------------------------------------------------------

def fmt_values(values: list[Any], present: list[bool] | None = None) -> list[str]:
    """Cells for values shown next to each other: floats get just enough digits
    to tell apart values that differ (0.1234 vs 0.12341); absent is '-', null 'null'."""
    present = present if present is not None else [True] * len(values)
    floats = [v for v, p in zip(values, present) if p and isinstance(v, float) and math.isfinite(v)]
    digits = 4
    while digits < 17 and len({f"{v:.{digits}g}" for v in floats}) < len(set(floats)):
        digits += 1
    out = []
    for v, p in zip(values, present):
        if not p:
            out.append("-")
        elif v is None:
            out.append("null")
        elif isinstance(v, float) and math.isfinite(v):
            out.append(f"{v:.{digits}g}")
        else:
            out.append(fmt_value(v, WIDTH))
    return out


def fmt_abs(delta: float | None) -> str:
    if delta is None:
        return "n/a"
    return f"{delta:+.4g}"


def fmt_rel(rel: float | None) -> str:
    if rel is None:
        return "n/a"
    return f"{rel * 100:+.3g}%"


def _unique_names(runs: list[Any]) -> list[str]:
    names = [r.name for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({r.id[:8]}, {i + 1})" for i, (n, r) in enumerate(zip(names, runs))]


def _changed(kind: str) -> Any:
    return Styled(kind, CHANGE_STYLES[kind]) if kind in CHANGE_STYLES else kind


# -- diff ------------------------------------------------------------------------------------------

@click.command()
@click.argument("run_a", metavar="A")
@click.argument("run_b", metavar="B")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Also show what is the same (params, metrics, tags, artifacts, run info).")
@click.option("--code", "code", is_flag=True, help="Add the unified diff of each changed code file.")
@click.option("--md", "as_md", is_flag=True, help="Print Markdown tables (for a pull-request comment).")
@output_options
def diff(run_a: str, run_b: str, all_: bool, code: bool, as_md: bool, as_json: bool, fmt: str) -> None:
    """Show what changed from run A to run B.

    Params (nested ones by dotted path), metric summaries (last, min, max,
    with absolute and relative change), tags, artifacts (by sha256), the code
    files that differ between the two snapshots, and run info (status,
    duration, baseline commit, dirty). Only differences are shown unless
    --all is given.

    A and B are run ids, id prefixes (4+ characters), run names, or any git
    revision that resolves to a run commit (e.g. a branch made from a run).

    \b
    --json prints one object:
      {"a": {id, name, experiment, ref, commit}, "b": {…}, "identical": bool,
       "info"|"params"|"tags": [{key, change, a, b}],
       "metrics": [{key, change, a: {last, step, min, max, count}|null, b: …,
                    delta: {last|min|max: {abs, rel}}}],
       "artifacts": [{path, change, a: {size, sha256, storage}|null, b: …}],
       "code": {"files": [{path, change, binary, old_mode, new_mode, note?,
                           added_lines?, removed_lines?, text?}], "unchanged": N}}
    change is added, removed, changed or unchanged (code files: added,
    removed, modified); rel is (b - a) / |a|, null when a is 0 or nan.

    \b
    Example:
        gitexp diff brisk-otter calm-heron
        gitexp diff 1m8bpv3w 1m8bq0aa --code
        gitexp diff baseline-run my-branch --md > comment.md
        gitexp diff brisk-otter calm-heron --json
    """
    from gitexp.services.compare import diff_runs
    from gitexp.services.registry.writes import registry_of_run

    if as_md and as_json:
        raise click.UsageError("choose one of --json and --md")
    with open_db() as db:
        d = diff_runs(db, run_a, run_b, include_unchanged=all_, code_text=code)
        labels = registry_of_run(db)
    registry = {"a": labels.get(d.a.id, []), "b": labels.get(d.b.id, [])}
    if as_json:
        echo_json({**d.to_dict(), **({"registry": registry} if registry["a"] or registry["b"] else {})})
        return
    tables = diff_tables(d)
    if registry["a"] or registry["b"]:  # the registry tags each run carries
        na, nb = _unique_names([d.a, d.b])
        tables.insert(0, Table("registry", ["", na, nb],
                               [["versions", ", ".join(registry["a"]) or "-", ", ".join(registry["b"]) or "-"]]))
    if as_md:
        click.echo(_md_heading(d) + "\n\n" + render_markdown(tables) + _footer(d, md=True))
        return
    click.echo(_text_heading(d) + "\n\n" + render_text(tables, fmt) + _footer(d, md=False))


def _text_heading(d: Any) -> str:
    return (click.style("diff", bold=True) + f" {d.a.name} ({d.a.id[:8]}, {d.a.commit[:10]})"
            + f" -> {d.b.name} ({d.b.id[:8]}, {d.b.commit[:10]})")


def _md_heading(d: Any) -> str:
    return (f"### gitexp diff: `{d.a.name}` → `{d.b.name}`\n\n"
            f"A: `{d.a.id}` (commit `{d.a.commit[:12]}`), B: `{d.b.id}` (commit `{d.b.commit[:12]}`)")


def _footer(d: Any, md: bool) -> str:
    if not d.identical:
        return ""
    text = "params, metrics, tags, artifacts and code are identical"
    return f"\n\n_{text[:1].upper() + text[1:]}._" if md else f"\n\n({text})"


def diff_tables(d: Any) -> list[Table]:
    """Every section of a RunDiff as a table (the same tables for text and Markdown)."""
    na, nb = _unique_names([d.a, d.b])
    tables = [
        Table("run info", ["field", "change", na, nb], [_info_row(v) for v in d.info]),
        Table("params", ["param", "change", na, nb], [_value_row(v) for v in d.params]),
        Table("metrics", ["metric", "change", "stat", na, nb, "abs change", "rel change"], _metric_rows(d)),
        Table("tags", ["tag", "change", na, nb], [_value_row(v) for v in d.tags]),
        Table("artifacts", ["path", "change", na, nb],
              [[a.path, _changed(a.change), _artifact_cell(a.a), _artifact_cell(a.b)] for a in d.artifacts]),
        _code_table(d),
    ]
    return tables


def _value_row(v: Any) -> list[Any]:
    a, b = fmt_values([v.a, v.b], [v.change != "added", v.change != "removed"])
    return [v.key, _changed(v.change), a, b]


def _info_row(v: Any) -> list[Any]:
    if v.key == "duration":
        a, b = fmt_duration(v.a), fmt_duration(v.b)
        if a == b and v.change == "changed":  # tell apart 0.01s and 0.04s
            a, b = (f"{x:.3f}s" for x in (v.a, v.b))
    elif v.key == "baseline":
        a, b = (x[:12] if x else "(none)" for x in (v.a, v.b))
    else:
        a, b = fmt_values([v.a, v.b])
    return [v.key, _changed(v.change), a, b]


def _metric_rows(d: Any) -> list[list[Any]]:
    rows = []
    for m in d.metrics:
        stats = [s for s in ("last", "min", "max") if d.include_unchanged or m.stat_changed(s)] or ["last"]
        for n, stat in enumerate(stats):
            a, b = fmt_values([m.get("a", stat), m.get("b", stat)], [m.a is not None, m.b is not None])
            if stat == "last" and m.a is not None and m.b is not None and m.get("a", "step") != m.get("b", "step"):
                a, b = f"{a} @{m.get('a', 'step')}", f"{b} @{m.get('b', 'step')}"
            abs_, rel = m.delta(stat)
            head = [m.key, _changed(m.change)] if n == 0 else ["", ""]
            rows.append(head + [stat, a, b, fmt_abs(abs_), fmt_rel(rel)])
    return rows


def _artifact_cell(info: dict | None) -> str:
    if info is None:
        return "-"
    size = info.get("size")
    return f"{str(info.get('sha256', ''))[:12]} ({_size(size)})"


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return "? B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _code_table(d: Any) -> Table:
    files = d.code
    differ = "1 file differs" if len(files) == 1 else f"{len(files)} files differ"
    title = f"code ({differ}, {d.code_unchanged} unchanged)"
    rows = []
    for f in files:
        detail = f.note or ""
        if f.added_lines is not None and not f.binary and f.note is None:
            detail = f"+{f.added_lines} -{f.removed_lines}"
        rows.append([f.path, _changed(f.change), detail])
    blocks = [Block(f.path, f.text) for f in files if f.text]
    empty = f"identical ({d.code_unchanged} files)" if d.include_unchanged else None
    return Table(title if files else "code", ["file", "change", "detail"], rows, empty=empty, after=blocks)


# -- compare ---------------------------------------------------------------------------------------

@click.command()
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("-d", "--diff-only", is_flag=True, help="Only the params and metrics that differ.")
@click.option("--md", "as_md", is_flag=True, help="Print a Markdown table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (full values, one column per run).")
@output_options
def compare(runs: tuple[str, ...], diff_only: bool, as_md: bool, as_csv: bool, as_json: bool, fmt: str) -> None:
    """Show two or more runs side by side.

    Rows are the run id, status and duration, then every param (nested ones by
    dotted path) and the last value of every metric; columns are the runs.
    On a colour terminal the values that differ between runs are highlighted
    (bold in Markdown); '-' marks a param or metric a run does not have.

    RUN is a run id, an id prefix (4+ characters), a run name, or any git
    revision that resolves to a run commit.

    \b
    --json prints {"runs": [{id, name, experiment, ref, commit}, …],
                   "rows": [{section, key, values: [one per run],
                             present: [bool per run], differs: bool}]}
    with section info (status, duration in seconds), params or metrics.

    \b
    Example:
        gitexp compare brisk-otter calm-heron eager-lynx
        gitexp compare brisk-otter calm-heron --diff-only
        gitexp compare brisk-otter calm-heron --md
        gitexp compare brisk-otter calm-heron --csv > runs.csv
    """
    from gitexp.services.compare import compare_runs

    if sum([as_md, as_csv, as_json]) > 1:
        raise click.UsageError("choose one of --json, --md and --csv")
    with open_db() as db:
        cmp = compare_runs(db, list(runs))
    if diff_only:
        cmp.rows = [r for r in cmp.rows if r.differs or r.section == "info"]
    if as_json:
        echo_json(cmp.to_dict())
    elif as_csv:
        click.echo(render_csv(compare_table(cmp, full=True)))
    elif as_md:
        click.echo(render_markdown([compare_table(cmp)]))
    else:
        click.echo(render_text([compare_table(cmp)], fmt))


def compare_table(cmp: Any, full: bool = False) -> Table:
    """One table: a row per field, a column per run; `full` keeps exact values (CSV)."""
    from gitexp.services.catalog.query import short_ids

    ids = [r.id for r in cmp.runs]
    short = short_ids(ids)
    rows: list[list[Any]] = [["id"] + (ids if full else [short[i] for i in ids])]
    for row in cmp.rows:
        if full:
            cells: list[Any] = [_raw(v, p) for v, p in zip(row.values, row.present)]
        elif row.section == "info" and row.key == "duration":
            cells = [fmt_duration(v) if p else "-" for v, p in zip(row.values, row.present)]
        else:
            cells = fmt_values(row.values, row.present)
        if row.differs and row.key != "duration" and not full:
            cells = [Styled(c, DIFFERS_STYLE) for c in cells]
        rows.append([row.label] + cells)
    return Table("", ["key"] + _unique_names(cmp.runs), rows)


def _raw(value: Any, present: bool) -> str:
    if not present or value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)
