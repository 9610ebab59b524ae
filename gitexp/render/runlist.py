"""The `gitexp ls` table: which columns fit, and the cell of a run in a column.

Columns are `id, name, experiment, status, start, end, duration, user, commit`
or `params.KEY`, `metrics.KEY`, `tags.KEY`. Display cells are short (cut,
4 significant digits); `exact=True` gives full values for CSV.
"""

from __future__ import annotations

from collections import Counter
from itertools import zip_longest
from typing import Any

from gitexp.render.formats import fmt_duration, fmt_iso, fmt_raw, fmt_time, fmt_value
from gitexp.render.tables import Table

BASE = ["id", "name", "status", "start", "duration"]
ATTRS = {"id", "name", "experiment", "status", "start", "end", "duration", "user", "commit"}
WIDTHS = {"params": 16, "metrics": 12, "tags": 16}  # longest cell of a key column before it is cut


def runs_table(runs: list, cols: list[str], ids: dict[str, str], exact: bool = False) -> Table:
    """The listing of `runs` in columns `cols`; `ids` maps run ids to their short form."""
    if exact:
        return Table("", cols, [[raw_cell(s, c) for c in cols] for s in runs])
    heads = [header(c) for c in cols]
    heads = [h if heads.count(h) == 1 else c for h, c in zip(heads, cols)]
    return Table("", heads, [[cell(s, c, ids) for c in cols] for s in runs])


def default_columns(runs: list, with_experiment: bool, ids: dict[str, str], width: int | None) -> list[str]:
    """Base columns, then varying params and metrics while they fit `width` (None: all of them)."""
    cols = BASE[:2] + (["experiment"] if with_experiment else []) + BASE[2:]
    if width is None:
        return cols + candidates(runs)
    used = sum(_col_width(runs, c, ids) for c in cols)
    for col in candidates(runs):
        need = _col_width(runs, col, ids)
        if used + need > width:
            continue  # a narrower column further down may still fit
        cols.append(col)
        used += need
    return cols


def candidates(runs: list) -> list[str]:
    """Key columns: metrics and varying params alternately, then the params all runs share."""
    from gitexp.store.record import flatten

    params: Counter = Counter()
    metrics: Counter = Counter()
    values: dict[str, set] = {}
    for s in runs:
        for key, value in flatten(s.params).items():
            params[key] += 1
            values.setdefault(key, set()).add(repr(value))
        metrics.update(s.summary.keys())
    varying = [f"params.{k}" for k in params if len(values[k]) > 1 or params[k] < len(runs)]
    constant = [f"params.{k}" for k in params if f"params.{k}" not in varying]
    metric_cols = [f"metrics.{k}" for k, _ in metrics.most_common()]
    # Results and what changed between runs, alternately, so a narrow terminal shows both.
    mixed = [c for pair in zip_longest(metric_cols, varying) for c in pair if c]
    return mixed + constant


def _col_width(runs: list, col: str, ids: dict[str, str]) -> int:
    # tabulate pads a header by 2 (MIN_PADDING) and puts 2 spaces between columns.
    return 2 + max([len(header(col)) + 2] + [len(cell(s, col, ids)) for s in runs[:50]])


def header(col: str) -> str:
    """A column's header: the key alone for params and metrics."""
    return col.split(".", 1)[1] if col.startswith(("params.", "metrics.")) else col


def value(s: Any, col: str) -> Any:
    """The value of run `s` in column `col` (None when it has none)."""
    if col in ("name", "experiment", "status"):
        return getattr(s, col, None)
    if col == "user":
        return s.info.get("user")
    if col == "commit":
        return s.commit
    if col == "duration":
        return s.duration
    kind, key = col.split(".", 1)
    if kind == "params":
        return _param(s.params, key)
    if kind == "metrics":
        return s.summary.get(key, {}).get("last")
    return s.tags.get(key)


def cell(s: Any, col: str, ids: dict[str, str]) -> str:
    """A display cell: short id, local time, cut text, 4 significant digits."""
    if col == "id":
        return ids.get(s.id, s.id[:8])
    if col in ("start", "end"):
        return fmt_time(s.start_ms if col == "start" else s.end_ms)
    if col == "duration":
        return fmt_duration(s.duration)
    if col == "commit":
        return fmt_value(s.commit[:10], 20)
    return fmt_value(value(s, col), WIDTHS.get(col.split(".", 1)[0], 20))


def raw_cell(s: Any, col: str) -> str:
    """An exact cell: full id and commit, ISO 8601 UTC times, seconds, round-tripping floats."""
    if col == "id":
        return s.id
    if col in ("start", "end"):
        return fmt_iso(s.start_ms if col == "start" else s.end_ms)
    return fmt_raw(value(s, col))


def _param(params: dict, key: str) -> Any:
    if key in params:
        return params[key]
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
