"""The Python tracking API (MLflow's names), checked through our reader and the real git CLI."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

import gitexp
from gitexp.errors import (
    AmbiguousRun, GitexpError, InvalidName, InvalidValue, ParamConflict, RunNotFound,
)
from tests.helpers import git, metric_rows, record, run_refs, sampled, show

_yaml = YAML(typ="safe")


def only_ref(repo: Path, experiment: str | None = None) -> str:
    refs = run_refs(repo, experiment)
    assert len(refs) == 1, refs
    return refs[0]


# -- runs: start, end, status -----------------------------------------------------------------------

def test_context_manager_records_everything(repo: Path) -> None:
    with gitexp.start_run(run_name="first try", tags={"team": "vision"}) as run:
        assert gitexp.active_run().id == run.id
        gitexp.log_param("lr", 0.01)
        gitexp.log_params({"model": {"depth": 4, "act": "relu"}, "epochs": 3, "use_bn": True})
        for epoch in range(3):
            gitexp.log_metric("train/loss", 1.0 / (epoch + 1))
        gitexp.log_metrics({"val/acc": 0.75, "val/f1": 0.5}, step=7)
        gitexp.set_tag("stage", "dev")
        gitexp.set_tags({"owner": "ann", "seed": 42})
    assert gitexp.active_run() is None

    ref = only_ref(repo, "default")
    assert ref.endswith("/" + run.id)
    info = record(repo, ref)
    assert info["format"] == 1
    assert info["status"] == "FINISHED" and info["name"] == "first try" and info["id"] == run.id
    assert info["start_time"].endswith("Z") and info["end_time"].endswith("Z")
    assert info["baseline"] == git(repo, "rev-parse", "HEAD").strip()
    # typed params, nested mappings kept (read with real git)
    assert record(repo, ref, "params.yaml") == {
        "lr": 0.01, "model": {"depth": 4, "act": "relu"}, "epochs": 3, "use_bn": True}
    assert record(repo, ref, "tags.yaml") == {"team": "vision", "stage": "dev", "owner": "ann", "seed": "42"}
    assert [r[:2] for r in metric_rows(repo, ref, "train/loss")] == [
        ["0", "1.0"], ["1", "0.5"], ["2", repr(1 / 3)]]
    assert [r[:2] for r in metric_rows(repo, ref, "val/acc")] == [["7", "0.75"]]
    summary = record(repo, ref, "summary.yaml")
    assert summary["train/loss"] == {"last": 1 / 3, "step": 2, "min": 1 / 3, "max": 1.0, "count": 3}

    got = gitexp.get_run(run.id)
    assert got.status == "FINISHED" and got.name == "first try"
    assert got.params["model"] == {"depth": 4, "act": "relu"}
    assert got.tags["seed"] == "42"
    assert got.metrics == {"train/loss": 1 / 3, "val/acc": 0.75, "val/f1": 0.5}
    assert [(s, v) for s, v, _ in got.metric_history("train/loss")] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert got.summary["val/f1"]["count"] == 1
    assert got.duration is not None and got.duration >= 0


def test_plain_call_active_run_and_end_run_status(repo: Path) -> None:
    run = gitexp.start_run(run_name="plain")
    assert gitexp.active_run() is not None and gitexp.active_run().id == run.id
    ref = only_ref(repo)
    assert record(repo, ref)["status"] == "RUNNING"  # the ref exists from the start
    gitexp.log_metric("x", 1.0)
    gitexp.end_run(status="FAILED")
    assert gitexp.active_run() is None
    assert record(repo, ref)["status"] == "FAILED"
    assert gitexp.get_run("plain").metrics == {"x": 1.0}
    gitexp.end_run()  # no active run: nothing to do, no error


def test_end_run_rejects_unknown_status(repo: Path) -> None:
    gitexp.start_run()
    with pytest.raises(GitexpError, match="unknown run status 'DONE'"):
        gitexp.end_run(status="DONE")
    assert gitexp.active_run() is not None
    gitexp.end_run()


def test_second_run_without_nested_is_an_error(repo: Path) -> None:
    with gitexp.start_run(run_name="outer"):
        with pytest.raises(GitexpError, match="already active") as err:
            gitexp.start_run()
        assert "nested=True" in err.value.hint
    assert len(run_refs(repo)) == 1


def test_exception_inside_with_ends_failed_and_reraises(repo: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with gitexp.start_run(run_name="boom"):
            gitexp.log_metric("before", 1.0)
            raise ZeroDivisionError
    assert gitexp.active_run() is None
    run = gitexp.get_run("boom")
    assert run.status == "FAILED"
    assert run.metrics == {"before": 1.0}  # logged data is kept


def test_keyboard_interrupt_inside_with_ends_killed(repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with gitexp.start_run(run_name="ctrl-c"):
            raise KeyboardInterrupt
    assert gitexp.get_run("ctrl-c").status == "KILLED"
    assert record(repo, only_ref(repo))["status"] == "KILLED"


def test_nested_runs_record_their_parent(repo: Path) -> None:
    with gitexp.start_run(run_name="sweep") as parent:
        for lr in (0.1, 0.2):
            with gitexp.start_run(run_name=f"trial-{lr}", nested=True) as child:
                gitexp.log_param("lr", lr)
                assert gitexp.active_run().id == child.id
            assert gitexp.active_run().id == parent.id
        gitexp.log_metric("best", 0.2)
    refs = run_refs(repo)
    assert len(refs) == 3
    by_name = {record(repo, r)["name"]: record(repo, r) for r in refs}
    assert by_name["sweep"]["parent_run"] is None
    assert by_name["trial-0.1"]["parent_run"] == parent.id
    assert by_name["trial-0.2"]["parent_run"] == parent.id
    assert all(i["status"] == "FINISHED" for i in by_name.values())
    assert gitexp.get_run("sweep").metrics == {"best": 0.2}
    assert gitexp.get_run("trial-0.2").params == {"lr": 0.2}


def test_set_experiment_and_start_run_experiment(repo: Path) -> None:
    assert gitexp.set_experiment("mnist").slug == "mnist"
    with gitexp.start_run():
        gitexp.log_metric("a", 1)
    with gitexp.start_run(experiment="cifar-10"):
        gitexp.log_metric("a", 2)
    assert len(run_refs(repo, "mnist")) == 1
    assert len(run_refs(repo, "cifar-10")) == 1
    assert record(repo, run_refs(repo, "mnist")[0])["experiment"] == "mnist"
    exp = gitexp.set_experiment("My Experiment!")  # MLflow's free-text names: stored, mapped to a slug
    assert (exp.name, exp.slug) == ("My Experiment!", "my-experiment")
    with pytest.raises(InvalidName) as err:
        gitexp.start_run(experiment="My Exp!\nline two")
    assert "invalid experiment name" in err.value.message


# -- params ------------------------------------------------------------------------------------------

def test_param_logged_again(repo: Path) -> None:
    with gitexp.start_run(run_name="p"):
        gitexp.log_param("lr", 0.01)
        gitexp.log_param("lr", 0.01)  # the same value is fine
        gitexp.log_params({"lr": 0.01, "bs": 32})
        with pytest.raises(ParamConflict) as err:
            gitexp.log_param("lr", 0.02)
        assert isinstance(err.value, GitexpError)
        assert "param 'lr' is already 0.01" in err.value.message and "0.02" in err.value.message
        assert err.value.hint
        with pytest.raises(ParamConflict):
            gitexp.log_params({"bs": 64})
    assert record(repo, only_ref(repo), "params.yaml") == {"lr": 0.01, "bs": 32}


def test_param_values_numpy_and_nested(repo: Path) -> None:
    with gitexp.start_run():
        gitexp.log_param("n", np.int64(7))
        gitexp.log_param("f", np.float32(0.5))
        gitexp.log_param("layers", (64, 32))
        gitexp.log_param("none", None)
    params = record(repo, only_ref(repo), "params.yaml")
    assert params == {"n": 7, "f": 0.5, "layers": [64, 32], "none": None}
    assert isinstance(params["n"], int)


# -- metrics -----------------------------------------------------------------------------------------

def test_logging_without_active_run_starts_one(repo: Path) -> None:
    assert gitexp.active_run() is None
    gitexp.log_metric("loss", 0.5)
    run = gitexp.active_run()
    assert run is not None
    assert record(repo, only_ref(repo))["status"] == "RUNNING"
    gitexp.log_param("lr", 1)
    gitexp.end_run()
    assert gitexp.get_run(run.id).params == {"lr": 1}
    assert gitexp.get_run(run.id).metrics == {"loss": 0.5}
    # each log_* function starts a run when none is active
    for call in (lambda: gitexp.log_param("a", 1), lambda: gitexp.set_tag("a", "b"),
                 lambda: gitexp.log_metrics({"m": 1.0}), lambda: gitexp.log_text("x", "x.txt")):
        call()
        assert gitexp.active_run() is not None
        gitexp.end_run()
    assert len(run_refs(repo)) == 5


def test_steps_auto_increment_per_metric(repo: Path) -> None:
    with gitexp.start_run():
        for i in range(3):
            gitexp.log_metric("a", float(i))
        gitexp.log_metric("b", 10.0)
        gitexp.log_metric("a", 3.0)
        gitexp.log_metric("b", 11.0, step=10)
        gitexp.log_metric("b", 12.0)  # continues after the explicit step
        gitexp.log_metric("c", 1.0, step=5)
        gitexp.log_metric("c", 2.0)
        gitexp.log_metrics({"a": 4.0, "d": 1.0})
    ref = only_ref(repo)
    steps = lambda key: [int(r[0]) for r in metric_rows(repo, ref, key)]  # noqa: E731
    assert steps("a") == [0, 1, 2, 3, 4]
    assert steps("b") == [0, 10, 11]
    assert steps("c") == [5, 6]
    assert steps("d") == [0]


def test_automatic_steps_follow_explicit_ones_across_flushes_and_switches(repo: Path) -> None:
    """The last step of a key is remembered after its points are written, in either step mode."""
    with gitexp.start_run():
        gitexp.log_metric("a", 1.0)  # 0
        gitexp.log_metric("a", 1.0, step=5)
        gitexp.flush()  # the queue of `a` is empty again: its last step comes from the journal
        gitexp.log_metric("a", 1.0)  # 6
        gitexp.log_metric("a", 1, step=20)  # an int value: the slower path, same bookkeeping
        gitexp.log_metric("a", 1)  # 21
        for i in range(30, 33):  # alternating on every call
            gitexp.log_metric("a", 1.0, step=i * 10)
            gitexp.log_metric("a", 1.0)
        gitexp.log_metric("b", 1.0, step=7)
        gitexp.flush()
        gitexp.flush()
        gitexp.log_metric("b", 1.0)  # 8
    steps = [int(r[0]) for r in metric_rows(repo, only_ref(repo), "a")]
    assert steps == [0, 5, 6, 20, 21, 300, 301, 310, 311, 320, 321]
    assert [int(r[0]) for r in metric_rows(repo, only_ref(repo), "b")] == [7, 8]


def test_int_subclass_and_bool_steps(repo: Path) -> None:
    import enum

    class Epoch(enum.IntEnum):
        FIRST = 1

    with gitexp.start_run():
        gitexp.log_metric("a", 1.0, step=Epoch.FIRST)  # stored as a plain int (marshal takes no subclasses)
        gitexp.log_metric("a", 2.0)
        with pytest.raises(InvalidValue, match="whole number"):
            gitexp.log_metric("a", 3.0, step=True)
    assert [r[:2] for r in metric_rows(repo, only_ref(repo), "a")] == [["1", "1.0"], ["2", "2.0"]]


def test_timestamps_of_any_number_type_and_bad_ones(repo: Path) -> None:
    from decimal import Decimal

    with gitexp.start_run():
        gitexp.log_metric("a", 1.0, step=1, timestamp=np.int64(1700000000123))  # marshal keeps numpy floats as bytes
        gitexp.log_metric("a", 2.0, step=2, timestamp=Decimal(1700000000456))
        for bad in ("soon", True):
            with pytest.raises(InvalidValue, match="timestamp of metric 'a' must be Unix time in milliseconds"):
                gitexp.log_metric("a", 3.0, timestamp=bad)
    rows = metric_rows(repo, only_ref(repo), "a")
    assert rows == [["1", "1.0", "1700000000123"], ["2", "2.0", "1700000000456"]]


def test_non_float_steps(repo: Path) -> None:
    with gitexp.start_run():
        gitexp.log_metric("a", 1.0, step=np.int64(3))
        gitexp.log_metric("a", 2.0, step=4.0)
        with pytest.raises(InvalidValue, match="step for metric 'a' must be a whole number"):
            gitexp.log_metric("a", 3.0, step=4.5)
        with pytest.raises(InvalidValue):
            gitexp.log_metric("a", 3.0, step="five")
    assert [r[:2] for r in metric_rows(repo, only_ref(repo), "a")] == [["3", "1.0"], ["4", "2.0"]]


def test_special_floats_and_exact_round_trip(repo: Path) -> None:
    values = [0.1 + 0.2, math.nan, math.inf, -math.inf, 1e-320, -0.0, 1 / 3, 2.0**60, 123456789.123456789]
    with gitexp.start_run() as run:
        for v in values:
            gitexp.log_metric("v", v)
    rows = metric_rows(repo, only_ref(repo), "v")
    texts = [r[1] for r in rows]
    assert texts[:4] == ["0.30000000000000004", "nan", "inf", "-inf"]
    back = [float(t) for t in texts]
    for want, got in zip(values, back):
        assert (math.isnan(want) and math.isnan(got)) or \
            (want == got and math.copysign(1, want) == math.copysign(1, got))
    history = [v for _, v, _ in gitexp.get_run(run.id).metric_history("v")]
    assert history[0] == 0.1 + 0.2 and math.isnan(history[1]) and history[2:4] == [math.inf, -math.inf]
    summary = record(repo, only_ref(repo), "summary.yaml")["v"]
    assert summary["min"] == -math.inf and summary["max"] == math.inf and summary["count"] == len(values)


def test_numpy_scalars_and_ints(repo: Path) -> None:
    with gitexp.start_run() as run:
        gitexp.log_metric("f32", np.float32(0.1))
        gitexp.log_metric("f64", np.float64(0.1) + np.float64(0.2))
        gitexp.log_metric("i64", np.int64(2**40))
        gitexp.log_metric("int", 3)
        gitexp.log_metric("zero_d", np.array(2.5))
    got = gitexp.get_run(run.id).metrics
    assert got == {"f32": float(np.float32(0.1)), "f64": 0.1 + 0.2, "i64": float(2**40), "int": 3.0,
                   "zero_d": 2.5}
    assert metric_rows(repo, only_ref(repo), "f32")[0][1] == repr(float(np.float32(0.1)))


@pytest.mark.parametrize("bad", ["0.5", "abc", None, True, [1.0], {"a": 1}, b"1", 1 + 2j, np.array([1.0, 2.0]),
                                 10**400])
def test_non_numeric_metric_is_a_clear_error(repo: Path, bad: object) -> None:
    with gitexp.start_run():
        with pytest.raises(InvalidValue) as err:
            gitexp.log_metric("loss", bad)
        if isinstance(bad, int) and not isinstance(bad, bool):
            assert err.value.message.startswith("metric 'loss' is too large for a float")
        else:
            assert err.value.message.startswith("metric 'loss' must be a number, not ")
            assert "log_param" in err.value.hint
        with pytest.raises(InvalidValue):
            gitexp.log_metrics({"ok": 1.0, "loss": bad})
        gitexp.log_metric("loss", 1.0)  # the run is still usable
    assert [r[1] for r in metric_rows(repo, only_ref(repo), "loss")] == ["1.0"]


def test_timestamp_argument(repo: Path) -> None:
    with gitexp.start_run():
        gitexp.log_metric("a", 1.0, timestamp=1700000000123)
        gitexp.log_metric("a", 2.0, step=9, timestamp=1700000000456)
        gitexp.log_metric("a", 3.0)
    rows = metric_rows(repo, only_ref(repo), "a")
    assert rows[0] == ["0", "1.0", "1700000000123"]
    assert rows[1] == ["9", "2.0", "1700000000456"]
    assert abs(int(rows[2][2]) / 1000 - __import__("time").time()) < 60


@pytest.mark.parametrize("key", ["", "../up", "/abs", "a//b", "a\tb", "a@b", "x" * 251, " lead"])
def test_bad_keys_are_rejected(repo: Path, key: str) -> None:
    with gitexp.start_run():
        for call in (lambda: gitexp.log_metric(key, 1.0), lambda: gitexp.log_param(key, 1),
                     lambda: gitexp.set_tag(key, "v")):
            with pytest.raises(InvalidName) as err:
                call()
            assert "invalid" in err.value.message and err.value.hint
    assert git(repo, "ls-tree", "-r", "--name-only", only_ref(repo), ".gitexp/metrics/") == ""


def test_threads_log_safely(repo: Path) -> None:
    git(repo, "config", "gitexp.flushinterval", "0.05")
    threads_n, points = 8, 5000
    errors: list[BaseException] = []

    with gitexp.start_run() as run:
        gitexp.log_metric("warmup", 0.0)
        start = threading.Barrier(threads_n)

        def work(n: int) -> None:
            try:
                start.wait()
                for i in range(points):
                    gitexp.log_metric("shared", float(i))
                    gitexp.log_metric(f"own/{n}", float(i))
                    if i % 1000 == 0:
                        gitexp.log_metric(f"explicit/{n}", float(i), step=i)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    assert not errors
    got = gitexp.get_run(run.id)
    shared = got.metric_history("shared")
    assert len(shared) == threads_n * points
    assert sorted(s for s, _, _ in shared) == list(range(threads_n * points))
    for n in range(threads_n):
        own = got.metric_history(f"own/{n}")
        assert [s for s, _, _ in own] == list(range(points))
        assert [v for _, v, _ in own] == [float(i) for i in range(points)]
        assert [s for s, _, _ in got.metric_history(f"explicit/{n}")] == list(range(0, points, 1000))
    # the committed TSV (what git holds) is complete too
    assert len(metric_rows(repo, only_ref(repo), "shared")) == threads_n * points


# -- artifacts ---------------------------------------------------------------------------------------

def test_small_and_large_artifacts(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "gitexp.artifactthreshold", "1000")
    small = tmp_path / "small.txt"
    small.write_text("tiny\n")
    big = tmp_path / "model.bin"
    big_data = bytes(range(256)) * 20  # 5120 bytes > 1000
    big.write_bytes(big_data)
    with gitexp.start_run() as run:
        assert gitexp.log_artifact(small) == "small.txt"
        assert gitexp.log_artifact(big, artifact_path="models/") == "models/model.bin"
    ref = only_ref(repo)
    tree = git(repo, "ls-tree", "-r", "--name-only", ref).split()
    assert ".gitexp/artifacts/small.txt" in tree
    assert not any("model.bin" in p for p in tree)
    assert show(repo, ref, ".gitexp/artifacts/small.txt") == "tiny\n"
    listed = {a["path"]: a for a in record(repo, ref, "artifacts.yaml")}
    big_sha = hashlib.sha256(big_data).hexdigest()
    assert listed["models/model.bin"] == {"path": "models/model.bin", "size": len(big_data), "sha256": big_sha,
                                          "storage": "side-store"}
    assert listed["small.txt"]["storage"] == "inline"
    assert listed["small.txt"]["sha256"] == hashlib.sha256(b"tiny\n").hexdigest()
    stored = repo / ".git" / "gitexp" / "objects" / big_sha[:2] / big_sha[2:]
    assert stored.read_bytes() == big_data
    arts = {a.path: a for a in gitexp.get_run(run.id).artifacts}
    assert arts["small.txt"].inline and not arts["models/model.bin"].inline
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "fsck", "--strict")


def test_log_artifacts_keeps_relative_paths(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "out"
    (src / "plots").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "plots" / "b.csv").write_text("x,y\n1,2\n")
    with gitexp.start_run() as run:
        assert gitexp.log_artifacts(src) == ["a.txt", "plots/b.csv"]
        assert gitexp.log_artifacts(src, artifact_path="copy") == ["copy/a.txt", "copy/plots/b.csv"]
    ref = only_ref(repo)
    assert show(repo, ref, ".gitexp/artifacts/plots/b.csv") == "x,y\n1,2\n"
    assert show(repo, ref, ".gitexp/artifacts/copy/plots/b.csv") == "x,y\n1,2\n"
    assert sorted(a.path for a in gitexp.get_run(run.id).artifacts) == [
        "a.txt", "copy/a.txt", "copy/plots/b.csv", "plots/b.csv"]


def test_log_text_dict_figure(repo: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    with gitexp.start_run():
        gitexp.log_text("héllo\nworld", "notes/readme.txt")
        gitexp.log_dict({"b": [1, 2], "a": {"x": 0.1}}, "config.json")
        gitexp.log_dict({"b": [1, 2], "a": {"x": 0.1}}, "config.yaml")
        gitexp.log_dict({"k": "v"}, "conf.yml")
        gitexp.log_figure(fig, "plots/curve.png")
        gitexp.log_figure(fig, "plots/curve.svg")
    ref = only_ref(repo)
    assert show(repo, ref, ".gitexp/artifacts/notes/readme.txt") == "héllo\nworld"
    assert json.loads(show(repo, ref, ".gitexp/artifacts/config.json")) == {"b": [1, 2], "a": {"x": 0.1}}
    yaml_text = show(repo, ref, ".gitexp/artifacts/config.yaml")
    assert not yaml_text.lstrip().startswith("{")  # YAML, not JSON
    assert _yaml.load(yaml_text) == {"b": [1, 2], "a": {"x": 0.1}}
    assert _yaml.load(show(repo, ref, ".gitexp/artifacts/conf.yml")) == {"k": "v"}
    png = subprocess_bytes(repo, "show", f"{ref}:.gitexp/artifacts/plots/curve.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "<svg" in show(repo, ref, ".gitexp/artifacts/plots/curve.svg")
    with gitexp.start_run():
        with pytest.raises(InvalidName, match="needs an extension"):
            gitexp.log_figure(fig, "plots/curve")


def subprocess_bytes(cwd: Path, *args: str) -> bytes:
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


@pytest.mark.parametrize("where", ["../x", "/abs", "a/../../x", "..", "/"])
def test_escaping_artifact_paths_are_rejected(repo: Path, tmp_path: Path, where: str) -> None:
    f = tmp_path / "f.txt"
    f.write_text("data")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "g.txt").write_text("g")
    with gitexp.start_run():
        with pytest.raises(InvalidName, match="invalid artifact path"):
            gitexp.log_artifact(f, artifact_path=where)
        with pytest.raises(InvalidName, match="invalid artifact path"):
            gitexp.log_artifacts(folder, artifact_path=where)
        with pytest.raises(InvalidName, match="invalid artifact path"):
            gitexp.log_text("x", where if where not in ("..", "/") else where + "/t.txt")
        with pytest.raises(InvalidName, match="invalid artifact path"):
            gitexp.log_dict({"a": 1}, where.rstrip("/") + "/d.json")
    ref = only_ref(repo)
    assert record(repo, ref, "artifacts.yaml") == []
    assert git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/artifacts") == ""
    assert not (tmp_path / "x").exists() and not Path("/abs").exists()


def test_missing_artifact_sources_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    with gitexp.start_run():
        with pytest.raises(GitexpError, match="no such file"):
            gitexp.log_artifact(tmp_path / "nope.txt")
        with pytest.raises(GitexpError, match="not a folder"):
            gitexp.log_artifacts(tmp_path / "nope")


# -- reading runs back -------------------------------------------------------------------------------

def test_get_run_by_id_prefix_name_and_revision(repo: Path) -> None:
    with gitexp.start_run(run_name="alpha") as run:
        gitexp.log_metric("m", 1.0)
    ref = only_ref(repo)
    commit = git(repo, "rev-parse", ref).strip()
    for text in (run.id, run.id[:10], "alpha", ref, commit, commit[:12]):
        got = gitexp.get_run(text)
        assert got.id == run.id and got.commit == commit, text
    with pytest.raises(RunNotFound) as err:
        gitexp.get_run("no-such-run")
    assert err.value.message == "no run matches 'no-such-run'" and err.value.hint


def test_get_run_while_running_sees_buffered_data(repo: Path) -> None:
    git(repo, "config", "gitexp.flushinterval", "0.05")
    run = gitexp.start_run(run_name="live")
    gitexp.log_param("lr", 0.1)
    gitexp.log_metric("loss", 2.0)
    gitexp.flush()
    got = gitexp.get_run("live")
    assert got.status == "RUNNING"
    assert got.params == {"lr": 0.1} and got.metrics == {"loss": 2.0}
    gitexp.end_run()
    assert gitexp.get_run(run.id).status == "FINISHED"


def test_same_name_from_a_teammate_is_ambiguous(repo: Path, tmp_path: Path) -> None:
    with gitexp.start_run(run_name="twin") as mine:
        pass
    # names are unique per repository, but a teammate's clone may pick the same one
    teammate = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(repo), str(teammate))
    gitexp.set_repository(teammate)
    with gitexp.start_run(run_name="twin") as theirs:
        pass
    gitexp.set_repository(repo)
    git(repo, "fetch", "-q", str(teammate), "refs/gitexp/*:refs/gitexp/*")
    assert len(run_refs(repo)) == 2
    with pytest.raises(AmbiguousRun, match="ambiguous name 'twin': 2 runs have it") as err:
        gitexp.get_run("twin")
    assert mine.id in err.value.message and theirs.id in err.value.message
    assert gitexp.get_run(theirs.id).name == "twin"


def test_run_names_are_unique_in_the_repository(repo: Path) -> None:
    with gitexp.start_run(run_name="dup"):
        pass
    with pytest.raises(InvalidName, match="a run named 'dup' already exists") as err:
        gitexp.start_run(run_name="dup")
    assert err.value.hint
    assert gitexp.active_run() is None and len(run_refs(repo)) == 1
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())
    names = set()
    for _ in range(6):
        with gitexp.start_run() as run:
            names.add(run.info.name)
    assert len(names) == 6 and "dup" not in names
    assert all(re.fullmatch(r"[a-z]+-[a-z]+(-\d+)?", n) for n in names)
    with pytest.raises(InvalidName, match="looks like a run id"):
        gitexp.start_run(run_name=run.id)


def _script(repo: Path, cwd: Path, body: str) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys
    import textwrap

    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_scripts_without_end_run_are_ended_at_exit(repo: Path) -> None:
    """A script that never calls end_run: FINISHED at a normal exit, FAILED after an uncaught error."""
    sub = repo / "src"
    sub.mkdir()
    ok = _script(repo, sub, """\
        import gitexp
        gitexp.start_run(run_name="no-end")
        gitexp.log_metric("m", 1.0)
    """)
    assert ok.returncode == 0, ok.stderr
    crash = _script(repo, sub, """\
        import gitexp
        gitexp.log_metric("m", 2.0)  # starts a run implicitly
        raise ValueError("bad data")
    """)
    assert crash.returncode == 1 and "ValueError: bad data" in crash.stderr  # the user's traceback is kept
    interrupted = _script(repo, sub, """\
        import gitexp
        gitexp.start_run(run_name="ctrl-c")
        raise KeyboardInterrupt
    """)
    assert interrupted.returncode != 0
    by_name = {record(repo, r)["name"]: record(repo, r) for r in run_refs(repo)}
    assert len(by_name) == 3
    assert by_name["no-end"]["status"] == "FINISHED"
    assert by_name["ctrl-c"]["status"] == "KILLED"
    [crashed] = [i for n, i in by_name.items() if n not in ("no-end", "ctrl-c")]
    assert crashed["status"] == "FAILED"
    assert gitexp.get_run(crashed["id"]).metrics == {"m": 2.0}
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())


FREE_TEXT_NAMES = ["My Exp", "X.lock", "a..b", "a/b", "-lead", "x" * 101, "trail.", "Über Test", "a" * 99 + ".b",
                   "ab.lock.lock", "refs/heads/x", "/Users/me/churn", "日本語"]


@pytest.mark.parametrize("text", sampled(FREE_TEXT_NAMES))
def test_free_text_experiment_names_map_to_ref_safe_slugs(repo: Path, text: str) -> None:
    from gitexp.names import check_experiment

    exp = gitexp.set_experiment(text)
    assert exp.name == text and check_experiment(exp.slug) == exp.slug and exp.slug != "default"
    git(repo, "check-ref-format", f"refs/gitexp/runs/{exp.slug}/x")  # git agrees it is ref-safe
    with gitexp.start_run() as run:
        pass
    assert run_refs(repo) == [f"refs/gitexp/runs/{exp.slug}/{run.id}"]
    assert gitexp.get_experiment_by_name(text).experiment_id == exp.experiment_id


@pytest.mark.parametrize("bad", ["", "   ", "two\nlines", "x" * 501])
def test_bad_experiment_names_are_refused(repo: Path, bad: str) -> None:
    with pytest.raises(InvalidName):
        gitexp.set_experiment(bad)
    if bad:  # start_run(experiment="") means "not given": the default experiment
        with pytest.raises(InvalidName):
            gitexp.start_run(experiment=bad)
    assert run_refs(repo) == [] and gitexp.active_run() is None


def test_artifact_file_and_folder_of_the_same_name_conflict(repo: Path) -> None:
    with gitexp.start_run(run_name="arts") as run:
        gitexp.log_text("a file", "model")
        with pytest.raises(InvalidName, match="artifact path 'model/weights.bin' conflicts with artifact 'model'"):
            gitexp.log_text("w", "model/weights.bin")
        gitexp.log_text("b", "plots/loss.png")
        with pytest.raises(InvalidName, match="conflicts"):
            gitexp.log_text("c", "plots")
        gitexp.log_text("a newer file", "model")  # the same path again simply replaces it
    assert gitexp.get_run(run.id).status == "FINISHED"
    ref = only_ref(repo)
    assert show(repo, ref, ".gitexp/artifacts/model") == "a newer file"
    assert sorted(a["path"] for a in record(repo, ref, "artifacts.yaml")) == ["model", "plots/loss.png"]
