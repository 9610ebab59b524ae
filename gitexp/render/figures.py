"""Figure plumbing shared by gitexp's plots: grids, colours, file formats, saving, warnings."""

from __future__ import annotations

import difflib
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from gitexp.errors import GitexpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Warn = Callable[[str], None]


FORMATS = ("png", "svg", "pdf")


class PlotWarning(UserWarning):
    """Something was left out of a plot (a run without the metric, NaN points, ...)."""


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


def _keys_hint(key: str, keys: list[str], what: str) -> str:
    close = difflib.get_close_matches(key, keys, n=1)
    shown = ", ".join(keys[:12]) + (" …" if len(keys) > 12 else "")
    return (f"did you mean {close[0]!r}? " if close else "") + f"{what}: {shown or 'none'}"


