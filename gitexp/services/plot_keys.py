"""Plots across runs by their keys: a scatter of two keys, parallel coordinates of several.

Keys are written as in filters: `params.lr`, `metrics.acc`, `tags.model`, `duration`.
Runs lacking a value are skipped (warned); a key whose values are not all numbers is
drawn as categories at evenly spaced positions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitexp.errors import FilterSyntaxError, GitexpError, RunNotFound
from gitexp.services.catalog.filterexpr import MISSING, lookup, parse_sort
from gitexp.model import Run
from gitexp.render.figures import Warn, _color, _count, _grid, _keys_hint, _shorten, _warn
from gitexp.services.session import Session

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_POINT_LABELS = 20  # scatter points labelled with their run's name up to this many


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


def _select(s: Session, filter_string: str | None, experiment: str | Sequence[str] | None) -> list[Run]:
    from gitexp.services.catalog.query import search

    found = search(s, filter_string, experiment=experiment)
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


def _missing_hint(key: Key, summaries: list[Run]) -> str:
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


def _table(s: Session, keys: list[Key], filter_string: str | None, experiment: Any,
           warn: Warn) -> tuple[list[Run], list[list[Any]], list[Run]]:
    """(runs with every key, their values per key, every matching run)."""
    found = _select(s, filter_string, experiment)
    rows = [run.row() for run in found]
    for key in keys:
        if not any(_usable(key.value(r)) for r in rows):
            raise GitexpError(f"none of the {_count(len(found), 'matching run')} has a value for {key.text}",
                              hint=_missing_hint(key, found))
    kept, values, left_out = [], [], []
    for run, r in zip(found, rows):
        vals = [key.value(r) for key in keys]
        if all(_usable(v) for v in vals):
            kept.append(run)
            values.append(vals)
        else:
            left_out.append(run.name)
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

def plot_scatter(s: Session, x: str, y: str, filter_string: str | None = None,
                 experiment: str | Sequence[str] | None = None, logx: bool = False, logy: bool = False,
                 warn: Warn | None = None) -> Figure:
    """One point per run at (x, y), e.g. ``plot_scatter(s, "params.lr", "metrics.acc")``.

    Runs lacking either value (or with NaN) are skipped; a key with non-numeric
    values becomes a categorical axis; log axes need positive values (others skipped).
    """
    warn = warn or _warn
    kx, ky = parse_key(x), parse_key(y)
    kept, values, _found = _table(s, [kx, ky], filter_string, experiment, warn)
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

def plot_parallel(s: Session, keys: Sequence[str], color: str | None = None, filter_string: str | None = None,
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
    kept, values, _found = _table(s, parsed, filter_string, experiment, warn)
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
            colors[i] = mappable.to_rgba(p)  # type: ignore[arg-type]  # a scalar is accepted

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
    style: dict[str, Any] = {"fontsize": "x-small", "ha": "left", "color": "#222222",
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


