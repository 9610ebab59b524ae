"""Tests for `gitexp plot` and gitexp.services.plot: figures inspected, files checked, CLI errors."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gitexp
from gitexp.errors import GitexpError
from gitexp.services import plot as plots
from gitexp.services.catalog.listing import get_run
from gitexp.services.session import open_session
from gitexp.store.record import ms_from_iso
from tests.helpers import git, invoke, sampled

LOSS = {"a": [1.0, 0.8, 0.6, 0.5, 0.4], "b": [2.0, 1.5, 1.0, 0.9, 0.7], "c": [3.0, 2.0, 1.0, 0.5, 0.25]}


def make_runs(params: dict | None = None, metrics: dict | None = None) -> None:
    """Runs a, b, c with `loss` over 5 steps; acc for a and b only; params lr/opt."""
    params = params or {"a": {"lr": 0.1, "opt": "adam"}, "b": {"lr": 0.01, "opt": "sgd"},
                        "c": {"lr": 0.001, "opt": "adam"}}
    metrics = metrics or {name: {"loss": values} for name, values in LOSS.items()}
    if metrics is not None and "acc" not in str(metrics):
        metrics["a"]["acc"] = [0.5, 0.9]
        metrics["b"]["acc"] = [0.4, 0.7]
    for name in sorted(set(params) | set(metrics)):
        with gitexp.start_run(run_name=name, params=params.get(name, {})):
            for key, values in metrics.get(name, {}).items():
                for step, value in enumerate(values):
                    gitexp.log_metric(key, value, step=step)


@pytest.fixture
def db(repo: Path):
    with open_session(repo) as handle:
        yield handle


def collect(messages: list[str]):
    return messages.append


def legend_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------- metric histories

def test_one_metric_one_line_per_run(db) -> None:
    make_runs()
    fig = plots.plot_metrics(db, ["a", "b", "c"], ["loss"])
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert legend_labels(ax) == ["a", "b", "c"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss" and "loss" in ax.get_title()
    assert list(ax.lines[1].get_xdata()) == [0, 1, 2, 3, 4]
    assert list(ax.lines[1].get_ydata()) == LOSS["b"]
    assert ax.get_yscale() == "linear"


def test_several_metrics_one_axes_each(db) -> None:
    make_runs()
    fig = plots.plot_metrics(db, ["a", "b"], ["loss", "acc"])
    assert len(fig.axes) == 2
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "acc"]
    for ax in fig.axes:
        assert len(ax.lines) == 2
        assert legend_labels(ax) == ["a", "b"]
    assert list(fig.axes[1].lines[0].get_ydata()) == [0.5, 0.9]
    # the same run has the same colour in every panel
    assert fig.axes[0].lines[0].get_color() == fig.axes[1].lines[0].get_color()
    assert fig.axes[0].lines[0].get_color() != fig.axes[0].lines[1].get_color()


def test_four_metrics_make_four_axes(db) -> None:
    make_runs(metrics={"a": {"m1": [1.0], "m2": [2.0], "m3": [3.0], "m4": [4.0], "acc": [1.0]}})
    fig = plots.plot_metrics(db, "a", ["m1", "m2", "m3", "m4"])
    assert len(fig.axes) == 4


def test_logy(db) -> None:
    make_runs()
    fig = plots.plot_metrics(db, ["a"], ["loss"], logy=True)
    assert fig.axes[0].get_yscale() == "log"


def test_smoothing_is_a_trailing_moving_average(db) -> None:
    make_runs()
    raw = LOSS["c"]
    fig = plots.plot_metrics(db, ["c"], ["loss"], smooth=3)
    y = fig.axes[0].lines[0].get_ydata()
    expected = [raw[0], (raw[0] + raw[1]) / 2, sum(raw[0:3]) / 3, sum(raw[1:4]) / 3, sum(raw[2:5]) / 3]
    assert np.allclose(y, expected)
    assert "moving average of 3" in fig.axes[0].get_title()
    assert list(plots.plot_metrics(db, ["c"], ["loss"], smooth=1).axes[0].lines[0].get_ydata()) == raw


def test_moving_average_edges() -> None:
    assert list(plots.moving_average([], 5)) == []
    assert list(plots.moving_average([2.0, 4.0], 10)) == [2.0, 3.0]
    assert list(plots.moving_average([1.0, 2.0, 3.0], 1)) == [1.0, 2.0, 3.0]


def test_bad_smoothing_and_x_mode(db) -> None:
    make_runs()
    with pytest.raises(GitexpError, match="whole number"):
        plots.plot_metrics(db, ["a"], ["loss"], smooth=0)
    with pytest.raises(GitexpError, match="unknown x axis"):
        plots.plot_metrics(db, ["a"], ["loss"], x="epoch")


def test_x_elapsed_and_time(db) -> None:
    # a run whose points have known timestamps: 0.5 s, 2 s and 10 s after its start
    with gitexp.start_run(run_name="v") as run:
        start = ms_from_iso(run.info.start_time)
        for step, offset in enumerate([500, 2000, 10000]):
            gitexp.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=start + offset)
    fig = plots.plot_metrics(db, ["v"], ["loss"], x="elapsed")
    ax = fig.axes[0]
    assert np.allclose(ax.lines[0].get_xdata(), [0.5, 2.0, 10.0])
    assert ax.get_xlabel() == "elapsed time (s)"

    fig = plots.plot_metrics(db, ["v"], ["loss"], x="time")
    ax = fig.axes[0]
    xs = ax.lines[0].get_xdata()
    assert np.issubdtype(np.asarray(xs).dtype, np.datetime64)
    assert int(np.asarray(xs)[0].astype("datetime64[ms]").astype("int64")) == start + 500
    assert ax.get_xlabel() == "time (UTC)"
    fig.savefig(Path("time.png"))  # date axes render


def test_nan_and_inf_points_are_skipped(db) -> None:
    make_runs(metrics={"a": {"loss": [1.0, math.nan, 0.5, math.inf, -math.inf, 0.25], "acc": [1.0]}})
    messages: list[str] = []
    fig = plots.plot_metrics(db, ["a"], ["loss"], smooth=2, warn=collect(messages))
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [0, 2, 5]
    assert np.allclose(line.get_ydata(), [1.0, 0.75, 0.375])
    assert any("3 NaN or infinite points" in m for m in messages)
    plots.save_figure(fig, "nan.png")


def test_run_without_the_metric_is_skipped_with_a_warning(db) -> None:
    make_runs()
    messages: list[str] = []
    fig = plots.plot_metrics(db, ["a", "b", "c"], ["acc"], warn=collect(messages))
    assert len(fig.axes[0].lines) == 2
    assert legend_labels(fig.axes[0]) == ["a", "b"]
    assert messages == ["run c has no metric 'acc': left out of that plot (its metrics: loss)"]


def test_warning_goes_to_python_warnings_by_default(db) -> None:
    make_runs()
    with pytest.warns(plots.PlotWarning, match="run c has no metric"):
        plots.plot_metrics(db, ["a", "c"], ["acc"])


def test_metric_nobody_has_is_an_error_naming_runs_and_metrics(db) -> None:
    make_runs()
    with pytest.raises(GitexpError) as one:
        plots.plot_metrics(db, ["a"], ["los"])
    assert one.value.message == "run a has no metric 'los'"
    assert "did you mean 'loss'" in one.value.hint and "acc, loss" in one.value.hint
    with pytest.raises(GitexpError) as many:
        plots.plot_metrics(db, ["a", "c"], ["nope"])
    assert "none of the 2 runs has metric 'nope'" in many.value.message
    assert "a: acc, loss" in many.value.hint and "c: loss" in many.value.hint


def test_duplicate_runs_are_drawn_once(db) -> None:
    make_runs()
    run_id = get_run(db, "a").id
    fig = plots.plot_metrics(db, ["a", run_id, run_id[:14]], ["loss"])
    assert len(fig.axes[0].lines) == 1


def test_without_runs_the_filter_selects_runs_with_the_metric(db) -> None:
    make_runs()
    fig = plots.plot_metrics(db, None, ["acc"])
    assert legend_labels(fig.axes[0]) == ["a", "b"]  # c has no acc; oldest first
    fig = plots.plot_metrics(db, [], ["loss"], filter_string="params.lr < 0.05")
    assert legend_labels(fig.axes[0]) == ["b", "c"]
    with pytest.raises(GitexpError, match="no runs match"):
        plots.plot_metrics(db, [], ["loss"], filter_string="params.lr > 5")
    with pytest.raises(GitexpError, match="either runs or a filter"):
        plots.plot_metrics(db, ["a"], ["loss"], filter_string="params.lr > 5")


def test_running_run_shows_its_journal_points(db) -> None:
    with gitexp.start_run(run_name="live"):
        for step in range(4):
            gitexp.log_metric("loss", float(step), step=step)
        gitexp.flush()
        fig = plots.plot_metrics(db, ["live"], ["loss"])
        assert list(fig.axes[0].lines[0].get_ydata()) == [0.0, 1.0, 2.0, 3.0]


# ---------------------------------------------------------------------------- scatter

def test_scatter_one_point_per_run_having_both_values(db) -> None:
    make_runs(params={"a": {"lr": 0.1}, "b": {"lr": 0.01}, "c": {"lr": 0.001}, "d": {}})
    messages: list[str] = []
    fig = plots.plot_scatter(db, "params.lr", "metrics.acc", warn=collect(messages))
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == 2  # c lacks acc, d lacks lr
    assert sorted(map(tuple, np.asarray(offsets).tolist())) == [(0.01, 0.7), (0.1, 0.9)]
    assert ax.get_xlabel() == "params.lr" and ax.get_ylabel() == "metrics.acc"
    assert "2 runs" in ax.get_title()
    assert messages and "c, d" in messages[0]
    assert {t.get_text() for t in ax.texts} == {"a", "b"}


def test_scatter_log_axes_and_categories(db) -> None:
    make_runs()
    fig = plots.plot_scatter(db, "params.lr", "metrics.loss", logx=True, logy=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.collections[0].get_offsets()) == 3
    fig = plots.plot_scatter(db, "params.opt", "metrics.loss")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["adam", "sgd"]
    assert sorted(np.asarray(ax.collections[0].get_offsets())[:, 0].tolist()) == [0.0, 0.0, 1.0]
    with pytest.raises(GitexpError, match="cannot have a log axis"):
        plots.plot_scatter(db, "params.opt", "metrics.loss", logx=True)


def test_scatter_errors(db) -> None:
    make_runs()
    with pytest.raises(GitexpError, match="has a value for params.lrr") as err:
        plots.plot_scatter(db, "params.lrr", "metrics.acc")
    assert "did you mean 'lr'" in err.value.hint
    with pytest.raises(GitexpError, match="bad key"):
        plots.plot_scatter(db, "lr", "metrics.acc")
    with pytest.raises(GitexpError, match="bad key"):
        plots.plot_scatter(db, "params.lr:desc", "metrics.acc")
    with pytest.raises(GitexpError, match="no runs match"):
        plots.plot_scatter(db, "params.lr", "metrics.acc", filter_string="params.lr > 1")
    assert plots.parse_key("duration").kind == "attributes"


# ---------------------------------------------------------------------------- parallel coordinates

def test_parallel_lines_colorbar_and_scaling(db) -> None:
    make_runs()
    fig = plots.plot_parallel(db, ["params.lr", "params.opt", "metrics.loss"], color="metrics.loss")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the plot and its colorbar
    assert fig.axes[1].get_ylabel() == "metrics.loss"
    assert len(ax.lines) == 3
    assert {line.get_label() for line in ax.lines} == {"a", "b", "c"}
    for line in ax.lines:
        ys = line.get_ydata()
        assert list(line.get_xdata()) == [0, 1, 2]
        assert all(0.0 <= y <= 1.0 for y in ys)
    by_name = {line.get_label(): list(line.get_ydata()) for line in ax.lines}
    assert by_name["a"][0] == 1.0 and by_name["c"][0] == 0.0  # lr: max on top, min at the bottom
    assert by_name["a"][1] == 0.0 and by_name["b"][1] == 1.0  # opt: adam, sgd evenly spaced
    assert [t.get_text() for t in ax.get_xticklabels()] == ["params.lr", "params.opt", "metrics.loss"]
    texts = {t.get_text() for t in ax.texts}
    assert {"0.1", "0.001", "adam", "sgd", "0.7", "0.25"} <= texts  # real min/max and categories
    assert len({line.get_color() for line in ax.lines}) == 3


def test_parallel_without_color_and_with_categorical_color(db) -> None:
    make_runs()
    fig = plots.plot_parallel(db, ["params.lr", "metrics.loss"])
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3
    fig = plots.plot_parallel(db, ["params.lr", "metrics.loss"], color="params.opt")
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["adam", "sgd"]


def test_parallel_skips_runs_and_greys_missing_colour(db) -> None:
    make_runs()
    messages: list[str] = []
    fig = plots.plot_parallel(db, ["params.lr", "metrics.loss"], color="metrics.acc", warn=collect(messages))
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    grey = [line.get_label() for line in ax.lines if line.get_color() == "#bbbbbb"]
    assert grey == ["c"]
    assert any("without metrics.acc drawn grey" in m for m in messages)
    fig = plots.plot_parallel(db, ["params.lr", "metrics.acc"], warn=collect(messages))
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(GitexpError, match="at least two keys"):
        plots.plot_parallel(db, ["params.lr"])


# ---------------------------------------------------------------------------- files

@pytest.mark.parametrize("ext, check", sampled([
    ("png", lambda b: b.startswith(b"\x89PNG")),
    ("svg", lambda b: b.startswith(b"<?xml") or b"<svg" in b),
    ("pdf", lambda b: b.startswith(b"%PDF")),
], every=3))
def test_file_formats(db, tmp_path: Path, ext: str, check) -> None:
    make_runs()
    fig = plots.plot_metrics(db, ["a", "b"], ["loss"])
    path = plots.save_figure(fig, tmp_path / f"out.{ext.upper() if ext == 'pdf' else ext}")
    assert check(path.read_bytes())


def test_bad_extension_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(GitexpError, match="image format") as err:
        plots.check_format(tmp_path / "plot.jpg")
    assert ".png, .svg or .pdf" in err.value.hint
    with pytest.raises(GitexpError, match="no extension"):
        plots.check_format(tmp_path / "plot")
    with pytest.raises(GitexpError, match="does not exist"):
        plots.check_format(tmp_path / "nope" / "plot.png")


def test_default_file_is_never_overwritten(db, tmp_path: Path) -> None:
    make_runs()
    fig = plots.plot_metrics(db, ["a"], ["loss"])
    first = plots.save_figure(fig, default="gitexp-plot-loss.png", folder=tmp_path)
    second = plots.save_figure(fig, default="gitexp-plot-loss.png", folder=tmp_path)
    assert (first.name, second.name) == ("gitexp-plot-loss.png", "gitexp-plot-loss-1.png")
    assert plots.default_name("train/loss", "acc") == "gitexp-plot-train-loss-acc.png"


# ---------------------------------------------------------------------------- CLI

def one_error_line(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and all(line.startswith(("Error:", "hint:")) for line in lines), lines
    return errors[0]


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_cli_default_output_name_and_no_overwrite(repo: Path, runner) -> None:
    make_runs()
    plots = ".git/gitexp/plots/"  # outside the working tree: later runs are not dirty with them
    first = invoke(runner, "plot", "a", "b", "-m", "loss")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == plots + "gitexp-plot-loss.png"
    assert (repo / plots / "gitexp-plot-loss.png").read_bytes().startswith(b"\x89PNG")
    second = invoke(runner, "plot", "a", "-m", "loss")
    assert second.stdout.strip() == plots + "gitexp-plot-loss-1.png"
    assert (repo / plots / "gitexp-plot-loss-1.png").exists()
    both = invoke(runner, "plot", "a", "-m", "loss", "-m", "acc")
    assert both.stdout.strip() == plots + "gitexp-plot-loss-acc.png"
    assert git(repo, "status", "--porcelain") == ""
    with gitexp.start_run(run_name="after-plots") as run:
        pass
    assert gitexp.get_run(run.id).info.dirty is False


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_cli_label_lines_by_a_param(repo: Path, runner) -> None:
    make_runs()
    with open_session(repo) as s:
        fig = plots.plot_metrics(s, ["a", "b"], ["loss"], label="params.lr")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["lr=0.1", "lr=0.01"]
    result = invoke(runner, "plot", "a", "b", "-m", "loss", "--label", "params.lr", "-o", "l.png")
    assert result.exit_code == 0, result.stderr
    bad = invoke(runner, "plot", "--scatter", "params.lr", "metrics.acc", "--label", "params.lr")
    assert bad.exit_code == 2 and "--label is for metric plots" in bad.stderr


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_cli_output_option_and_modes(repo: Path, runner) -> None:
    make_runs()
    out = invoke(runner, "plot", "a", "b", "c", "-m", "loss", "--x", "elapsed", "--smooth", "2", "--logy",
                 "-o", "curves.svg")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.strip() == "curves.svg" and b"<svg" in (repo / "curves.svg").read_bytes()
    scatter = invoke(runner, "plot", "--scatter", "params.lr", "metrics.acc", "--logx", "-o", "s.pdf")
    assert scatter.exit_code == 0, scatter.stderr
    assert "warning: 1 run without a usable value" in scatter.stderr
    assert (repo / "s.pdf").read_bytes().startswith(b"%PDF")
    parallel = invoke(runner, "plot", "--parallel", "params.lr", "params.opt", "metrics.loss",
                      "--color", "metrics.loss")
    assert parallel.exit_code == 0, parallel.stderr
    assert parallel.stdout.strip() == ".git/gitexp/plots/gitexp-plot-parallel-metrics.loss.png"
    skipped = invoke(runner, "plot", "a", "c", "-m", "acc", "-o", "acc.png")
    assert skipped.exit_code == 0 and "warning: run c has no metric 'acc'" in skipped.stderr
    selected = invoke(runner, "plot", "-m", "loss", "-f", "params.opt = 'adam'", "-o", "adam.png")
    assert selected.exit_code == 0, selected.stderr


def test_cli_unknown_metric(repo: Path, runner) -> None:
    make_runs()
    line = one_error_line(invoke(runner, "plot", "a", "-m", "los"))
    assert line == "Error: run a has no metric 'los'"
    assert not list(repo.glob("**/gitexp-plot-*"))


def test_cli_bad_extension_fails_before_reading_runs(repo: Path, runner) -> None:
    make_runs()
    line = one_error_line(invoke(runner, "plot", "a", "-m", "loss", "-o", "plot.jpeg"))
    assert "image format" in line and "'.jpeg'" in line
    assert not (repo / "plot.jpeg").exists()


def test_cli_no_runs_match(repo: Path, runner) -> None:
    make_runs()
    assert "no runs match" in one_error_line(invoke(runner, "plot", "--scatter", "params.lr", "metrics.acc",
                                                    "-f", "params.lr > 10"))
    assert "no runs match" in one_error_line(invoke(runner, "plot", "-m", "loss", "-e", "other"))
    assert "no run matches 'zzzz-nope'" in one_error_line(invoke(runner, "plot", "zzzz-nope", "-m", "loss"))


def test_cli_usage_errors(repo: Path, runner) -> None:
    make_runs()
    usage_error = functools.partial(one_error_line, exit_code=2)  # usage errors exit 2, with a hint
    assert "give a metric with -m" in usage_error(invoke(runner, "plot", "a"))
    assert "needs two keys" in usage_error(invoke(runner, "plot", "--scatter", "params.lr"))
    assert "cannot be combined" in usage_error(invoke(runner, "plot", "--scatter", "--parallel", "a", "b"))
    assert "--smooth cannot be used" in usage_error(
        invoke(runner, "plot", "--scatter", "params.lr", "metrics.acc", "--smooth", "3"))
    assert "--color cannot be used" in usage_error(invoke(runner, "plot", "a", "-m", "loss", "--color", "x"))
    assert "either runs or -e" in usage_error(invoke(runner, "plot", "a", "-m", "loss", "-e", "default"))


def test_help_does_not_import_matplotlib(repo: Path) -> None:
    for args in (["--help"], ["plot", "--help"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitexp", *args],
                              capture_output=True, text=True, cwd=repo)
        assert proc.returncode == 0
        assert "matplotlib" not in proc.stderr


@pytest.mark.slow  # a timing test: meaningful on an idle machine only
def test_ten_runs_of_ten_thousand_steps_plot_fast(db, tmp_path: Path) -> None:
    for n in range(10):
        with gitexp.start_run(run_name=f"big{n}"):
            for step in range(10_000):
                gitexp.log_metric("loss", math.exp(-step / 3000) + n / 10, step=step)
            gitexp.log_metric("other", 1.0, step=0)
    plots.plot_metrics(db, ["big0"], ["loss"])  # warm imports: the bar is about data, not import time
    began = time.perf_counter()
    fig = plots.plot_metrics(db, [f"big{n}" for n in range(10)], ["loss"], smooth=10)
    plots.save_figure(fig, tmp_path / "big.png")
    elapsed = time.perf_counter() - began
    assert len(fig.axes[0].lines) == 10
    xs = fig.axes[0].lines[0].get_xdata()  # min-max decimated: at most 2 points a bucket
    assert len(xs) <= 2 * plots.DECIMATE_BUCKETS + 2 and xs[0] == 0 and xs[-1] == 9_999
    assert elapsed < 3.0, elapsed


def test_min_max_decimation_keeps_every_extreme() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    ys = rng.normal(size=50_000)
    ys[12_345] = 40.0  # a single spike must survive
    xs = np.arange(ys.size, dtype=float)
    dx, dy = plots.min_max_decimate(xs, ys, buckets=500)
    assert len(dx) <= 1002 and np.all(np.diff(dx) > 0)
    assert dy.max() == 40.0 and dy.min() == ys.min() and (dx[0], dx[-1]) == (0, 49_999)
    for lo in range(0, 50_000, 100):  # every 100-point bucket keeps its own min and max
        window = (dx >= lo) & (dx < lo + 100)
        assert dy[window].max() == ys[lo:lo + 100].max() and dy[window].min() == ys[lo:lo + 100].min()
    short = np.arange(100.0)
    assert plots.min_max_decimate(short, short, buckets=500)[1] is short
