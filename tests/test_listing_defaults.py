"""Issue 9, items 3 and 4: `gitexp ls` shows what was swept, and says why nothing matched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import gitexp
from tests.helpers import git, invoke


def _sweep(names: bool = True) -> None:
    """Five runs: train.lr differs in every run, train.bs in one, the rest is the same."""
    for i, (lr, bs) in enumerate([(0.1, 32), (0.2, 32), (0.3, 64), (0.4, 32), (0.5, 32)]):
        with gitexp.start_run(run_name=f"sweep-run-number-{i}" if names else None):
            gitexp.log_params({"train": {"lr": lr, "bs": bs, "epochs": 10, "optimizer": "adam"},
                               "seed": 1, "model": "resnet50"})
            gitexp.log_metric("val/acc", 0.5 + i / 10)
            gitexp.log_metric("train/loss", 1 - i / 10)


def _ls(monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    result = invoke(CliRunner(), "ls", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_swept_param_is_shown_at_80_columns_before_start(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sweep()
    lines = _ls(monkeypatch, 80)
    head = lines[0].split()
    assert "p.train.lr" in head and any(h.startswith("m.") for h in head)
    assert "start" not in head  # start and duration give way before a swept param
    assert all(len(line) <= 80 for line in lines)


def test_a_param_varying_in_every_run_beats_one_that_varied_once(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sweep()
    head = _ls(monkeypatch, 100)[0].split()
    assert head.index("p.train.lr") < head.index("p.train.bs")
    wide = _ls(monkeypatch, 400)[0].split()
    # every column at a wide terminal, in order: attributes, params by spread, metrics by presence
    assert wide[:5] == ["id", "name", "status", "start", "duration"]
    assert wide[5:7] == ["p.train.lr", "p.train.bs"]
    assert {"p.seed", "p.model", "m.val/acc", "m.train/loss"} <= set(wide)


def test_headers_tell_params_from_metrics(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with gitexp.start_run():
        gitexp.log_param("acc", "target")
        gitexp.log_metric("acc", 0.9)
    head = _ls(monkeypatch, 200, "-c", "name,params.acc,metrics.acc,tags.acc")[0].split()
    assert head == ["name", "p.acc", "m.acc", "t.acc"]


def test_a_filter_on_a_key_no_run_has_says_so_and_suggests(repo: Path) -> None:
    _sweep(names=False)
    result = invoke(CliRunner(), "ls", "-f", "metrics.val_acc > 0.5")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No run in experiment 'default' has metrics.val_acc. hint: did you mean metrics.val/acc?" \
        in result.stderr


def test_a_key_without_prefix_suggests_the_prefixed_key(repo: Path) -> None:
    _sweep(names=False)
    result = invoke(CliRunner(), "ls", "-f", "val/acc > 0.5")
    assert result.exit_code == 2
    assert "hint: did you mean metrics.val/acc?" in result.stderr


def test_a_sort_key_no_listed_run_has_is_warned(repo: Path) -> None:
    _sweep(names=False)
    result = invoke(CliRunner(), "ls", "-s", "metrics.loss")
    assert result.exit_code == 0
    assert "warning: no run listed has metrics.loss, so it does not order them; " \
           "did you mean metrics.train/loss?" in result.stderr


def test_runs_in_other_experiments_are_mentioned(repo: Path) -> None:
    with gitexp.start_run(experiment="mnist"):
        gitexp.log_metric("acc", 0.9)
    with gitexp.start_run(experiment="cifar"):
        gitexp.log_metric("acc", 0.4)
    result = invoke(CliRunner(), "ls")
    assert "hint: 2 runs in other experiments: gitexp ls --all" in result.stderr
    result = invoke(CliRunner(), "ls", "-f", "metrics.acc > 0.5")
    assert "hint: 1 run matches in other experiments: gitexp ls --all -f 'metrics.acc > 0.5'" in result.stderr


def test_a_clone_without_runs_says_how_to_fetch_them(repo: Path, tmp_path: Path, monkeypatch) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    monkeypatch.chdir(clone)
    result = invoke(CliRunner(), "ls")
    assert "git fetch origin 'refs/gitexp/*:refs/gitexp/*'" in result.stderr
