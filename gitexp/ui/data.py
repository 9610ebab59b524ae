"""What the web UI shows, as plain JSON-ready dicts built from the services.

No web framework here: the server's JSON endpoints, its HTML pages and the
static export all call these functions with a `Session`, so there is one way
of reading runs (the services) and one shape of each page's data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from gitexp.errors import FilterSyntaxError, GitexpError
from gitexp.model import Run, experiment_of
from gitexp.services.catalog.listing import run_refs
from gitexp.services.catalog.query import search
from gitexp.services.compare import compare_runs, diff_runs, load_run
from gitexp.services.plot import load_histories, min_max_decimate
from gitexp.services.runfiles import code_changes, read_output_log
from gitexp.services.session import Session
from gitexp.store.record import Columns, flatten
from gitexp.ui.jsonsafe import clean, to_json  # noqa: F401 - part of this module's interface
from gitexp.ui.runpool import RunPool

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

PAGE_SIZE = 50
MAX_PAGE = 500
KEY_SAMPLE = 1000  # the column chooser offers the keys of the first runs of a result
DEFAULT_PARAMS, DEFAULT_METRICS = 4, 4
CHART_POINTS = 6000  # points drawn per chart, shared by its lines: what keeps a chart of many runs quick to draw
LINE_BUCKETS = (150, 1000)  # the least and most buckets a line gets (min and max of each are kept)
MAX_LOG = 256 << 10  # the run page shows the end of a longer output log
ATTRIBUTE_SORTS = {"name": "attributes.run_name", "status": "attributes.status", "start": "attributes.start_time",
                   "duration": "attributes.duration", "user": "attributes.user",
                   "experiment": "attributes.experiment", "id": "attributes.run_id"}


# ------------------------------------------------------------------------------ runs table

def experiments(s: Session) -> list[str]:
    """Every experiment that has runs, sorted."""
    return sorted({experiment_of(ref) for ref in run_refs(s)})


def sort_key(text: str | None) -> str | None:
    """A column's sort (`name`, `-metrics.acc`) as the filter grammar's order-by text."""
    if not text:
        return None
    descending = text.startswith("-")
    key = text.lstrip("-+")
    key = ATTRIBUTE_SORTS.get(key, key)
    return f"{key} {'DESC' if descending else 'ASC'}"


Result = tuple[list[Run], dict[str, list[str]], list[str]]  # runs, column-chooser keys, default columns


def runs_table(s: Session, filter_string: str = "", sort: str | None = None, experiment: str | None = None,
               offset: int = 0, limit: int = PAGE_SIZE, columns: Sequence[str] | None = None,
               everything: bool = False, pool: RunPool | None = None) -> dict[str, Any]:
    """One page of runs matching `filter_string`, with the values of `columns`.

    Args:
        sort: a column (`name`, `start`, `metrics.acc`), `-` in front for descending.
        columns: `params.x`, `metrics.y`, `tags.z`; None picks a few that vary.
        everything: every run and every key's value (the static export).
        pool: a server's RunPool (runs decoded once, results reused while no run ref moves).
    Returns:
        {total, offset, limit, rows, columns, keys, running} or, for a filter
        that does not parse, {error: {message, pointer, position}}.
    """
    try:
        if pool is None:
            runs, keys, defaults = _result(s, filter_string, sort, experiment, None, everything)
        else:
            version, known = pool.runs(s)
            runs, keys, defaults = pool.memo(version, (filter_string or "", sort or "", experiment or ""),
                                             lambda: _result(s, filter_string, sort, experiment, known, False))
    except FilterSyntaxError as exc:
        return {"error": {"message": exc.message, "pointer": exc.pointer, "position": exc.position}}
    if everything:
        columns, offset, limit = keys["params"] + keys["metrics"] + keys["tags"], 0, len(runs)
    elif not columns:
        columns = defaults
    limit = max(1, min(int(limit), len(runs) if everything else MAX_PAGE))
    offset = max(0, min(int(offset), max(len(runs) - 1, 0)))
    page = runs[offset:offset + limit]
    return {"total": len(runs), "offset": offset, "limit": limit, "columns": list(columns), "keys": keys,
            "rows": [table_row(r, columns) for r in page],
            "running": sum(1 for r in page if r.status == "RUNNING")}


def _result(s: Session, filter_string: str, sort: str | None, experiment: str | None,
            runs: list[Run] | None, everything: bool) -> Result:
    found = search(s, filter_string or None, order_by=sort_key(sort), experiment=experiment or None, runs=runs)
    keys, defaults = columns_of(found if everything else found[:KEY_SAMPLE])
    return found, keys, defaults


def table_row(run: Run, columns: Iterable[str]) -> dict[str, Any]:
    """A run as a table row: identity, status, times and the chosen columns' values."""
    ok = run.error is None
    row = {"id": run.id, "name": run.name, "experiment": run.experiment, "status": run.status,
           "start_ms": run.start_ms, "duration": run.duration, "user": run.user,
           "values": {c: value_of(run, c) for c in columns} if ok else {}}
    if not ok:
        row["error"] = run.error
    return row


def value_of(run: Run, column: str) -> Any:
    """The value of `params.x` (nested by dots), `metrics.y` (last value) or `tags.z`; None if absent."""
    kind, _, key = column.partition(".")
    if kind == "params":
        return flatten(run.params).get(key)
    if kind == "metrics":
        return run.metrics.get(key)
    if kind == "tags":
        return run.tags.get(key)
    return None


def columns_of(runs: Sequence[Run]) -> tuple[dict[str, list[str]], list[str]]:
    """The column chooser's params./metrics./tags. keys of `runs`, and the default columns:
    a few params whose values vary (all params when none varies), then the first metrics."""
    readable = [r for r in runs if r.error is None]
    flat = [flatten(r.params) for r in readable]
    params = sorted({k for f in flat for k in f})
    metrics = sorted({k for r in readable for k in r.summary})
    tags = sorted({k for r in readable for k in r.tags})
    keys = {"params": [f"params.{k}" for k in params], "metrics": [f"metrics.{k}" for k in metrics],
            "tags": [f"tags.{k}" for k in tags]}
    varying = [f"params.{k}" for k in params if len({repr(f.get(k)) for f in flat}) > 1]
    return keys, (varying or keys["params"])[:DEFAULT_PARAMS] + keys["metrics"][:DEFAULT_METRICS]


# ------------------------------------------------------------------------------ one run

def run_page(s: Session, ref: str, code_text: bool = True) -> dict[str, Any]:
    """Everything the run page shows, but metric histories (fetched by the charts, so not read here)."""
    run = load_run(s, ref)
    files, unchanged, baseline = code_changes(s, run, code_text)
    log = read_output_log(s, run)
    cut = log is not None and len(log) > MAX_LOG
    return {
        "run": clean(run.to_dict()), "params": clean(flatten(run.params)),
        "metric_keys": sorted(run.summary), "note": run.info.description,
        "artifacts": [{**a.to_dict(), "preview": preview_kind(a.path)}
                      for a in sorted(run.artifacts, key=lambda a: a.path)],
        "log": None if log is None else log[-MAX_LOG:].decode("utf-8", "replace"), "log_cut": cut,
        "code": {"files": [f.to_dict() for f in files], "unchanged": unchanged, "baseline": baseline},
    }


TEXT_SUFFIXES = (".txt", ".log", ".md", ".json", ".yaml", ".yml", ".csv", ".tsv", ".py", ".toml", ".cfg", ".ini")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")  # never SVG: it can carry script


def preview_kind(path: str) -> str | None:
    """'text', 'image' or None (download only) for an artifact path."""
    lower = path.lower()
    if lower.endswith(TEXT_SUFFIXES):
        return "text"
    if lower.endswith(IMAGE_SUFFIXES):
        return "image"
    return None


# ------------------------------------------------------------------------------ charts

def histories(s: Session, runs: Sequence[str], metrics: Sequence[str] | None = None,
              points: int | None = None) -> dict[str, Any]:
    """Metric histories of `runs` (all their metrics when `metrics` is None), thinned for drawing.

    Each line is columns {t0, step, value, time}: `time` in ms after `t0` (the
    run's start, or its first point), non-finite values as None. A line longer
    than 4 x its buckets keeps the lowest and highest point of each bucket, so
    spikes stay visible and every point drawn is a recorded one. The buckets of
    a line (`points`, or CHART_POINTS / 2 shared by the lines, within
    LINE_BUCKETS) keep a chart of many runs as quick to draw as one of a few;
    `points=0` keeps every point.
    """
    loaded = load_histories(s, runs, metrics)
    if metrics is None:
        metrics = sorted({k for h in loaded for k in h.available})
    if points is None:
        points = max(LINE_BUCKETS[0], min(LINE_BUCKETS[1], CHART_POINTS // (2 * max(len(loaded), 1))))
    out = [{"id": h.run_id, "name": h.name, "start_ms": h.start_ms,
            "metrics": {k: thin(c, points, h.start_ms) for k, c in h.columns.items()}} for h in loaded]
    return {"metrics": list(metrics), "runs": out}


def thin(columns: Columns, buckets: int, start_ms: int | None = None) -> dict[str, Any]:
    """Min-max decimation of (steps, values, timestamps) columns, as JSON-ready columns."""
    import numpy as np

    steps, values, times = (np.asarray(c, dtype=d) for c, d in zip(columns, ("int64", "float64", "int64")))
    if buckets and len(values) > 4 * buckets:
        finite = np.isfinite(values)
        filled = np.where(finite, values, values[finite].mean() if finite.any() else 0.0)
        keep, _ = min_max_decimate(np.arange(len(values)), filled, buckets)
        steps, values, times = steps[keep], values[keep], times[keep]
    t0 = start_ms if start_ms is not None else (int(times[0]) if len(times) else 0)
    return {"t0": t0, "step": steps.tolist(), "value": [v if math.isfinite(v) else None for v in values.tolist()],
            "time": (times - t0).tolist()}


# ------------------------------------------------------------------------------ compare

def comparison(s: Session, refs: Sequence[str]) -> dict[str, Any]:
    """The rows of `gitexp compare` (differences marked) and each run's identity."""
    cmp = compare_runs(s, list(refs))
    return clean(cmp.to_dict())


def code_diff(s: Session, a: str, b: str) -> dict[str, Any]:
    """The code files that differ between two runs' snapshots, with unified diff text."""
    diff = diff_runs(s, a, b, code_text=True)
    return {"a": diff.a.ident(), "b": diff.b.ident(), **diff.to_dict()["code"]}


def split_runs(text: str | None) -> list[str]:
    """`a,b,c` from a URL into run references; at most 50."""
    refs = [t.strip() for t in (text or "").split(",") if t.strip()]
    if len(refs) > 50:
        raise GitexpError(f"{len(refs)} runs selected; the compare page shows at most 50",
                          hint="select fewer runs")
    return list(dict.fromkeys(refs))


def registry(s: Session) -> dict[str, Any]:
    """The registry page: every model with its versions (run, metrics, stages) and its history.

    Tag names, messages and taggers come from other people's pushes: the page
    shows them as text only (autoescaped templates, JSON through `clean`).
    """
    from gitexp.services.registry.views import history, model_versions, models_table

    rows, reg = models_table(s)
    events, _ = history(s)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_model.setdefault(e["model"], []).append(e)
    models = []
    for row in rows:
        detail, _ = model_versions(s, row["name"])
        models.append({**row, "versions_list": detail["versions"], "history": by_model.get(row["name"], [])})
    return {"models": models, "warning": reg.warning(), "ignored": [list(t) for t in reg.ignored]}
