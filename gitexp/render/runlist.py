"""The `gitexp ls` table: which columns fit, and the cell of a run in a column.

Columns are `id, name, experiment, status, start, end, duration, user, commit`
or `params.KEY`, `metrics.KEY`, `tags.KEY`. Display cells are short (cut,
4 significant digits); `exact=True` gives full values for CSV.
"""

from __future__ import annotations

from collections import Counter
from itertools import zip_longest

from gitexp.render.formats import fmt_duration, fmt_iso, fmt_raw, fmt_time, fmt_value
from gitexp.render.tables import Table

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

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
    """The columns `gitexp ls` shows when none are asked for, fitted to `width` (None: all of them).

    By priority: id, name, (experiment,) status; then the params that vary most across
    `runs` (a swept param before one that changed once) alternating with the metrics most
    runs have; then duration and start; then the rest. Lower priorities are dropped first
    on a narrow terminal. Shown in the usual order: attributes, params, metrics.
    """
    head = BASE[:2] + (["experiment"] if with_experiment else []) + ["status"]
    main, rest = _ranked_keys(runs)
    ranked = head + main + ["duration", "start"] + rest
    if width is None:
        chosen = ranked
    else:
        chosen, used = [], 0
        for col in ranked:
            need = _col_width(runs, col, ids)
            if col in head or used + need <= width:  # a narrower column further down may still fit
                chosen.append(col)
                used += need
    order = {c: n for n, c in enumerate(head + ["start", "duration"])}
    attrs = sorted((c for c in chosen if c in order), key=order.__getitem__)
    return attrs + [c for c in chosen if c.startswith("params.")] + [c for c in chosen if c.startswith("metrics.")]


def candidates(runs: list) -> list[str]:
    """Every key column, most telling first (see `default_columns`)."""
    main, rest = _ranked_keys(runs)
    return main + rest


def _ranked_keys(runs: list) -> tuple[list[str], list[str]]:
    """(swept params alternating with common metrics, then everything else), each best first.

    A param's rank is how many distinct values it takes across `runs` (absent counts as
    one); params with one value everywhere come last. Metrics rank by how many runs
    have them; those in at least half of the runs are "common".
    """
    from gitexp.store.record import flatten

    present: Counter = Counter()
    metrics: Counter = Counter()
    values: dict[str, set] = {}
    for s in runs:
        for key, value in flatten(s.params).items():
            present[key] += 1
            values.setdefault(key, set()).add(repr(value))
        metrics.update(s.metrics.keys())  # the last values: read with the row, unlike summaries
    n = len(runs)
    spread = {k: len(values[k]) + (present[k] < n) for k in present}
    order = list(present)
    swept = sorted((k for k in order if spread[k] > 1), key=lambda k: (-spread[k], order.index(k)))
    constant = [f"params.{k}" for k in order if spread[k] <= 1]
    common = [f"metrics.{k}" for k, c in metrics.most_common() if 2 * c >= n]
    rare = [f"metrics.{k}" for k, c in metrics.most_common() if 2 * c < n]
    # Results and what changed between runs, alternately, so a narrow terminal shows both.
    mixed = [c for pair in zip_longest(common, [f"params.{k}" for k in swept]) for c in pair if c]
    return mixed, rare + constant


def _col_width(runs: list, col: str, ids: dict[str, str]) -> int:
    # tabulate pads a header by 2 (MIN_PADDING) and puts 2 spaces between columns.
    return 2 + max([len(header(col)) + 2] + [len(cell(s, col, ids)) for s in runs[:50]])


HEADER_PREFIX = {"params": "p.", "metrics": "m.", "tags": "t."}


def header(col: str) -> str:
    """A column's header: `p.KEY`, `m.KEY`, `t.KEY` for params, metrics and tags (a param and a
    metric may share a key), the attribute's name otherwise."""
    kind, _, key = col.partition(".")
    return HEADER_PREFIX[kind] + key if key and kind in HEADER_PREFIX else col


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
        return s.metrics.get(key)
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
