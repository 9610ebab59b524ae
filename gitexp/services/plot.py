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
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitexp.errors import FilterSyntaxError, GitexpError, RunNotFound
from gitexp.services.active import ActiveDir
from gitexp.services.filterexpr import MISSING, lookup, parse_sort
from gitexp.services.finalize import recover_dead_runs
from gitexp.services.index import RunIndex, RunSummary
from gitexp.services.runs import resolve, run_refs
from gitexp.store.gitdb import GitDB
from gitexp.store.journal import read_journals
from gitexp.store.record import Point, RunInfo, ms_from_iso, parse_metric
from gitexp.store.runcommit import RecordReader

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Warn = Callable[[str], None]

X_MODES = ("step", "time", "elapsed")
FORMATS = ("png", "svg", "pdf")
X_LABELS = {"step": "step", "time": "time (UTC)", "elapsed": "elapsed time (s)"}
MAX_LEGEND = 30  # more lines than this and a legend hides the plot
MAX_POINT_LABELS = 20
DECIMATE_BUCKETS = 1500  # per line: min and max of each bucket are drawn  # scatter points labelled with their run's name up to this many


class PlotWarning(UserWarning):
    """Something was left out of a plot (a run without the metric, NaN points, ...)."""


# ---------------------------------------------------------------------------- metric histories

@dataclass
class History:
    """The points of some metrics of one run, as a plot needs them."""

    name: str
    run_id: str
    start_ms: int | None
    metrics: dict[str, list[Point]]  # only the requested keys the run has
    available: list[str]  # every metric key the run has


def load_histories(db: GitDB, runs: Sequence[str], metrics: Sequence[str]) -> list[History]:
    """Read only `metrics` of each run (not every metric, unlike `get_run`); duplicates dropped."""
    recover_dead_runs(db, int(time.time() * 1000))
    summaries = RunIndex(db).summaries(run_refs(db))
    out, seen = [], set()
    for text in runs:
        _ref, commit = resolve(db, text, summaries)
        if commit in seen:
            continue
        seen.add(commit)
        out.append(_history(db, commit, metrics))
    return out


def _history(db: GitDB, commit: str, metrics: Sequence[str]) -> History:
    rec = RecordReader(db, commit)
    info = RunInfo.from_yaml(rec.read("run.yaml") or b"")
    available = rec.metric_keys()
    points = {k: parse_metric(data) for k in metrics if (data := rec.read_metric(k)) is not None}
    folder = ActiveDir.of(db.local_dir, info.id)
    if info.status == "RUNNING" and folder.path.is_dir():  # newer points are still in the journals
        journal = read_journals(folder.path).metrics
        available = sorted(set(available) | set(journal))
        for key in metrics:
            if key in journal:
                merged = points.get(key, []) + list(journal[key])
                points[key] = sorted(merged, key=lambda p: (p[0], p[2]))
    return History(info.name or info.id, info.id, ms_from_iso(info.start_time), points, available)


def plot_metrics(db: GitDB, runs: Sequence[str] | str | None, metrics: Sequence[str] | str,
                 x: str = "step", smooth: int = 1, logy: bool = False, filter_string: str | None = None,
                 experiment: str | Sequence[str] | None = None, warn: Warn | None = None) -> Figure:
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
    """
    warn = warn or _warn
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
        runs = _runs_with_metrics(db, metrics, filter_string, experiment)
    histories = load_histories(db, runs, metrics)
    for key in metrics:
        _check_metric(histories, key, warn)

    import numpy as np

    labels = _labels(histories)
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


def _runs_with_metrics(db: GitDB, metrics: list[str], filter_string: str | None,
                       experiment: str | Sequence[str] | None) -> list[str]:
    from gitexp.services.query import search

    found = search(db, filter_string, experiment=experiment)
    if not found:
        raise RunNotFound("no runs match" + (f" the filter {filter_string!r}" if filter_string else ""),
                          hint="list runs with 'gitexp ls --all'")
    having = [s for s in found if any(k in s.summary for k in metrics)]
    if not having:
        raise RunNotFound(f"none of the {_count(len(found), 'matching run')} has metric "
                          f"{' or '.join(map(repr, metrics))}", hint=_metric_hint(metrics[0], found))
    return [s.id for s in reversed(having)]  # oldest first: legend in creation order


def _metric_hint(key: str, summaries: list[RunSummary]) -> str:
    keys = sorted({k for s in summaries for k in s.summary})
    return _keys_hint(key, keys, "metrics")


def _keys_hint(key: str, keys: list[str], what: str) -> str:
    close = difflib.get_close_matches(key, keys, n=1)
    shown = ", ".join(keys[:12]) + (" …" if len(keys) > 12 else "")
    return (f"did you mean {close[0]!r}? " if close else "") + f"{what}: {shown or 'none'}"


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


def _labels(histories: list[History]) -> list[str]:
    names = [h.name for h in histories]
    return [n if names.count(n) == 1 else f"{n} ({h.run_id[:8]})" for n, h in zip(names, histories)]


# ---------------------------------------------------------------------------- keys of runs

@dataclass(frozen=True)
class Key:
    """`params.lr` parsed: kind (params, metrics, tags, attributes) and key."""

    kind: str
    key: str
    text: str

    def value(self, row: dict) -> Any:
        return lookup(row, self.kind, self.key)


def parse_key(text: str) -> Key:
    """Parse `params.lr`, `metrics.acc`, `tags.model`, `duration` (an attribute)."""
    try:
        parsed = parse_sort(text)
    except FilterSyntaxError as exc:
        reason = re.sub(r" at position \d+$", "", exc.message)
        raise GitexpError(f"bad key {text!r}: {reason}",
                          hint="write keys as params.NAME, metrics.NAME, tags.NAME or an attribute "
                               "such as duration") from None
    if re.search(r"(:|\s)\s*(asc|desc)\s*$", text, re.IGNORECASE):
        raise GitexpError(f"bad key {text!r}", hint="write keys as params.NAME or metrics.NAME, with no sort order")
    return Key(parsed.kind, parsed.key, text.strip())


def _select(db: GitDB, filter_string: str | None, experiment: str | Sequence[str] | None) -> list[RunSummary]:
    from gitexp.services.query import search

    found = search(db, filter_string, experiment=experiment)
    if not found:
        where = f" in experiment {experiment!r}" if isinstance(experiment, str) else ""
        raise RunNotFound("no runs match" + (f" the filter {filter_string!r}" if filter_string else "") + where,
                          hint="list runs with 'gitexp ls --all'")
    return list(reversed(found))  # oldest first


def _number(v: Any) -> float | None:
    """v as a float when it is a number (or a numeric string), else None; bools are not numbers."""
    if isinstance(v, bool) or v is MISSING or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        import json

        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


@dataclass
class _Axis:
    """Values of one key over the plotted runs, numeric or categorical."""

    key: Key
    values: list[Any]
    categories: list[str] | None  # None for a numeric axis

    @property
    def numeric(self) -> bool:
        return self.categories is None

    def positions(self) -> list[float]:
        """Numbers as floats; categories as their index."""
        if self.categories is None:
            return [float(v) for v in self.values]
        index = {c: i for i, c in enumerate(self.categories)}
        return [float(index[_text(v)]) for v in self.values]


def _axis(key: Key, values: list[Any]) -> _Axis:
    nums = [_number(v) for v in values]
    if all(n is not None for n in nums):
        return _Axis(key, nums, None)
    texts = {_text(v): v for v in values}
    order = sorted(texts, key=lambda t: (_number(texts[t]) is None, _number(texts[t]) or 0.0, t))
    return _Axis(key, values, order)


def _usable(v: Any) -> bool:
    """Present, and not a NaN or infinite number."""
    if v is MISSING or v is None:
        return False
    n = _number(v)
    return n is None or math.isfinite(n)


def _missing_hint(key: Key, summaries: list[RunSummary]) -> str:
    rows = [s.row() for s in summaries]
    if key.kind == "attributes":
        return "attributes: " + ", ".join(rows[0]["attributes"]) if rows else ""
    keys = sorted({k for r in rows for k in _flat_keys(r.get(key.kind) or {})})
    return _keys_hint(key.key, keys, key.kind)


def _flat_keys(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [f"{prefix}{k}"]
    return out


def _table(db: GitDB, keys: list[Key], filter_string: str | None, experiment: Any,
           warn: Warn) -> tuple[list[RunSummary], list[list[Any]], list[RunSummary]]:
    """(runs with every key, their values per key, every matching run)."""
    found = _select(db, filter_string, experiment)
    rows = [s.row() for s in found]
    for key in keys:
        if not any(_usable(key.value(r)) for r in rows):
            raise GitexpError(f"none of the {_count(len(found), 'matching run')} has a value for {key.text}",
                              hint=_missing_hint(key, found))
    kept, values, left_out = [], [], []
    for s, r in zip(found, rows):
        vals = [key.value(r) for key in keys]
        if all(_usable(v) for v in vals):
            kept.append(s)
            values.append(vals)
        else:
            left_out.append(s.name)
    skipped = len(left_out)
    if skipped:
        names = ", ".join(left_out)
        warn(f"{_count(skipped, 'run')} without a usable value for {' / '.join(k.text for k in keys)} "
             f"left out: {_shorten(names)}")
    if not kept:
        raise GitexpError(f"no run has values for all of {', '.join(k.text for k in keys)}",
                          hint=f"{len(found)} runs matched, but each lacks one of them")
    return kept, values, found


# ---------------------------------------------------------------------------- scatter

def plot_scatter(db: GitDB, x: str, y: str, filter_string: str | None = None,
                 experiment: str | Sequence[str] | None = None, logx: bool = False, logy: bool = False,
                 warn: Warn | None = None) -> Figure:
    """One point per run at (x, y), e.g. ``plot_scatter(db, "params.lr", "metrics.acc")``.

    Runs lacking either value (or with NaN) are skipped; a key with non-numeric
    values becomes a categorical axis; log axes need positive values (others skipped).
    """
    warn = warn or _warn
    kx, ky = parse_key(x), parse_key(y)
    kept, values, _found = _table(db, [kx, ky], filter_string, experiment, warn)
    ax_x, ax_y = _axis(kx, [v[0] for v in values]), _axis(ky, [v[1] for v in values])
    xs, ys, names = ax_x.positions(), ax_y.positions(), [s.name for s in kept]
    for flag, axis in ((logx, ax_x), (logy, ax_y)):
        if flag and not axis.numeric:
            raise GitexpError(f"{axis.key.text} has non-numeric values: it cannot have a log axis")
    if logx or logy:
        ok = [(not logx or a > 0) and (not logy or b > 0) for a, b in zip(xs, ys)]
        if not all(ok):
            warn(f"{_count(ok.count(False), 'run')} with values ≤ 0 left out of the log axes")
        xs, ys, names = ([v for v, k in zip(seq, ok) if k] for seq in (xs, ys, names))
        if not xs:
            raise GitexpError("no run has positive values for the log axes", hint="drop --logx/--logy")

    fig, (ax,) = _grid(1)
    ax.scatter(xs, ys, s=36, color=_color(0), alpha=0.85, edgecolors="white", linewidths=0.5)
    if len(xs) <= MAX_POINT_LABELS:
        for a, b, name in zip(xs, ys, names):
            ax.annotate(name, (a, b), xytext=(4, 4), textcoords="offset points", fontsize="x-small", alpha=0.8)
    for axis, setter, ticks, limits in ((ax_x, ax.set_xlabel, ax.set_xticks, ax.set_xlim),
                                        (ax_y, ax.set_ylabel, ax.set_yticks, ax.set_ylim)):
        setter(axis.key.text)
        if axis.categories is not None:
            ticks(range(len(axis.categories)), axis.categories)
            limits(-0.5, len(axis.categories) - 0.5)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_title(f"{ky.text} vs {kx.text} ({_count(len(xs), 'run')})")
    ax.grid(True, alpha=0.3)
    return fig


# ---------------------------------------------------------------------------- parallel coordinates

def plot_parallel(db: GitDB, keys: Sequence[str], color: str | None = None, filter_string: str | None = None,
                  experiment: str | Sequence[str] | None = None, warn: Warn | None = None) -> Figure:
    """Parallel coordinates: one vertical axis per key, one line per run.

    Each axis is scaled to [0, 1] with its real min and max written at its ends;
    non-numeric keys are categories at evenly spaced positions, labelled. With
    `color` (a key such as ``metrics.acc``) lines are coloured by it, with a
    colorbar; runs lacking the colour value are drawn grey.
    """
    warn = warn or _warn
    parsed = [parse_key(k) for k in dict.fromkeys(keys)]
    if len(parsed) < 2:
        raise GitexpError("parallel coordinates need at least two keys",
                          hint="e.g. gitexp plot --parallel params.lr params.batch metrics.acc")
    ckey = parse_key(color) if color else None
    kept, values, _found = _table(db, parsed, filter_string, experiment, warn)
    axes_data = [_axis(k, [v[i] for v in values]) for i, k in enumerate(parsed)]
    columns = [_scaled(a) for a in axes_data]

    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize

    cmap = matplotlib.colormaps["viridis"]
    colors: list[Any] = ["#1f77b4"] * len(kept)
    mappable = None
    if ckey is not None:
        raw = [ckey.value(s.row()) for s in kept]
        have = [i for i, v in enumerate(raw) if _usable(v)]
        if not have:
            raise GitexpError(f"no plotted run has a value for the colour key {ckey.text}",
                              hint=_missing_hint(ckey, kept))
        if len(have) < len(raw):
            warn(f"{_count(len(raw) - len(have), 'run')} without {ckey.text} drawn grey")
        caxis = _axis(ckey, [raw[i] for i in have])
        pos = caxis.positions()
        if caxis.categories is None:
            lo, hi = min(pos), max(pos)
            norm = Normalize(lo, hi if hi > lo else lo + 1)
            mappable = ScalarMappable(norm=norm, cmap=cmap)
        else:
            n = len(caxis.categories)
            cmap = ListedColormap([cmap(i / max(n - 1, 1)) for i in range(n)])
            norm = BoundaryNorm([i - 0.5 for i in range(n + 1)], n)
            mappable = ScalarMappable(norm=norm, cmap=cmap)
        colors = ["#bbbbbb"] * len(kept)
        for i, p in zip(have, pos):
            colors[i] = mappable.to_rgba(p)

    fig, (ax,) = _grid(1, width=max(7.0, 1.6 * len(parsed) + 2.5))
    xs = list(range(len(parsed)))
    order = sorted(range(len(kept)), key=lambda i: colors[i] != "#bbbbbb")  # grey lines underneath
    for i in order:
        ax.plot(xs, [col[i] for col in columns], color=colors[i], alpha=0.8, linewidth=1.4,
                marker="o", markersize=3, label=kept[i].name)
    ax.vlines(xs, 0, 1, colors="#444444", linewidth=1)
    for i, axis in enumerate(axes_data):
        _label_axis(ax, i, axis)
    ax.set_xticks(xs, [k.text for k in parsed])
    ax.set_xlim(-0.3, len(parsed) - 0.7)
    ax.set_ylim(-0.08, 1.08)
    ax.set_yticks([])
    ax.set_ylabel("each axis scaled from its min (bottom) to its max (top)", fontsize="small")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Parallel coordinates of {_count(len(kept), 'run')}"
                 + (f", coloured by {ckey.text}" if ckey else ""))
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=ax, pad=0.02)
        bar.set_label(ckey.text)  # type: ignore[union-attr]
        if caxis.categories is not None:
            bar.set_ticks(range(len(caxis.categories)), labels=caxis.categories)
    return fig


def _scaled(axis: _Axis) -> list[float]:
    pos = axis.positions()
    if axis.categories is not None:
        n = len(axis.categories)
        return [p / (n - 1) if n > 1 else 0.5 for p in pos]
    lo, hi = min(pos), max(pos)
    return [(p - lo) / (hi - lo) if hi > lo else 0.5 for p in pos]


def _label_axis(ax: Axes, i: int, axis: _Axis) -> None:
    style = {"fontsize": "x-small", "ha": "left", "color": "#222222",
             "bbox": {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7}}
    if axis.categories is None:
        lo, hi = min(axis.values), max(axis.values)
        if hi > lo:
            ax.text(i + 0.04, 1.0, _fmt_num(hi), va="bottom", **style)
            ax.text(i + 0.04, 0.0, _fmt_num(lo), va="top", **style)
        else:
            ax.text(i + 0.04, 0.5, _fmt_num(lo), va="center", **style)
        return
    n = len(axis.categories)
    for j, name in enumerate(axis.categories):
        ax.text(i + 0.04, j / (n - 1) if n > 1 else 0.5, _shorten(name, 20), va="center", **style)


def _fmt_num(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"


# ---------------------------------------------------------------------------- figures and files

def _grid(n: int, sharex: bool = True, width: float | None = None) -> tuple[Figure, list[Axes]]:
    """A figure with n axes: one column up to three, two columns beyond."""
    from matplotlib.figure import Figure

    ncols = 1 if n <= 3 else 2
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width or (8.0 if ncols == 1 else 13.0), 1.0 + 3.4 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex and n > 1)
    axes = [a for row in grid for a in row]
    for extra in axes[n:]:
        fig.delaxes(extra)
    for ax in axes[:n]:
        ax.xaxis.set_tick_params(labelbottom=True)  # shared x: keep every axes' tick labels
    return fig, axes[:n]


def _color(i: int) -> str:
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd")
    return palette[i % len(palette)]


def check_format(path: str | os.PathLike[str]) -> str:
    """The image format named by `path`'s extension (png, svg, pdf), or a clear error."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        shown = f"extension '.{ext}'" if ext else "no extension"
        raise GitexpError(f"cannot tell the image format of {str(path)!r} ({shown})",
                          hint="end the file name with .png, .svg or .pdf")
    folder = Path(path).parent
    if not folder.is_dir():
        raise GitexpError(f"folder {str(folder)!r} does not exist", hint=f"create it: mkdir -p {folder}")
    return ext


def default_name(*parts: str) -> str:
    """`gitexp-plot-<parts>.png`, with keys made file-name safe."""
    slug = "-".join(re.sub(r"[^A-Za-z0-9._]+", "-", p).strip("-.") for p in parts if p)
    return f"gitexp-plot-{slug[:80] or 'figure'}.png"


def save_figure(fig: Figure, path: str | os.PathLike[str] | None = None, default: str = "gitexp-plot.png",
                folder: str | os.PathLike[str] = ".") -> Path:
    """Write `fig` to `path` (format by extension; overwritten), or to a new file in `folder`.

    Without a path the file is `default` in `folder`, or `<stem>-1<ext>`, `-2`, … when
    that exists: an existing file is never overwritten (the name is claimed atomically).
    """
    if path is not None:
        fmt = check_format(path)
        fig.savefig(path, format=fmt, dpi=120)
        return Path(path)
    fmt = check_format(Path(folder) / default)
    stem, suffix = Path(default).stem, Path(default).suffix
    for n in range(10000):
        target = Path(folder) / (default if n == 0 else f"{stem}-{n}{suffix}")
        try:
            handle = open(target, "xb")
        except FileExistsError:
            continue
        try:
            with handle:
                fig.savefig(handle, format=fmt, dpi=120)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target
    raise GitexpError(f"too many files named {stem}-N{suffix} in {folder}", hint="pass an output path with -o")


# ---------------------------------------------------------------------------- small helpers

def _warn(message: str) -> None:
    warnings.warn(message, PlotWarning, stacklevel=3)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _shorten(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
