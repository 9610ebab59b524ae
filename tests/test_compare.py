"""`gitexp diff` and `gitexp compare`: the service objects and every output format."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest

import gitexp
from gitexp.services.compare import change, compare_runs, diff_runs, flatten, same
from gitexp.services.catalog.query import short_ids
from gitexp.services.session import open_session
from tests.helpers import _Main, git, invoke

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make_run(name: str, params: dict | None = None, metrics: dict | None = None, tags: dict | None = None,
             artifacts: dict | None = None, status: str | None = None) -> str:
    """One finished run; `metrics` maps a key to its list of values (steps 0, 1, …)."""
    with gitexp.start_run(run_name=name, params=params or {}) as run:
        for key, values in (metrics or {}).items():
            for step, value in enumerate(values):
                gitexp.log_metric(key, value, step=step)
        for key, value in (tags or {}).items():
            gitexp.set_tag(key, value)
        for path, text in (artifacts or {}).items():
            gitexp.log_text(text, path)
        if status:
            gitexp.end_run(status)
        return run.id


def run_commit(repo: Path, run_id: str) -> str:
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/gitexp/runs/")
    return next(line.split()[0] for line in refs.splitlines() if line.endswith("/" + run_id))


def diff_json(runner, *args: str) -> dict:
    result = invoke(runner, "diff", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_key(items: list[dict]) -> dict[str, dict]:
    return {i.get("key", i.get("path")): i for i in items}


PARAMS_A = {"lr": 0.01, "epochs": 10, "model": {"depth": 3, "act": "relu", "sizes": [64, 32]}, "seed": 1}
PARAMS_B = {"lr": 0.1, "epochs": 10, "model": {"depth": 4, "act": "relu", "sizes": [64, 32], "dropout": 0.5},
            "seed": 1, "batch": 32}
PARAMS_B.pop("seed")


# -- value helpers -----------------------------------------------------------------------------------

def test_change_absolute_and_relative() -> None:
    assert change(2.0, 3.0) == (1.0, 0.5)
    assert change(-2.0, -3.0) == (-1.0, -0.5)  # relative to |a|
    assert change(0.0, 1.0) == (1.0, None)  # a == 0: no relative change
    assert change(math.nan, 1.0) == (None, None)
    assert change(1.0, math.nan) == (None, None)
    assert change(None, 1.0) == (None, None)
    assert change(3, 3) == (0.0, 0.0)


def test_same_is_type_strict_and_nan_aware() -> None:
    assert same(math.nan, math.nan)
    assert not same(1, 1.0) and not same(1, True)
    assert same([1, {"a": 2}], [1, {"a": 2}]) and not same([1], [1.0])


def test_flatten_uses_dotted_paths() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": []}, "e": {}}) == {"a.b.c": 1, "a.d": [], "e": {}}


# -- diff: params, metrics, tags, artifacts ----------------------------------------------------------

def test_diff_params_added_removed_changed_nested(repo: Path, runner) -> None:
    make_run("run-a", PARAMS_A)
    make_run("run-b", PARAMS_B)
    params = by_key(diff_json(runner, "run-a", "run-b")["params"])
    assert params == {
        "lr": {"key": "lr", "change": "changed", "a": 0.01, "b": 0.1},
        "model.depth": {"key": "model.depth", "change": "changed", "a": 3, "b": 4},
        "model.dropout": {"key": "model.dropout", "change": "added", "a": None, "b": 0.5},
        "batch": {"key": "batch", "change": "added", "a": None, "b": 32},
        "seed": {"key": "seed", "change": "removed", "a": 1, "b": None},
    }
    out = invoke(runner, "diff", "run-a", "run-b").stdout
    assert re.search(r"model\.depth\s+changed\s+3\s+4", out)
    assert re.search(r"seed\s+removed\s+1\s+-", out)
    assert "epochs" not in out and "model.act" not in out  # unchanged: hidden by default


def test_diff_param_type_change_counts(repo: Path) -> None:
    make_run("run-a", {"n": 1, "flag": True})
    make_run("run-b", {"n": 1.0, "flag": 1})
    with open_session(repo) as db:
        d = diff_runs(db, "run-a", "run-b")
    assert {p.key for p in d.params} == {"n", "flag"}


def test_diff_metrics_absolute_and_relative_change(repo: Path, runner) -> None:
    make_run("run-a", metrics={"acc": [0.5, 0.8], "loss": [1.0, 0.5], "zero": [0.0], "same": [1.0, 2.0],
                               "old": [1.0]})
    make_run("run-b", metrics={"acc": [0.6, 0.9, 0.88], "loss": [1.0, 0.25], "zero": [2.0], "same": [1.0, 2.0],
                               "new": [3.0]})
    data = diff_json(runner, "run-a", "run-b")
    metrics = by_key(data["metrics"])
    assert set(metrics) == {"acc", "loss", "zero", "old", "new"}  # "same" is unchanged
    acc = metrics["acc"]
    assert acc["change"] == "changed"
    assert acc["a"] == {"last": 0.8, "step": 1, "min": 0.5, "max": 0.8, "count": 2}
    assert acc["b"]["last"] == 0.88 and acc["b"]["count"] == 3
    assert acc["delta"]["last"]["abs"] == pytest.approx(0.08)
    assert acc["delta"]["last"]["rel"] == pytest.approx(0.1)
    assert acc["delta"]["min"]["abs"] == pytest.approx(0.1)
    assert acc["delta"]["max"]["rel"] == pytest.approx(0.125)
    assert metrics["loss"]["delta"]["last"] == {"abs": -0.25, "rel": -0.5}
    assert metrics["zero"]["delta"]["last"] == {"abs": 2.0, "rel": None}  # relative to 0: n/a
    assert metrics["new"]["change"] == "added" and metrics["new"]["a"] is None
    assert metrics["old"]["change"] == "removed" and metrics["old"]["b"] is None
    assert metrics["new"]["delta"]["last"] == {"abs": None, "rel": None}

    out = invoke(runner, "diff", "run-a", "run-b").stdout
    assert re.search(r"loss\s+changed\s+last\s+0\.5\s+0\.25\s+-0\.25\s+-50%", out)
    assert re.search(r"zero\s+changed\s+last\s+0\s+2\s+\+2\s+n/a", out)
    assert re.search(r"acc\s+changed\s+last\s+0\.8 @1\s+0\.88 @2\s+\+0\.08\s+\+10%", out)
    assert re.search(r"new\s+added\s+last\s+-\s+3\s+n/a\s+n/a", out)
    assert not re.search(r"^\s*same\s", out, re.M)


def test_diff_metrics_tell_close_values_apart(repo: Path, runner) -> None:
    make_run("run-a", metrics={"acc": [0.912345]})
    make_run("run-b", metrics={"acc": [0.912349]})
    out = invoke(runner, "diff", "run-a", "run-b").stdout
    a, b = re.search(r"acc\s+changed\s+last\s+(\S+)\s+(\S+)", out).groups()
    assert a != b and a.startswith("0.9123") and b.startswith("0.9123")  # 4 digits would show 0.9123 twice


def test_diff_tags(repo: Path, runner) -> None:
    make_run("run-a", tags={"team": "vision", "stage": "dev", "gone": "x"})
    make_run("run-b", tags={"team": "vision", "stage": "prod", "new": "y"})
    tags = by_key(diff_json(runner, "run-a", "run-b")["tags"])
    assert tags == {
        "stage": {"key": "stage", "change": "changed", "a": "dev", "b": "prod"},
        "gone": {"key": "gone", "change": "removed", "a": "x", "b": None},
        "new": {"key": "new", "change": "added", "a": None, "b": "y"},
    }


def test_diff_artifacts_by_hash(repo: Path, runner) -> None:
    make_run("run-a", artifacts={"same.txt": "hello", "model.txt": "weights v1", "old.txt": "bye"})
    make_run("run-b", artifacts={"same.txt": "hello", "model.txt": "weights v2", "new.txt": "hi"})
    arts = by_key(diff_json(runner, "run-a", "run-b")["artifacts"])
    assert {p: a["change"] for p, a in arts.items()} == {"model.txt": "changed", "old.txt": "removed",
                                                          "new.txt": "added"}
    model = arts["model.txt"]
    assert model["a"]["sha256"] != model["b"]["sha256"] and len(model["a"]["sha256"]) == 64
    assert model["a"]["size"] == len("weights v1")
    assert arts["new.txt"]["a"] is None and arts["old.txt"]["b"] is None
    out = invoke(runner, "diff", "run-a", "run-b").stdout
    assert re.search(r"model\.txt\s+changed\s+" + model["a"]["sha256"][:12], out)
    assert "same.txt" not in out


# -- diff: code and run info ----------------------------------------------------------------------------

def code_runs(repo: Path) -> None:
    (repo / "util.py").write_text("def f():\n    return 1\n")
    (repo / "old.py").write_text("x = 1\n")
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02")
    make_run("run-a")
    (repo / "train.py").write_text("print('training')\nprint('more')\n")
    (repo / "old.py").unlink()
    (repo / "new.py").write_text("y = 2\n")
    (repo / "blob.bin").write_bytes(b"\x00\x01\x03")
    make_run("run-b")


def test_diff_code_files(repo: Path, runner) -> None:
    code_runs(repo)
    data = diff_json(runner, "run-a", "run-b")
    files = {f["path"]: f for f in data["code"]["files"]}
    assert {p: f["change"] for p, f in files.items()} == {
        "train.py": "modified", "old.py": "removed", "new.py": "added", "blob.bin": "modified"}
    assert not any(p.startswith(".gitexp") for p in files)  # the record is not code
    assert data["code"]["unchanged"] == 1  # util.py
    assert "text" not in files["train.py"]  # only with --code
    out = invoke(runner, "diff", "run-a", "run-b").stdout
    assert re.search(r"train\.py\s+modified", out) and re.search(r"new\.py\s+added", out)
    assert "util.py" not in out and "+print('more')" not in out


def test_diff_code_text_is_a_unified_diff(repo: Path, runner) -> None:
    code_runs(repo)
    result = invoke(runner, "diff", "run-a", "run-b", "--code")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in ("--- a/train.py", "+++ b/train.py", "+print('more')", " print('training')",
                     "--- a/old.py", "+++ /dev/null", "-x = 1", "--- /dev/null", "+++ b/new.py", "+y = 2"):
        assert expected in lines, expected
    assert any(line.startswith("@@ -1 +1,2 @@") for line in lines)
    assert "Binary files a/blob.bin and b/blob.bin differ" in lines
    assert re.search(r"blob\.bin\s+modified\s+binary files differ", result.stdout)
    assert re.search(r"train\.py\s+modified\s+\+1 -0", result.stdout)
    files = {f["path"]: f for f in diff_json(runner, "run-a", "run-b", "--code")["code"]["files"]}
    assert files["train.py"]["added_lines"] == 1 and files["train.py"]["removed_lines"] == 0
    assert "+print('more')" in files["train.py"]["text"].splitlines()
    assert files["blob.bin"]["binary"] is True


def test_diff_code_agrees_with_git(repo: Path, runner) -> None:
    code_runs(repo)
    with open_session(repo) as db:
        d = diff_runs(db, "run-a", "run-b")
        a, b = d.a.commit, d.b.commit
    names = git(repo, "diff", "--name-status", a, b, "--", ".", ":(exclude).gitexp").split("\n")
    expected = {line.split("\t")[1]: line.split("\t")[0] for line in names if line}
    letters = {"added": "A", "removed": "D", "modified": "M"}
    assert {f.path: letters[f.change] for f in d.code} == expected


def test_diff_run_info(repo: Path, runner) -> None:
    make_run("run-a")
    (repo / "train.py").write_text("print('changed')\n")  # the next run is made from a dirty tree
    make_run("run-b", status="FAILED")
    info = by_key(diff_json(runner, "run-a", "run-b")["info"])
    assert info["status"] == {"key": "status", "change": "changed", "a": "FINISHED", "b": "FAILED"}
    assert info["dirty"] == {"key": "dirty", "change": "changed", "a": False, "b": True}
    assert "baseline" not in info and "experiment" not in info  # same baseline, same experiment
    assert set(info) <= {"status", "dirty", "duration", "command", "exit_code"}
    out = invoke(runner, "diff", "run-a", "run-b").stdout
    assert re.search(r"status\s+changed\s+FINISHED\s+FAILED", out)


def test_diff_all_shows_unchanged(repo: Path, runner) -> None:
    make_run("run-a", {"lr": 0.1, "epochs": 5}, metrics={"acc": [0.5]}, tags={"t": "x"},
             artifacts={"a.txt": "same"})
    make_run("run-b", {"lr": 0.2, "epochs": 5}, metrics={"acc": [0.5]}, tags={"t": "x"},
             artifacts={"a.txt": "same"})
    data = diff_json(runner, "run-a", "run-b", "--all")
    params = by_key(data["params"])
    assert params["epochs"]["change"] == "unchanged" and params["lr"]["change"] == "changed"
    assert by_key(data["metrics"])["acc"]["change"] == "unchanged"
    assert by_key(data["tags"])["t"]["change"] == "unchanged"
    assert by_key(data["artifacts"])["a.txt"]["change"] == "unchanged"
    assert by_key(data["info"])["experiment"]["change"] == "unchanged"
    out = invoke(runner, "diff", "run-a", "run-b", "--all").stdout
    assert re.search(r"epochs\s+unchanged\s+5\s+5", out)
    for stat in ("last", "min", "max"):
        assert re.search(rf"\s{stat}\s+0\.5\s+0\.5\s+\+0\s+\+0%", out), stat
    assert "identical (" in out  # code: nothing changed, count shown
    plain = invoke(runner, "diff", "run-a", "run-b").stdout
    assert "epochs" not in plain and "acc" not in plain


def test_diff_identical_runs(repo: Path, runner) -> None:
    make_run("run-a", {"lr": 0.1})
    make_run("run-b", {"lr": 0.1})
    data = diff_json(runner, "run-a", "run-b")
    assert data["identical"] is True and data["params"] == [] and data["code"]["files"] == []
    assert "params, metrics, tags, artifacts and code are identical" in invoke(runner, "diff", "run-a", "run-b").stdout


def test_diff_markdown_tables(repo: Path, runner) -> None:
    code_runs(repo)
    make_run("run-c", {"lr": 0.1, "note": "a|b"}, metrics={"acc": [0.5]})
    result = invoke(runner, "diff", "run-a", "run-c", "--md", "--code")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    assert "\x1b[" not in md
    assert md.startswith("### gitexp diff: `run-a` → `run-c`")
    assert "| param | change | run-a | run-c |\n|---|---|---|---|\n" in md
    assert "| lr | added | - | 0.1 |" in md
    assert "| note | added | - | a\\|b |" in md  # a pipe inside a cell is escaped
    assert "| metric | change | stat | run-a | run-c | abs change | rel change |" in md
    assert "| acc | added | last | - | 0.5 | n/a | n/a |" in md
    # every table row has the same number of cells as its header
    for block in re.findall(r"(?:^\|.*\|\n)+", md, re.M):
        rows = block.strip("\n").split("\n")
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, block
        assert re.fullmatch(r"\|(---\|)+", rows[1])
    assert "<details><summary>train.py</summary>" in md and "```diff\n--- a/train.py" in md


def test_diff_json_shape(repo: Path, runner) -> None:
    code_runs(repo)
    data = diff_json(runner, "run-a", "run-b")
    assert set(data) == {"a", "b", "identical", "info", "params", "metrics", "tags", "artifacts", "code"}
    for side in ("a", "b"):
        assert set(data[side]) == {"id", "name", "experiment", "ref", "commit"}
    assert data["a"]["name"] == "run-a" and data["b"]["name"] == "run-b"
    assert len(data["a"]["commit"]) == 40 and data["a"]["ref"].startswith("refs/gitexp/runs/default/")
    assert set(data["code"]) == {"files", "unchanged"}
    f = data["code"]["files"][0]
    assert {"path", "change", "binary", "old_mode", "new_mode"} <= set(f)


# -- diff: references -----------------------------------------------------------------------------------

def test_diff_accepts_ids_prefixes_and_branches(repo: Path, runner) -> None:
    a = make_run("run-a", {"lr": 0.01})
    b = make_run("run-b", {"lr": 0.02})
    git(repo, "branch", "from-run-b", run_commit(repo, b))
    prefix = short_ids([a, b])[a]
    for args in ((a, b), (prefix, "from-run-b"), ("run-a", "refs/heads/from-run-b")):
        data = diff_json(runner, *args)
        assert data["a"]["id"] == a and data["b"]["id"] == b, args
        assert by_key(data["params"])["lr"]["b"] == 0.02
    assert diff_json(runner, "run-a", "from-run-b")["b"]["ref"].endswith("/" + b)


def test_git_diff_agrees_on_changed_params(repo: Path, runner) -> None:
    a = make_run("run-a", PARAMS_A)
    b = make_run("run-b", PARAMS_B)
    ca, cb = run_commit(repo, a), run_commit(repo, b)
    patch = git(repo, "diff", "--unified=0", ca, cb, "--", ".gitexp/params.yaml")
    git_keys = {m.group(1) for line in patch.splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
                for m in [re.match(r"[+-]\s*([A-Za-z0-9_]+):", line)] if m}
    ours = {p["key"] for p in diff_json(runner, "run-a", "run-b")["params"]}
    assert git_keys  # git saw changes
    assert git_keys == {k.rsplit(".", 1)[-1] for k in ours}
    assert {"lr", "depth", "dropout", "batch", "seed"} == git_keys


# -- a running run ---------------------------------------------------------------------------------------

def test_diff_against_a_running_run_sees_unflushed_data(repo: Path, runner) -> None:
    make_run("run-a", {"lr": 0.1}, metrics={"acc": [0.5]})
    with gitexp.start_run(run_name="live", params={"lr": 0.1}):
        gitexp.log_metric("acc", 0.7)
        gitexp.flush()
        data = diff_json(runner, "run-a", "live")
        assert by_key(data["info"])["status"]["b"] == "RUNNING"
        assert by_key(data["metrics"])["acc"]["b"]["last"] == 0.7


# -- compare ------------------------------------------------------------------------------------------------

def three_runs() -> list[str]:
    return [
        make_run("r-one", {"lr": 0.01, "epochs": 10, "opt": {"name": "adam"}}, metrics={"acc": [0.8], "loss": [0.4]}),
        make_run("r-two", {"lr": 0.02, "epochs": 10, "opt": {"name": "adam"}}, metrics={"acc": [0.85], "loss": [0.4]}),
        make_run("r-three", {"lr": 0.02, "epochs": 10, "opt": {"name": "sgd"}, "extra": 1},
                 metrics={"acc": [0.9], "loss": [0.4]}),
    ]


def test_compare_service(repo: Path) -> None:
    ids = three_runs()
    with open_session(repo) as db:
        cmp = compare_runs(db, ["r-one", "r-two", "r-three"])
    assert [r.id for r in cmp.runs] == ids
    rows = {r.label: r for r in cmp.rows}
    assert [r.section for r in cmp.rows][:2] == ["info", "info"]
    assert list(rows)[2:] == ["params.epochs", "params.extra", "params.lr", "params.opt.name",
                              "metrics.acc", "metrics.loss"]
    assert rows["params.lr"].values == [0.01, 0.02, 0.02] and rows["params.lr"].differs
    assert not rows["params.epochs"].differs and not rows["metrics.loss"].differs
    assert rows["params.extra"].present == [False, False, True] and rows["params.extra"].differs
    assert rows["status"].values == ["FINISHED"] * 3


def test_compare_table(repo: Path, runner) -> None:
    ids = three_runs()
    result = invoke(runner, "compare", "r-one", "r-two", "r-three")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # CliRunner is not a colour terminal
    assert re.search(r"key\s+r-one\s+r-two\s+r-three", out)
    assert re.search(r"params\.lr\s+0\.01\s+0\.02\s+0\.02", out)
    assert re.search(r"params\.extra\s+-\s+-\s+1", out)
    assert re.search(r"metrics\.acc\s+0\.8\s+0\.85\s+0\.9", out)
    assert re.search(rf"id\s+{ids[0][:8]}", out)
    assert out.index("params.lr") < out.index("metrics.acc")


def test_compare_highlights_differences_on_colour_terminals(repo: Path, runner) -> None:
    three_runs()
    result = runner.invoke(_Main(), ["compare", "r-one", "r-two", "r-three"], color=True)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.stderr
    lines = {ANSI.sub("", line).split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "\x1b[" in lines["params.lr"] and "\x1b[33m" in lines["params.lr"]
    assert "\x1b[" in lines["metrics.acc"]
    assert "\x1b[" not in lines["params.epochs"] and "\x1b[" not in lines["metrics.loss"]
    # colour codes do not break the column alignment
    plain = [ANSI.sub("", line) for line in result.stdout.splitlines()]
    assert plain == invoke(runner, "compare", "r-one", "r-two", "r-three").stdout.splitlines()


def test_compare_markdown(repo: Path, runner) -> None:
    three_runs()
    md = invoke(runner, "compare", "r-one", "r-two", "r-three", "--md").stdout
    lines = md.strip().splitlines()
    assert lines[0] == "| key | r-one | r-two | r-three |"
    assert lines[1] == "|---|---|---|---|"
    assert "| params.lr | **0.01** | **0.02** | **0.02** |" in lines  # differing values in bold
    assert "| params.epochs | 10 | 10 | 10 |" in lines
    assert all(line.count(" | ") == 3 for line in lines if not line.startswith("|-"))


def test_compare_csv(repo: Path, runner) -> None:
    ids = three_runs()
    out = invoke(runner, "compare", "r-one", "r-two", "r-three", "--csv").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["key", "r-one", "r-two", "r-three"]
    table = {r[0]: r[1:] for r in rows[1:]}
    assert table["id"] == ids
    assert table["params.lr"] == ["0.01", "0.02", "0.02"]
    assert table["params.extra"] == ["", "", "1"]
    assert table["metrics.acc"] == ["0.8", "0.85", "0.9"]
    assert table["status"] == ["FINISHED"] * 3
    assert all(float(x) >= 0 for x in table["duration"])


def test_compare_json(repo: Path, runner) -> None:
    ids = three_runs()
    result = invoke(runner, "compare", ids[0], "r-two", short_ids(ids)[ids[2]], "--json")
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["runs"]] == ids
    rows = {(r["section"], r["key"]): r for r in data["rows"]}
    assert rows[("params", "opt.name")] == {"section": "params", "key": "opt.name",
                                             "values": ["adam", "adam", "sgd"], "present": [True] * 3,
                                             "differs": True}
    assert rows[("metrics", "loss")]["differs"] is False
    assert rows[("info", "status")]["values"] == ["FINISHED"] * 3


def test_compare_diff_only(repo: Path, runner) -> None:
    three_runs()
    out = invoke(runner, "compare", "r-one", "r-two", "r-three", "--diff-only").stdout
    assert "params.lr" in out and "params.opt.name" in out
    assert "params.epochs" not in out and "metrics.loss" not in out


# -- errors ---------------------------------------------------------------------------------------------------

def assert_one_line_error(result, text: str) -> None:
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and text in errors[0], result.stderr
    assert all(line.startswith(("Error:", "hint:")) for line in result.stderr.splitlines())


def test_diff_unknown_run(repo: Path, runner) -> None:
    make_run("run-a")
    assert_one_line_error(invoke(runner, "diff", "run-a", "no-such-run"), "no run matches 'no-such-run'")
    assert_one_line_error(invoke(runner, "diff", "no-such-run", "run-a", "--json"), "no-such-run")


def test_diff_revision_that_is_not_a_run(repo: Path, runner) -> None:
    make_run("run-a")
    assert_one_line_error(invoke(runner, "diff", "run-a", "main"), "no run matches 'main'")


def test_compare_needs_two_runs(repo: Path, runner) -> None:
    make_run("run-a")
    assert_one_line_error(invoke(runner, "compare", "run-a"), "at least 2 runs")
    assert_one_line_error(invoke(runner, "compare"), "at least 2 runs")
    assert_one_line_error(invoke(runner, "compare", "run-a", "nope"), "no run matches 'nope'")


def test_conflicting_format_flags(repo: Path, runner) -> None:
    make_run("run-a")
    make_run("run-b")
    result = invoke(runner, "compare", "run-a", "run-b", "--md", "--csv")
    assert result.exit_code == 2 and "choose one of" in result.stderr
    assert invoke(runner, "diff", "run-a", "run-b", "--md", "--json").exit_code == 2


# -- cost and layering ---------------------------------------------------------------------------------------

def test_diff_reads_summaries_not_metric_histories(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run("run-a", metrics={"acc": [0.1] * 50})
    make_run("run-b", metrics={"acc": [0.2] * 50})
    from gitexp.store.runcommit import RecordReader

    def fail(*_a: object) -> None:
        raise AssertionError("diff must not read metric histories of finished runs")

    monkeypatch.setattr(RecordReader, "read_metric", fail)
    with open_session(repo) as db:
        d = diff_runs(db, "run-a", "run-b")
        cmp = compare_runs(db, ["run-a", "run-b"])
    assert d.metrics[0].get("b", "last") == 0.2 and d.metrics[0].get("a", "count") == 50
    assert [r.values for r in cmp.section("metrics")] == [[0.1, 0.2]]


def test_command_module_imports_stay_light() -> None:
    from tests.helpers import loaded_by

    assert loaded_by("import gitexp.cli.diff_cmd",
                     ("gitexp.services.compare", "dulwich", "tabulate", "matplotlib", "pandas")) == []


def test_git_diff_agrees_when_params_are_logged_in_another_order(repo: Path, runner) -> None:
    a = make_run("run-a", {"x": 1, "y": 2})
    b = make_run("run-b", {"y": 2, "x": 1})
    assert diff_json(runner, "run-a", "run-b")["params"] == []
    assert git(repo, "diff", run_commit(repo, a), run_commit(repo, b), "--", ".gitexp/params.yaml") == ""


def test_diff_finalises_a_dead_run_first(repo: Path, runner) -> None:
    import subprocess
    import sys

    make_run("run-a", metrics={"acc": [0.5]})
    script = ("import os, gitexp\n"
              "gitexp.start_run(run_name='dead')\n"
              "gitexp.log_metric('acc', 0.75)\n"
              "gitexp.flush()\n"
              "os._exit(0)\n")  # dies without ending the run
    subprocess.run([sys.executable, "-c", script], cwd=repo, check=True)
    data = diff_json(runner, "run-a", "dead")
    assert by_key(data["info"])["status"]["b"] == "KILLED"
    assert by_key(data["metrics"])["acc"]["b"]["last"] == 0.75
