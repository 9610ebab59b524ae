"""Views of `gitexp diff` (two runs) and `gitexp compare` (N runs side by side).

A RunDiff or a comparison becomes a list of `Table`s once; `tables.py` prints
them as text, Markdown or CSV. Only the attributes of the services' result
objects are used, so this module imports nothing from the services at load time.
"""

from __future__ import annotations


from gitexp.render.formats import (
    escape_all, fmt_abs, fmt_duration, fmt_raw, fmt_rel, fmt_size, fmt_values,
)
from gitexp.render.tables import Block, Style, Styled, Table, ansi

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

ADDED_STYLE = {"fg": "green"}
REMOVED_STYLE = {"fg": "red"}
CHANGED_STYLE = {"fg": "yellow"}
DIFFERS_STYLE = {"fg": "yellow", "bold": True}
CHANGE_STYLES = {"added": ADDED_STYLE, "removed": REMOVED_STYLE, "changed": CHANGED_STYLE,
                 "modified": CHANGED_STYLE}
DIFF_CSV_HEADERS = ["section", "key", "change", "stat", "a", "b", "abs_change", "rel_change", "detail"]


def unique_names(runs: list[Any]) -> list[str]:
    """Run names as column headers; a name shared by two runs gets the id and position added."""
    names = [r.name for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({r.id[:8]}, {i + 1})" for i, (n, r) in enumerate(zip(names, runs))]


def _changed(kind: str) -> Any:
    return Styled(kind, CHANGE_STYLES[kind]) if kind in CHANGE_STYLES else kind


# -- diff --------------------------------------------------------------------------------------------

def diff_heading_text(d: Any, style: Style = ansi) -> str:
    a, b = d.a, d.b
    return (style("diff", {"bold": True}) + f" {escape_all(a.name)} ({a.id[:8]}, {a.commit[:10]})"
            + f" -> {escape_all(b.name)} ({b.id[:8]}, {b.commit[:10]})")


def diff_heading_md(d: Any) -> str:
    return (f"### gitexp diff: `{escape_all(d.a.name)}` → `{escape_all(d.b.name)}`\n\n"
            f"A: `{d.a.id}` (commit `{d.a.commit[:12]}`), B: `{d.b.id}` (commit `{d.b.commit[:12]}`)")


def diff_footer(d: Any, md: bool) -> str:
    """A closing line when nothing differs ('' otherwise)."""
    if not d.identical:
        return ""
    text = "params, metrics, tags, artifacts and code are identical"
    return f"\n\n_{text[:1].upper() + text[1:]}._" if md else f"\n\n({text})"


def diff_tables(d: Any) -> list[Table]:
    """Every section of a RunDiff as a table (the same tables for text and Markdown)."""
    na, nb = unique_names([d.a, d.b])
    return [
        Table("run info", ["field", "change", na, nb], [_info_row(v) for v in d.info]),
        Table("params", ["param", "change", na, nb], [_value_row(v) for v in d.params]),
        Table("metrics", ["metric", "change", "stat", na, nb, "abs change", "rel change"], _metric_rows(d)),
        Table("tags", ["tag", "change", na, nb], [_value_row(v) for v in d.tags]),
        Table("artifacts", ["path", "change", na, nb],
              [[a.path, _changed(a.change), _artifact_cell(a.a), _artifact_cell(a.b)] for a in d.artifacts]),
        _code_table(d),
    ]


VALUE_WIDTH = 400  # longer values are cut; shorter ones are wrapped to the terminal (render/fit.py)


def _value_row(v: Any) -> list[Any]:
    a, b = fmt_values([v.a, v.b], [v.change != "added", v.change != "removed"], VALUE_WIDTH)
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


def _shown_stats(d: Any, m: Any) -> list[str]:
    return [s for s in ("last", "min", "max") if d.include_unchanged or m.stat_changed(s)] or ["last"]


def _metric_rows(d: Any) -> list[list[Any]]:
    rows = []
    for m in d.metrics:
        for n, stat in enumerate(_shown_stats(d, m)):
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
    return f"{str(info.get('sha256', ''))[:12]} ({fmt_size(info.get('size'))})"


def _code_detail(f: Any) -> str:
    if f.added_lines is not None and not f.binary and f.note is None:
        return f"+{f.added_lines} -{f.removed_lines}"
    return f.note or ""


def _code_table(d: Any) -> Table:
    files = d.code
    differ = "1 file differs" if len(files) == 1 else f"{len(files)} files differ"
    title = f"code ({differ}, {d.code_unchanged} unchanged)"
    rows = [[f.path, _changed(f.change), _code_detail(f)] for f in files]
    blocks = [Block(f.path, f.text) for f in files if f.text]
    empty = f"identical ({d.code_unchanged} files)" if d.include_unchanged else None
    return Table(title if files else "code", ["file", "change", "detail"], rows, empty=empty, after=blocks)


def diff_csv_table(d: Any) -> Table:
    """One row per difference with exact values, every section in one CSV (`DIFF_CSV_HEADERS`)."""
    rows: list[list[str]] = []
    for section in ("info", "params", "tags"):
        rows += [[section, v.key, v.change, "", fmt_raw(v.a, v.change != "added"),
                  fmt_raw(v.b, v.change != "removed"), "", "", ""] for v in getattr(d, section)]
    for m in d.metrics:
        for stat in _shown_stats(d, m):
            abs_, rel = m.delta(stat)
            rows.append(["metrics", m.key, m.change, stat, fmt_raw(m.get("a", stat), m.a is not None),
                         fmt_raw(m.get("b", stat), m.b is not None), fmt_raw(abs_), fmt_raw(rel), ""])
    for a in d.artifacts:
        rows.append(["artifacts", a.path, a.change, "", fmt_raw((a.a or {}).get("sha256")),
                     fmt_raw((a.b or {}).get("sha256")), "", "", ""])
    rows += [["code", f.path, f.change, "", "", "", "", "", _code_detail(f)] for f in d.code]
    return Table("", DIFF_CSV_HEADERS, rows)


# -- compare -----------------------------------------------------------------------------------------

def compare_table(cmp: Any, short: dict[str, str], full: bool = False) -> Table:
    """One table: a row per field, a column per run; `full` keeps exact values and ids (CSV).

    `short` maps each run id to its shortest unambiguous prefix.
    """
    ids = [r.id for r in cmp.runs]
    rows: list[list[Any]] = [["id"] + (ids if full else [short.get(i, i[:8]) for i in ids])]
    for row in cmp.rows:
        if full:
            cells: list[Any] = [fmt_raw(v, p) for v, p in zip(row.values, row.present)]
        elif row.section == "info" and row.key == "duration":
            cells = [fmt_duration(v) if p else "-" for v, p in zip(row.values, row.present)]
        else:
            cells = fmt_values(row.values, row.present, VALUE_WIDTH)
        if row.differs and row.key != "duration" and not full:
            cells = [Styled(c, DIFFERS_STYLE) for c in cells]
        rows.append([row.label] + cells)
    return Table("", ["key"] + unique_names(cmp.runs), rows)
