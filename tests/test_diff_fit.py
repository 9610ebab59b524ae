"""Issue 9, items 3 and 7: `diff` and `compare` fit 80 columns (wrapped, never cut); `diff --json`
tells binary files and counts lines without --code; duration noise is not a difference."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitexp.render.fit import fit_table
from gitexp.render.tables import Styled, Table, render_text
from gitexp.services.compare import same_duration
from tests.helpers import invoke
from tests.test_compare import code_runs, make_run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG = "a-rather-long-value-" * 4


def _text(monkeypatch: pytest.MonkeyPatch, *args: str) -> list[str]:
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_diff_fits_80_columns_and_keeps_every_character(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run("baseline-with-a-long-name", {"note": LONG + "x", "lr": 0.1}, {"val/accuracy": [0.5, 0.61]})
    make_run("candidate-with-a-long-name", {"note": LONG + "y", "lr": 0.2}, {"val/accuracy": [0.5, 0.72]})
    lines = _text(monkeypatch, "diff", "baseline-with-a-long-name", "candidate-with-a-long-name")
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    text = "\n".join(lines)
    assert "…" not in text  # wrapped, never cut
    assert re.search(r"value-x\s+.*value-y", text) and "val/accura" in text


def test_compare_of_many_runs_continues_in_a_second_table(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"run-number-{i}-of-the-sweep" for i in range(6)]
    for i, name in enumerate(names):
        make_run(name, {"lr": i / 10}, {"acc": [i / 10]})
    lines = _text(monkeypatch, "compare", *names)
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert sum(1 for line in lines if line.startswith("key ")) >= 2  # the key column is repeated
    for name in names:
        assert any(name[:10] in line for line in lines)


def test_fit_wraps_styled_cells_line_by_line() -> None:
    table = Table("", ["key", "a", "b"], [["k", Styled("x" * 50, {"fg": "yellow"}), "y" * 50]])
    [fitted] = fit_table(table, 60)
    text = render_text([fitted])  # ANSI colours
    assert max(len(ANSI.sub("", line)) for line in text.splitlines()) <= 60
    coloured = [line for line in text.splitlines() if "x" in line]
    assert len(coloured) >= 2 and all(line.count("\x1b[33m") == line.count("\x1b[0m") == 1 for line in coloured)


def test_diff_json_flags_binary_files_and_counts_lines_without_code(repo: Path) -> None:
    code_runs(repo)
    result = invoke(CliRunner(), "diff", "run-a", "run-b", "--json")
    files = {f["path"]: f for f in json.loads(result.stdout)["code"]["files"]}
    assert files["blob.bin"]["binary"] is True and files["blob.bin"]["added_lines"] is None
    assert files["train.py"]["binary"] is False
    assert (files["train.py"]["added_lines"], files["train.py"]["removed_lines"]) == (1, 0)
    assert (files["old.py"]["added_lines"], files["old.py"]["removed_lines"]) == (0, 1)
    assert "text" not in files["train.py"]
    out = invoke(CliRunner(), "diff", "run-a", "run-b").stdout
    assert re.search(r"train\.py\s+modified\s+\+1 -0", out)


def test_duration_noise_is_not_a_difference(repo: Path) -> None:
    make_run("quick-a", {"lr": 0.1})
    make_run("quick-b", {"lr": 0.1})
    data = json.loads(invoke(CliRunner(), "diff", "quick-a", "quick-b", "--json").stdout)
    assert "duration" not in {d["key"] for d in data["info"]}
    assert data["identical"] is True
    everything = json.loads(invoke(CliRunner(), "diff", "quick-a", "quick-b", "--all", "--json").stdout)
    assert {d["key"]: d["change"] for d in everything["info"]}["duration"] == "unchanged"
    assert same_duration(10.0, 12.0) and same_duration(0.01, 0.9)
    assert not same_duration(10.0, 20.0) and not same_duration(1.0, 3.5) and not same_duration(None, 1.0)
