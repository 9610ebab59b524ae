"""`gitexp import mlflow`: real MLflow stores (file store and SQLite) round-trip into gitexp runs.

The stores are built by the real `mlflow` package in a subprocess (tests marked interop,
skipped without it); the import itself runs as `python -m gitexp import mlflow` with MLflow
hidden from it, so it proves the importer needs no MLflow. The default tests build a small
file store by hand, so the importer is covered without MLflow too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import cli, git

BUILD = textwrap.dedent('''
    import json, os, sys, warnings
    warnings.simplefilter("ignore")
    import mlflow
    from mlflow import MlflowClient
    uri, out, work = sys.argv[1], sys.argv[2], sys.argv[3]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    os.makedirs(os.path.join(work, "plots"), exist_ok=True)
    small = os.path.join(work, "notes.txt")
    open(small, "w").write("hello artifacts\\n")
    open(os.path.join(work, "plots", "a.csv"), "w").write("x,y\\n1,2\\n")
    big = os.path.join(work, "weights.bin")
    open(big, "wb").write(os.urandom(2 * 1024 * 1024 + 17))

    exp = mlflow.set_experiment("Wine Quality")
    client.set_experiment_tag(exp.experiment_id, "team", "nlp")
    with mlflow.start_run(run_name="parent run", description="a note") as parent:
        mlflow.log_params({"lr": "0.01", "epochs": 10, "name": "tree", "sci": "1e-3", "flag": True})
        for i in range(5):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        mlflow.log_metric("train/acc", 0.25, step=7)
        mlflow.log_metric("weird", float("nan"), step=1)
        mlflow.log_metric("weird", float("inf"), step=2)
        mlflow.log_metric("weird", float("-inf"), step=3)
        mlflow.log_metric("weird", -0.0, step=4)
        mlflow.set_tag("stage", "dev")
        mlflow.log_artifact(small)
        mlflow.log_artifacts(os.path.join(work, "plots"), "plots")
        mlflow.log_artifact(big, "model")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.5)
            mlflow.log_param("k", "v")
    mlflow.set_experiment("second")
    failed = mlflow.start_run(run_name="broken")
    mlflow.log_metric("x", 1.0)
    mlflow.end_run("FAILED")
    gone = mlflow.start_run(run_name="deleted")
    mlflow.end_run()
    client.delete_run(gone.info.run_id)
    default = client.create_run("0", run_name="in-default")
    client.log_metric(default.info.run_id, "m", 3.0, timestamp=1700000000123, step=2)
    client.set_terminated(default.info.run_id, "KILLED")
    # a name that is not unique in MLflow
    with mlflow.start_run(run_name="child"):
        mlflow.log_metric("acc", 0.75)

    def files(run_id, path=None):
        out = {}
        for f in client.list_artifacts(run_id, path):
            if f.is_dir:
                out.update(files(run_id, f.path))
            else:
                out[f.path] = f.file_size
        return out

    runs = []
    for e in client.search_experiments():
        for r in client.search_runs([e.experiment_id]):
            runs.append({"experiment": e.name, "experiment_tags": e.tags, "run_id": r.info.run_id,
                         "name": r.info.run_name, "status": r.info.status, "start": r.info.start_time,
                         "end": r.info.end_time, "user": r.info.user_id, "params": r.data.params,
                         "tags": r.data.tags,
                         "history": {k: [[m.step, repr(m.value), m.timestamp]
                                         for m in client.get_metric_history(r.info.run_id, k)]
                                     for k in r.data.metrics},
                         "artifacts": files(r.info.run_id)})
    json.dump({"runs": runs, "deleted": gone.info.run_id}, open(out, "w"))
''')

READ = textwrap.dedent('''
    import json, sys
    from gitexp.mlflow import MlflowClient
    client = MlflowClient()
    out = {}
    for e in client.search_experiments():
        for r in client.search_runs([e.experiment_id]):
            out[r.info.run_id] = {"experiment": e.name, "experiment_tags": e.tags, "name": r.info.run_name,
                                  "status": r.info.status, "start": r.info.start_time, "end": r.info.end_time,
                                  "user": r.info.user_id, "params": r.data.params, "tags": r.data.tags,
                                  "history": {k: [[m.step, repr(m.value), m.timestamp]
                                                  for m in client.get_metric_history(r.info.run_id, k)]
                                              for k in r.data.metrics}}
    print(json.dumps(out))
''')


def _mlflow_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("mlflow") is not None
    except ValueError:
        return False


needs_mlflow = pytest.mark.skipif(not _mlflow_available(), reason="mlflow is not installed")


def build_store(tmp_path: Path, kind: str) -> tuple[str, dict]:
    work = tmp_path / "work"
    work.mkdir()
    if kind == "file":
        uri = str(tmp_path / "mlruns")
        source = uri
    else:
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        source = uri
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_TRACKING_URI": uri}
    out = tmp_path / "expected.json"
    subprocess.run([sys.executable, "-c", BUILD, uri, str(out), str(work)], check=True, env=env, cwd=tmp_path,
                   timeout=300)
    return source, json.loads(out.read_text())


def no_mlflow_env(tmp_path: Path) -> dict:
    """An environment where `import mlflow` fails: the importer must not need it."""
    blocker = tmp_path / "block"
    blocker.mkdir(exist_ok=True)
    (blocker / "mlflow.py").write_text("raise ImportError('mlflow is hidden in this test')\n")
    return {"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def read_back(repo: Path) -> dict:
    got = subprocess.run([sys.executable, "-c", READ], cwd=repo, capture_output=True, text=True, check=True)
    return json.loads(got.stdout)


def _same_float(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    return (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))


def check_round_trip(expected: dict, got: dict, report: dict) -> None:
    ids = report["runs_by_mlflow_id"]
    want = expected["runs"]
    assert expected["deleted"] not in ids
    assert len(want) == len(ids) == report["runs"]
    for run in want:
        mine = got[ids[run["run_id"]]]
        assert mine["experiment"] == run["experiment"]
        for k, v in run["experiment_tags"].items():
            assert mine["experiment_tags"].get(k) == v
        assert mine["status"] == run["status"]
        assert (mine["start"], mine["end"]) == (run["start"], run["end"])
        assert mine["user"] == run["user"]
        assert mine["params"] == run["params"]
        assert mine["tags"]["gitexp.import.mlflow_run_id"] == run["run_id"]
        for key, value in run["tags"].items():
            if key == "mlflow.parentRunId":
                assert mine["tags"][key] == ids[value]
            elif key == "mlflow.runName":
                assert mine["name"] == value or mine["tags"]["gitexp.import.mlflow_run_name"] == value
            else:
                assert mine["tags"][key] == value, key
        assert set(mine["history"]) == set(run["history"])
        for key, points in run["history"].items():
            ordered = sorted(points, key=lambda p: (p[0], p[2]))
            theirs = mine["history"][key]
            assert [(p[0], p[2]) for p in theirs] == [(p[0], p[2]) for p in ordered], key
            assert all(_same_float(a[1], b[1]) for a, b in zip(theirs, ordered)), key


def check_artifacts(repo: Path, expected: dict, report: dict) -> None:
    from gitexp.services.catalog.listing import get_run
    from gitexp.services.session import open_session

    with open_session(repo) as s:
        for run in expected["runs"]:
            mine = get_run(s, report["runs_by_mlflow_id"][run["run_id"]])
            sizes = {a.path: a.size for a in mine.artifacts}
            assert sizes == run["artifacts"], run["name"]
            for a in mine.artifacts:
                assert a.inline == (a.size <= 1 << 20)


@pytest.mark.interop
@needs_mlflow
@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_import_round_trips_every_value(tmp_path: Path, kind: str) -> None:
    source, expected = build_store(tmp_path, kind)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    env = no_mlflow_env(tmp_path)
    got = cli("import", "mlflow", source, "--json", cwd=repo, env=env)
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    assert report["failed"] == [] and report["deleted_skipped"] == 1
    assert report["points"] == sum(len(h) for r in expected["runs"] for h in r["history"].values())
    check_round_trip(expected, read_back(repo), report)
    check_artifacts(repo, expected, report)
    # names: the parent keeps its name; the second "child" gets a suffix, its MLflow name kept in a tag
    names = sorted(r["name"] for r in read_back(repo).values())
    assert "parent run" in names and "child" in names and "child-2" in names
    # a second import adds nothing
    again = cli("import", "mlflow", source, "--json", cwd=repo, env=env)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["runs"] == 0 and second["already_imported"] == len(expected["runs"])
    # the imported runs are ordinary runs: ls, show and git fsck
    listed = cli("ls", "--all", "--json", cwd=repo)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == len(expected["runs"])
    assert cli("show", "parent run", cwd=repo).returncode == 0
    git(repo, "fsck", "--no-dangling")


def _file_store(root: Path) -> None:
    """A minimal MLflow file store written by hand (the format MLflow 1.x–3.x writes)."""
    exp = root / "1"
    (exp / "tags").mkdir(parents=True)
    (exp / "meta.yaml").write_text("artifact_location: file://%s\ncreation_time: 1700000000000\nexperiment_id: '1'\n"
                                   "last_update_time: 1700000000000\nlifecycle_stage: active\nname: My Exp\n" % exp)
    run = exp / "0123456789abcdef0123456789abcdef"
    for sub in ("metrics/train", "params", "tags", "artifacts"):
        (run / sub).mkdir(parents=True)
    (run / "meta.yaml").write_text(
        f"artifact_uri: file://{run}/artifacts\nend_time: 1700000005000\nentry_point_name: ''\nexperiment_id: '1'\n"
        "lifecycle_stage: active\nrun_id: 0123456789abcdef0123456789abcdef\nrun_name: hand-made\n"
        "run_uuid: 0123456789abcdef0123456789abcdef\nsource_name: ''\nsource_type: 4\nsource_version: ''\n"
        "start_time: 1700000000000\nstatus: 4\ntags: []\nuser_id: ann\n")
    (run / "metrics" / "train" / "loss").write_text("1700000001000 0.5 0\n1700000002000 nan 1\n1700000003000 0.25 2\n")
    (run / "params" / "lr").write_text("0.01")
    (run / "tags" / "mlflow.runName").write_text("hand-made")
    (run / "tags" / "mlflow.note.content").write_text("my note")
    (run / "tags" / "team").write_text("vision")
    (run / "artifacts" / "out.txt").write_text("hi")
    broken = exp / "fedcba9876543210fedcba9876543210"
    (broken / "metrics").mkdir(parents=True)
    (broken / "meta.yaml").write_text("run_id: fedcba9876543210fedcba9876543210\nstatus: 3\nstart_time: 1\n"
                                      "lifecycle_stage: active\nexperiment_id: '1'\n")
    (broken / "metrics" / "acc").write_text("not a metric line\n")


def test_import_hand_made_file_store_without_mlflow(tmp_path: Path, repo: Path) -> None:
    from gitexp.services.catalog.listing import get_run
    from gitexp.services.mlflow_import import import_mlflow
    from gitexp.services.session import open_session

    _file_store(tmp_path / "mlruns")
    seen = []
    with open_session(repo) as s:
        report = import_mlflow(s, str(tmp_path / "mlruns"), progress=lambda d, t: seen.append((d, t)))
    assert report.runs == 1 and seen[-1] == (2, 2)
    assert [r for r, _ in report.failed] == ["fedcba9876543210fedcba9876543210"]
    assert "bad line 1" in report.failed[0][1]
    with open_session(repo) as s:
        run = get_run(s, "hand-made")
        assert run.status == "FAILED" and run.info.user == "ann" and run.info.description == "my note"
        assert run.params == {"lr": 0.01} and run.tags["team"] == "vision"
        assert run.experiment == "my-exp" and run.start_ms == 1700000000000 and run.end_ms == 1700000005000
        hist = run.history["train/loss"]
        assert [p[0] for p in hist] == [0, 1, 2] and math.isnan(hist[1][1]) and hist[2] == (2, 0.25, 1700000003000)
        assert [a.path for a in run.artifacts] == ["out.txt"]
        assert "mlflow.runName" not in run.tags
    out = cli("import", "mlflow", str(tmp_path / "mlruns"), cwd=repo)
    assert out.returncode == 1  # the broken run still fails
    assert "already imported" in out.stdout and "failed: MLflow run fedcba98" in out.stderr


def test_import_refuses_what_is_not_a_store(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = cli("import", "mlflow", str(tmp_path / "empty"), cwd=repo)
    assert out.returncode == 1 and "not an MLflow file store" in out.stderr
    out = cli("import", "mlflow", "postgresql://x/y", cwd=repo)
    assert out.returncode == 1 and "only a file store folder and sqlite" in out.stderr
