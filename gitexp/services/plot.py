"""Figures of runs with matplotlib: metric histories, scatter of two keys, parallel coordinates.

Every function returns a `matplotlib.figure.Figure` built without pyplot, so nothing
leaks between calls and nothing depends on an interactive backend (saving goes
through matplotlib's Agg/SVG/PDF canvases, headless). matplotlib and numpy are
imported inside the functions: importing this module costs nothing.

Choices, in one place:
- `plot_metrics`: a run lacking a metric is skipped with a warning when at least one
  other run has it; when no run has it, the error names the runs and their metrics.
  NaN and ±inf points are dropped (with a warning saying how many) before smoothing.
- `plot_scatter` / `plot_parallel`: runs lacking a value are skipped (warned); a key
  whose values are not all numbers is drawn as categories at evenly spaced positions.
- Keys are written as in filters: `params.lr`, `metrics.acc`, `tags.model`,
  `duration`/`attributes.duration`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gitexp.errors import GitexpError, RunNotFound
from gitexp.services.catalog.filterexpr import MISSING
from gitexp.model import Run
from gitexp.render.figures import (
    FORMATS, PlotWarning, Warn, _color, _count, _grid, _keys_hint, _warn, check_format, default_name, save_figure,
)
from gitexp.services.catalog.listing import resolve, run_refs
from gitexp.services.plot_keys import Key, parse_key, plot_parallel, plot_scatter
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir
from gitexp.store.journal import read_journals
from gitexp.store.record import Columns, Point, RunInfo, ms_from_iso
from gitexp.store.runcommit import RecordReader, merge_points

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The plot API in one place: histories here, key plots and files from their modules.
__all__ = ["FORMATS", "Key", "PlotWarning", "check_format", "default_name", "load_histories", "min_max_decimate",
           "moving_average", "parse_key", "plot_metrics", "plot_parallel", "plot_scatter", "save_figure"]

X_MODES = ("step", "time", "elapsed")
X_LABELS = {"step": "step", "time": "time (UTC)", "elapsed": "elapsed time (s)"}
MAX_LEGEND = 30  # more lines than this and a legend hides the plot
MAX_POINT_LABELS = 20  # scatter points labelled with their run's name up to this many
DECIMATE_BUCKETS = 1500  # per line: min and max of each bucket are drawn


# ---------------------------------------------------------------------------- metric histories

@dataclass
class History:
    """The points of some metrics of one run, as a plot needs them."""

    name: str
    run_id: str
    start_ms: int | None
    columns: dict[str, Columns]  # only the requested keys the run has: steps, values, timestamps (read-only)
    available: list[str]  # every metric key the run has

    @cached_property
    def metrics(self) -> dict[str, list[Point]]:
        """The same histories as (step, value, timestamp) points."""
        return {k: list(zip(*c)) for k, c in self.columns.items()}


def load_histories(s: Session, runs: Sequence[str], metrics: Sequence[str] | None) -> list[History]:
    """Read only `metrics` (every metric when None) of each run; duplicates dropped.

    Runs are resolved by id, prefix, name or revision without listing every run,
    and each metric file is decoded once per process (`RecordReader.metric_columns`).
    """
    s.recover()
    refs = run_refs(s)
    out, seen = [], set()
    for text in runs:
        _ref, commit = resolve(s, text, refs=refs)
        if commit in seen:
            continue
        seen.add(commit)
        out.append(_history(s, commit, metrics))
    return out


def _history(s: Session, commit: str, metrics: Sequence[str] | None) -> History:
    db = s.db
    rec = RecordReader(db, commit)
    info = RunInfo.from_yaml(rec.read("run.yaml") or b"")
    available = rec.metric_keys()
    wanted = available if metrics is None else metrics
    columns = {k: c for k in wanted if (c := rec.metric_columns(k)) is not None}
    folder = ActiveDir.of(db.local_dir, info.id)
    if info.status == "RUNNING" and os.path.isdir(folder.path):  # newer points are still in the journals
        journal = read_journals(folder.path).metrics
        available = sorted(set(available) | set(journal))
        for key in available if metrics is None else metrics:
            if key in journal:
                merged = merge_points(list(zip(*columns.get(key, ((), (), ())))), journal[key])
                columns[key] = ([p[0] for p in merged], [p[1] for p in merged], [p[2] for p in merged])
    return History(info.name or info.id, info.id, ms_from_iso(info.start_time), columns, available)


def plot_metrics(s: Session, runs: Sequence[str] | str | None, metrics: Sequence[str] | str,
                 x: str = "step", smooth: int = 1, logy: bool = False, filter_string: str | None = None,
                 experiment: str | Sequence[str] | None = None, warn: Warn | None = None,
                 label: str | None = None) -> Figure:
    """Overlay metric histories: one axes per metric, one line per run, run names in the legend.

    Args:
        runs: run references (ids, prefixes, names, revisions); None or empty to take
            the runs matched by `filter_string` / `experiment` that have the metrics.
        metrics: one key or several (one axes each).
        x: ``"step"``, ``"time"`` (wall clock, UTC) or ``"elapsed"`` (seconds since the
            run's start).
        smooth: trailing moving average over this many points (1 = raw values).
        logy: logarithmic y axes.
        warn: called with a message for each thing left out (default: `warnings.warn`).
        label: a key (``params.train.lr``) whose value names each run's line instead of its name.
    """
    warn = warn or _warn
    label_key = parse_key(label) if label else None
    metrics = [metrics] if isinstance(metrics, str) else list(dict.fromkeys(metrics))
    runs = [runs] if isinstance(runs, str) else list(runs or [])
    if not metrics:
        raise GitexpError("no metric to plot", hint="name one with -m, e.g. gitexp plot RUN -m loss")
    if x not in X_MODES:
        raise GitexpError(f"unknown x axis {x!r}", hint="use step, time or elapsed")
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise GitexpError(f"smoothing window must be a whole number ≥ 1, not {smooth!r}")
    if runs and (filter_string or experiment):
        raise GitexpError("give either runs or a filter/experiment, not both",
                          hint="to restrict to some runs, filter on attributes.run_name IN ('a', 'b')")
    if not runs:
        runs = _runs_with_metrics(s, metrics, filter_string, experiment)
    histories = load_histories(s, runs, metrics)
    for key in metrics:
        _check_metric(histories, key, warn)

    import numpy as np

    labels = _labels(histories) if label_key is None else _labels_by(s, histories, label_key)
    fig, axes = _grid(len(metrics), sharex=x != "time")
    for ax, key in zip(axes, metrics):
        dropped = 0
        for i, h in enumerate(histories):
            if key not in h.metrics:
                continue
            xs, ys, bad = _series(np, h, key, x)
            dropped += bad
            if smooth > 1:
                ys = moving_average(ys, smooth)
            xs, ys = min_max_decimate(xs, ys)
            ax.plot(xs, ys, label=labels[i], color=_color(i), linewidth=1.2)
        if dropped:
            warn(f"{key}: {dropped} NaN or infinite point{'s' * (dropped != 1)} not drawn")
        _decorate_metric_axes(ax, key, x, smooth, logy)
    if x == "time":
        fig.autofmt_xdate()
    if len(metrics) > 1:
        fig.suptitle(f"{', '.join(metrics)} of {_count(len(histories), 'run')}")
    return fig


def _runs_with_metrics(s: Session, metrics: list[str], filter_string: str | None,
                       experiment: str | Sequence[str] | None) -> list[str]:
    from gitexp.services.catalog.query import search

    found = search(s, filter_string, experiment=experiment)
    if not found:
        raise RunNotFound("no runs match" + (f" the filter {filter_string!r}" if filter_string else ""),
                          hint="list runs with 'gitexp ls --all'")
    having = [r for r in found if any(k in r.summary for k in metrics)]
    if not having:
        raise RunNotFound(f"none of the {_count(len(found), 'matching run')} has metric "
                          f"{' or '.join(map(repr, metrics))}", hint=_metric_hint(metrics[0], found))
    return [r.id for r in reversed(having)]  # oldest first: legend in creation order


def _metric_hint(key: str, runs: list[Run]) -> str:
    keys = sorted({k for r in runs for k in r.summary})
    return _keys_hint(key, keys, "metrics")


def _check_metric(histories: list[History], key: str, warn: Warn) -> None:
    lacking = [h for h in histories if key not in h.metrics or not h.metrics[key]]
    if not lacking:
        return
    if len(lacking) == len(histories):
        if len(histories) == 1:
            h = histories[0]
            raise RunNotFound(f"run {h.name} has no metric {key!r}", hint=_keys_hint(key, h.available, "its metrics"))
        parts = "; ".join(f"{h.name}: {', '.join(h.available) or 'none'}" for h in histories[:5])
        close = difflib.get_close_matches(key, sorted({k for h in histories for k in h.available}), n=1)
        raise RunNotFound(f"none of the {len(histories)} runs has metric {key!r}",
                          hint=(f"did you mean {close[0]!r}? " if close else "") + f"their metrics: {parts}")
    for h in lacking:
        h.metrics.pop(key, None)
        warn(f"run {h.name} has no metric {key!r}: left out of that plot "
             f"(its metrics: {', '.join(h.available) or 'none'})")


def _series(np: Any, h: History, key: str, x: str) -> tuple[Any, Any, int]:
    """(x values, y values, number of non-finite points dropped) of one run's metric."""
    arr = np.array(h.metrics[key], dtype=np.float64).reshape(-1, 3)
    finite = np.isfinite(arr[:, 1])
    bad = int(arr.shape[0] - finite.sum())
    if bad:
        arr = arr[finite]
    ys = arr[:, 1]
    if x == "step":
        xs = arr[:, 0]
    elif x == "time":
        xs = arr[:, 2].astype("int64").astype("datetime64[ms]")
    else:
        start = h.start_ms if h.start_ms is not None else (arr[0, 2] if len(arr) else 0)
        xs = (arr[:, 2] - start) / 1000.0
    return xs, ys, bad


def min_max_decimate(xs: Any, ys: Any, buckets: int = DECIMATE_BUCKETS) -> tuple[Any, Any]:
    """Keep each bucket's lowest and highest point, in order: a long line looks the same.

    A figure is ~1,000 pixels wide, so 10,000 points per line only cost drawing
    time; the min and max of each of `buckets` slices keep every spike visible.
    """
    import numpy as np

    n = len(ys)
    if n <= 4 * buckets:
        return xs, ys
    width = -(-n // buckets)
    padded = np.concatenate([ys, np.full(width * buckets - n, ys[-1])]).reshape(buckets, width)
    base = np.arange(buckets) * width
    lows, highs = base + padded.argmin(axis=1), base + padded.argmax(axis=1)
    keep = np.unique(np.minimum(np.concatenate([lows, highs, [0, n - 1]]), n - 1))
    return xs[keep], ys[keep]


def moving_average(values: Any, window: int) -> Any:
    """Trailing mean over `window` points: out[i] = mean(values[max(0, i-window+1) : i+1])."""
    import numpy as np

    ys = np.asarray(values, dtype=np.float64)
    if window <= 1 or ys.size == 0:
        return ys
    sums = np.convolve(ys, np.ones(window), mode="full")[: ys.size]
    counts = np.minimum(np.arange(1, ys.size + 1), window)
    return sums / counts


def _decorate_metric_axes(ax: Axes, key: str, x: str, smooth: int, logy: bool) -> None:
    ax.set_title(key + (f" (moving average of {smooth} points)" if smooth > 1 else ""))
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel(key)
    if logy:
        ax.set_yscale("log")
    if x == "time":
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    if 0 < len(ax.lines) <= MAX_LEGEND:
        ax.legend(fontsize="small", loc="best")


def _labels_by(s: Session, histories: list[History], key: Key) -> list[str]:
    """`train.lr=0.1` per run (its name added when two runs share the value); `?` when it has none."""
    from gitexp.render.formats import fmt_value

    wanted = {h.run_id for h in histories}
    runs = {r.id: r for r in s.cache.summaries(run_refs(s), fields=("params", "tags")) if r.id in wanted}
    texts = []
    for h in histories:
        run = runs.get(h.run_id)
        value = key.value(run.row({key.kind})) if run is not None else MISSING
        texts.append(f"{key.key}={'?' if value is MISSING else fmt_value(value, 30)}")
    return [t if texts.count(t) == 1 else f"{t} ({h.name})" for t, h in zip(texts, histories)]


def _labels(histories: list[History]) -> list[str]:
    names = [h.name for h in histories]
    return [n if names.count(n) == 1 else f"{n} ({h.run_id[:8]})" for n, h in zip(names, histories)]


