"""MLflow's fluent calls and MlflowClient, in MLflow's exact call forms, through `gitexp.mlflow`
(MLflow's semantics) and `import gitexp` (gitexp's own types)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gitexp
import gitexp.mlflow as mlflow
from gitexp.mlflow import MlflowClient
from gitexp.mlflow.entities import Metric, Param, RunTag
from gitexp.mlflow.exceptions import MlflowException
from tests.helpers import cli, git, record, run_refs, show

PY = sys.executable


@pytest.fixture(autouse=True)
def _reset_mlflow_state(monkeypatch: pytest.MonkeyPatch) -> None:
    import gitexp.api as api

    monkeypatch.setattr(api, "_last_run_id", None)
    import gitexp.api_mlflow as api_mlflow

    monkeypatch.setattr(api_mlflow, "_announced", set())
    for var in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)


# -- runs: info, data, last_active_run ---------------------------------------------------------------

def test_active_run_info_and_get_run_data(repo: Path) -> None:
    with mlflow.start_run(run_name="first", tags={"team": "nlp"}) as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optim": "adam"})
        mlflow.log_metric("rmse", 0.5)
        mlflow.log_metric("rmse", 0.4, step=1)
        mlflow.set_tag("stage", "dev")
        info = mlflow.active_run().info
        assert info.run_id == run.info.run_id and len(info.run_id) == 16
        assert info.run_name == "first" and info.experiment_id == "0"
        assert info.status == "RUNNING" and info.end_time is None
        assert isinstance(info.start_time, int) and info.start_time > 1_600_000_000_000
        assert info.artifact_uri == f"gitexp:{repo}/@runs/{info.run_id}/artifacts"
        assert mlflow.active_run().data.tags["team"] == "nlp"
    assert mlflow.active_run() is None
    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time >= got.info.start_time
    assert got.data.params == {"lr": "0.01", "layers": "3", "optim": "adam"}  # text, as in MLflow
    assert got.data.metrics == {"rmse": 0.4}
    assert got.data.tags["team"] == "nlp" and got.data.tags["stage"] == "dev"
    assert got.data.tags["mlflow.runName"] == "first" and got.data.tags["mlflow.user"] == "tester"
    last = mlflow.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"
    # import gitexp keeps its own types: typed params, the same data under .data
    own = gitexp.get_run(run.info.run_id)
    assert own.data.params["lr"] == 0.01 and own.info.run_id == own.id and own.info.experiment_id == "0"
    assert gitexp.last_active_run().id == run.info.run_id


def test_mlflow_steps_default_to_zero_and_log_metrics_step(repo: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 1.0)
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=7)
    hist = MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in hist] == [(0, 1.0), (0, 0.5)]
    assert isinstance(hist[0], Metric) and isinstance(hist[0].timestamp, int)
    assert [m.step for m in MlflowClient().get_metric_history(run.info.run_id, "b")] == [7]
    assert mlflow.get_run(run.info.run_id).data.metrics == {"loss": 0.5, "a": 1.0, "b": 2.0}


def test_start_run_arguments(repo: Path) -> None:
    exp_id = mlflow.create_experiment("Churn Model")
    with mlflow.start_run(experiment_id=exp_id, run_name="parent", description="the sweep",
                          tags={"k": "v"}) as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            assert mlflow.active_run().info.run_id == child.info.run_id
        with pytest.raises(MlflowException):
            mlflow.start_run()  # one already active, not nested
    p, c = mlflow.get_run(parent.info.run_id), mlflow.get_run(child.info.run_id)
    # MLflow puts a nested run without experiment_id in the current experiment, not the parent's
    assert p.info.experiment_id == exp_id and c.info.experiment_id == "0"
    assert p.data.tags["mlflow.note.content"] == "the sweep" and p.data.tags["k"] == "v"
    assert gitexp.get_run(parent.info.run_id).info.description == "the sweep"
    assert c.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert len(run_refs(repo, "churn-model")) == 1
    # gitexp's own API: a nested run goes to its parent's experiment
    with gitexp.start_run(experiment_id=exp_id) as own_parent:
        with gitexp.start_run(nested=True) as own_child:
            pass
    assert gitexp.get_run(own_child.id).experiment == "churn-model" == gitexp.get_run(own_parent.id).experiment


def test_resume_an_ended_run_is_a_new_segment_on_its_ref(repo: Path) -> None:
    with mlflow.start_run(run_name="long") as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", 1.0, step=0)
        mlflow.log_text("v1", "notes.txt")
    run_id = run.info.run_id
    [ref] = run_refs(repo)
    with mlflow.start_run(run_id=run_id) as again:
        assert again.info.run_id == run_id and again.info.status == "RUNNING"
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_param("lr", 0.1)  # the same value again is fine
        mlflow.log_text("more", "extra.txt")
        with pytest.raises(MlflowException):
            mlflow.log_param("lr", 0.2)
    assert run_refs(repo) == [ref]
    subjects = git(repo, "log", "--format=%s", ref).splitlines()
    assert subjects[:4] == ["gitexp: end run long (FINISHED)", "gitexp: resume run long",
                            "gitexp: end run long (FINISHED)", "gitexp: start run long in default"]
    got = mlflow.get_run(run_id)
    assert got.info.status == "FINISHED" and got.data.metrics == {"loss": 0.5}
    assert [m.value for m in MlflowClient().get_metric_history(run_id, "loss")] == [1.0, 0.5]
    assert {f.path for f in MlflowClient().list_artifacts(run_id)} == {"notes.txt", "extra.txt"}
    # gitexp's own API: automatic steps go on after the last one
    with gitexp.start_run(run_id=run_id):
        gitexp.log_metric("loss", 0.25)
    assert gitexp.get_run(run_id).metric_history("loss")[-1][:2] == (2, 0.25)
    live = gitexp.start_run(run_name="live")
    with pytest.raises(gitexp.GitexpError, match="already active"):
        gitexp.start_run(run_id=live.id, nested=True)
    gitexp.end_run()


def test_log_metric_synchronous_and_run_id(repo: Path) -> None:
    with mlflow.start_run() as done:
        pass
    with mlflow.start_run(run_name="outer") as outer:
        with mlflow.start_run(nested=True) as inner:
            mlflow.log_metric("m", 1.0, synchronous=True)
            folder = repo / ".git" / "gitexp" / "active" / inner.info.run_id
            assert any(p.stat().st_size for p in folder.glob("metrics-*.bin"))  # written before returning
            mlflow.log_metric("outer_m", 2.0, run_id=outer.info.run_id)
            mlflow.log_metrics({"x": 3.0}, step=4, run_id=outer.info.run_id)
            mlflow.log_metric("late", 4.0, run_id=done.info.run_id)  # an ended run: a new commit
    assert mlflow.get_run(inner.info.run_id).data.metrics == {"m": 1.0}
    assert mlflow.get_run(outer.info.run_id).data.metrics == {"outer_m": 2.0, "x": 3.0}
    assert mlflow.get_run(done.info.run_id).data.metrics == {"late": 4.0}
    subject = git(repo, "log", "-1", "--format=%s", run_refs(repo)[0] if False else
                  [r for r in run_refs(repo) if r.endswith(done.info.run_id)][0])
    assert subject.strip() == "gitexp: log 1 metric points"


# -- experiments ------------------------------------------------------------------------------------

def test_set_experiment_free_text_names(repo: Path, capsys: pytest.CaptureFixture) -> None:
    exp = mlflow.set_experiment("Wine Quality")
    assert exp.name == "Wine Quality" and exp.experiment_id.isdigit() and len(exp.experiment_id) == 18
    assert "experiment 'Wine Quality' is stored as wine-quality" in capsys.readouterr().err
    again = mlflow.set_experiment(experiment_name="Wine Quality")
    assert again.experiment_id == exp.experiment_id and capsys.readouterr().err == ""  # printed once
    with mlflow.start_run() as run:
        assert mlflow.active_run().info.experiment_id == exp.experiment_id
    assert run_refs(repo, "wine-quality") == [f"refs/gitexp/runs/wine-quality/{run.info.run_id}"]
    stored = git(repo, "show", "refs/gitexp/experiments/wine-quality:experiment.yaml")
    assert "name: Wine Quality" in stored and f"id: '{exp.experiment_id}'" in stored
    users = mlflow.set_experiment("/Users/me/churn")
    assert users.name == "/Users/me/churn" and users.slug == "users-me-churn"
    assert mlflow.set_experiment(experiment_id=exp.experiment_id).name == "Wine Quality"
    # the slug is accepted wherever an experiment is expected
    assert mlflow.get_experiment_by_name("wine-quality").experiment_id == exp.experiment_id
    assert mlflow.get_experiment(exp.experiment_id).name == "Wine Quality"
    with gitexp.start_run(experiment="wine-quality"):
        pass
    assert len(run_refs(repo, "wine-quality")) == 2
    assert len(mlflow.search_runs(experiment_names=["wine-quality"])) == 2
    # a different name with the same slug gets its own slug
    assert mlflow.set_experiment("wine quality").slug == "wine-quality-2"
    with pytest.raises(MlflowException) as err:
        mlflow.create_experiment("Wine Quality")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_default_experiment_is_zero(repo: Path) -> None:
    default = mlflow.get_experiment("0")
    assert (default.name, default.experiment_id) == ("Default", "0")
    assert mlflow.get_experiment_by_name("Default").experiment_id == "0"
    assert mlflow.get_experiment_by_name("Nope") is None
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0" and run_refs(repo, "default")


def test_search_experiments_and_tags(repo: Path) -> None:
    mlflow.set_experiment("Vision A")
    mlflow.set_experiment_tag("team", "vision")
    mlflow.set_experiment_tags({"mlflow.note.content": "image models", "owner": "ann"})
    mlflow.set_experiment("NLP B")
    names = [e.name for e in mlflow.search_experiments()]
    assert set(names) == {"Vision A", "NLP B", "Default"} and names[0] == "NLP B"  # newest update first
    [vision] = mlflow.search_experiments(filter_string="tags.team = 'vision'")
    assert vision.name == "Vision A" and vision.tags == {"team": "vision", "owner": "ann",
                                                         "mlflow.note.content": "image models"}
    assert [e.name for e in mlflow.search_experiments(filter_string="name LIKE '%B'")] == ["NLP B"]
    assert [e.name for e in mlflow.search_experiments(order_by=["name ASC"], max_results=2)] == ["Default", "NLP B"]
    own = gitexp.search_experiments(filter_string="tags.team = 'vision'")[0]
    assert own.description == "image models" and own.slug == "vision-a"
    log = git(repo, "log", "--format=%s", "refs/gitexp/experiments/vision-a").splitlines()
    assert log[-1] == "gitexp: create experiment Vision A" and len(log) == 4


def test_experiments_created_concurrently_get_one_record(repo: Path) -> None:
    script = "import gitexp\nprint(gitexp.set_experiment('Same Name').experiment_id)\n"
    procs = [subprocess.Popen([PY, "-c", script], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({o.strip() for o, _ in outs}) == 1
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/gitexp/experiments").split() == [
        "refs/gitexp/experiments/same-name"]
    git(repo, "fsck", "--strict")


# -- artifacts, images, tables, inputs, URIs ------------------------------------------------------------

@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_log_image_table_input_and_artifact_uri(repo: Path) -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    with mlflow.start_run() as run:
        mlflow.log_image(np.zeros((4, 5, 3), dtype=np.uint8), "images/black.png")
        mlflow.log_image(np.linspace(0, 1, 20).reshape(4, 5), key="gray", step=3)
        mlflow.log_table({"x": [1, 2], "y": ["a", "b"]}, artifact_file="table.json")
        df = pd.DataFrame({"f": [1.0, 2.0], "label": [0, 1]})
        mlflow.log_input(mlflow.data.from_pandas(df, source="data/train.csv", name="train", targets="label"),
                         context="training")
        assert mlflow.get_artifact_uri() == run.info.artifact_uri
        assert mlflow.get_artifact_uri("table.json") == run.info.artifact_uri + "/table.json"
    client = MlflowClient()
    paths = {f.path: f for f in client.list_artifacts(run.info.run_id)}
    assert set(paths) == {"images", "inputs", "table.json"} and paths["images"].is_dir
    [gray] = [f.path for f in client.list_artifacts(run.info.run_id, "images/gray")]
    assert gray.startswith("images/gray/step-3-") and gray.endswith(".png")
    png = Path(client.download_artifacts(run.info.run_id, "images/black.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = json.loads(Path(client.download_artifacts(run.info.run_id, "table.json")).read_text())
    assert table == {"columns": ["x", "y"], "data": [[1, "a"], [2, "b"]]}
    got = mlflow.get_run(run.info.run_id)
    assert json.loads(got.data.tags["mlflow.loggedArtifacts"]) == [{"path": "table.json", "type": "table"}]
    [ds_input] = got.inputs.dataset_inputs
    ds = ds_input.dataset
    assert ds.name == "train" and len(ds.digest) == 8 and ds.source_type == "local"
    assert json.loads(ds.source) == {"uri": "data/train.csv"}
    assert [c["name"] for c in json.loads(ds.schema)["mlflow_colspec"]] == ["f", "label"]
    assert {(t.key, t.value) for t in ds_input.tags} == {("mlflow.data.context", "training")}
    folder = Path(client.download_artifacts(run.info.run_id, "", str(repo.parent / "out")))
    assert (folder / "table.json").is_file() and (folder / "images" / "black.png").is_file()


def test_tracking_uri(repo: Path, tmp_path: Path) -> None:
    assert mlflow.get_tracking_uri() == f"gitexp:{repo}"
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    mlflow.set_tracking_uri(f"gitexp:{other}")
    try:
        assert mlflow.get_tracking_uri() == f"gitexp:{other}" and mlflow.is_tracking_uri_set()
        with mlflow.start_run() as run:
            pass
        assert run_refs(other) and not run_refs(repo)
        assert run.info.artifact_uri.startswith(f"gitexp:{other}/@runs/")
        with pytest.warns(UserWarning, match="ignores the tracking URI 'http://localhost:5000'"):
            mlflow.set_tracking_uri("http://localhost:5000")
        assert mlflow.get_tracking_uri() == f"gitexp:{other}"
    finally:
        gitexp.set_repository(repo)


# -- search_runs ------------------------------------------------------------------------------------

def _three_runs() -> list[str]:
    ids = []
    for name, lr, acc in (("a", 0.1, 0.7), ("b", 0.01, 0.9), ("c", 0.001, 0.8)):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_param("lr", lr)
            mlflow.log_metric("acc", acc)
        ids.append(run.info.run_id)
    return ids


def test_search_runs_dataframe_and_list(repo: Path) -> None:
    pd = pytest.importorskip("pandas")
    mlflow.set_experiment("Search Me")
    ids = _three_runs()
    df = mlflow.search_runs()
    assert isinstance(df, pd.DataFrame) and list(df["run_id"]) == ids[::-1]  # newest first
    assert list(df.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert str(df["start_time"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(df["start_time"].dtype)
    assert list(df["params.lr"]) == ["0.001", "0.01", "0.1"] and "tags.mlflow.runName" in df.columns
    exp_id = mlflow.get_experiment_by_name("Search Me").experiment_id
    best = mlflow.search_runs(experiment_ids=[exp_id], filter_string="metrics.acc > 0.75",
                              order_by=["metrics.acc DESC"], max_results=1)
    assert list(best["tags.mlflow.runName"]) == ["b"]
    runs = mlflow.search_runs(experiment_names=["Search Me"], filter_string="params.lr = '0.01'",
                              output_format="list")
    assert [r.info.run_id for r in runs] == [ids[1]] and runs[0].data.params["lr"] == "0.01"
    by_attr = mlflow.search_runs(filter_string=f"attributes.run_id = '{ids[0]}' and attributes.status = 'FINISHED'",
                                 output_format="list")
    assert [r.info.run_name for r in by_attr] == ["a"]
    assert mlflow.search_runs(filter_string="tags.mlflow.runName = 'c'", output_format="list")[0].info.run_id == ids[2]
    assert mlflow.search_runs(experiment_ids=["0"]).empty  # nothing in the default experiment
    assert len(mlflow.search_runs(search_all_experiments=True)) == 3
    # import gitexp keeps its own result type
    own = gitexp.search_runs(experiment_names=["Search Me"], order_by="metrics.acc DESC")
    assert [r.name for r in own] == ["b", "c", "a"] and own[0].params["lr"] == 0.01


# -- MlflowClient -----------------------------------------------------------------------------------

def test_mlflow_client_run_level_calls(repo: Path) -> None:
    client = gitexp.MlflowClient()
    assert gitexp.MlflowClient is MlflowClient
    exp_id = client.create_experiment("Client Exp", tags={"t": "1"})
    assert client.get_experiment_by_name("Client Exp").experiment_id == exp_id
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run() as run:
        rid = run.info.run_id
        client.log_metric(rid, "m", 1.5, step=2)
        client.log_param(rid, "p", 7)
        client.set_tag(rid, "t", "x")
        client.log_batch(rid, metrics=[Metric("b", 2.0, 1_700_000_000_000, 0)], params=[Param("q", "z")],
                         tags=[RunTag("u", "w")])
        mlflow.log_text("hello", "dir/hello.txt")
    got = client.get_run(rid)
    assert got.data.metrics == {"m": 1.5, "b": 2.0} and got.data.params == {"p": "7", "q": "z"}
    assert got.data.tags["t"] == "x" and got.data.tags["u"] == "w"
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "m")] == [(2, 1.5)]
    assert [(f.path, f.is_dir) for f in client.list_artifacts(rid)] == [("dir", True)]
    assert [(f.path, f.file_size) for f in client.list_artifacts(rid, "dir")] == [("dir/hello.txt", 5)]
    assert Path(client.download_artifacts(rid, "dir/hello.txt")).read_text() == "hello"
    found = client.search_runs([exp_id], "params.p = '7'")
    assert [r.info.run_id for r in found] == [rid] and found.token is None
    # an ended run: logging and terminating are new commits on its ref
    client.log_metric(rid, "after", 3.0)
    client.set_terminated(rid, "FAILED")
    assert client.get_run(rid).info.status == "FAILED" and client.get_run(rid).data.metrics["after"] == 3.0
    # a run active in this process: set_terminated ends it
    live = mlflow.start_run()
    client.set_terminated(live.info.run_id)
    assert mlflow.active_run() is None and client.get_run(live.info.run_id).info.status == "FINISHED"
    with pytest.raises(MlflowException) as err:
        client.get_run("nope-nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST" and isinstance(err.value, gitexp.GitexpError)
    with pytest.raises(MlflowException, match="not supported"):
        client.create_registered_model("m")


def test_from_mlflow_tracking_import_and_autolog(repo: Path) -> None:
    from gitexp.mlflow.tracking import MlflowClient as C

    assert C is MlflowClient
    with pytest.warns(UserWarning, match="autolog does nothing"):
        mlflow.autolog()


# -- keys ---------------------------------------------------------------------------------------------

def test_keys_as_mlflow_allows_them(repo: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("val:loss", 0.5)
        mlflow.log_param("größe", 3)
        mlflow.set_tag("日本", "ja")
        for bad in (".git/x", "a/.GIT/b", "a@b", "a\nb"):
            with pytest.raises(MlflowException):
                mlflow.log_param(bad, 1)
    got = mlflow.get_run(run.info.run_id)
    assert got.data.metrics == {"val:loss": 0.5} and got.data.params == {"größe": "3"}
    assert got.data.tags["日本"] == "ja"
    assert show(repo, run_refs(repo)[0], ".gitexp/metrics/val:loss.tsv").startswith("step\tvalue\ttimestamp")
    git(repo, "fsck", "--strict")
    assert [r.name for r in gitexp.search_runs("params.größe = 3 and metrics.`val:loss` < 1")] == [run.info.run_name]


# -- gitexp run: one child run per start_run block ------------------------------------------------------

@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_gitexp_run_records_one_child_run_per_block(repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent("""\
        import gitexp.mlflow as mlflow
        mlflow.log_param("sweep", "grid")  # no start_run: logs into the wrapper run
        for lr in (0.1, 0.01):
            with mlflow.start_run(run_name=f"trial-{lr}"):
                mlflow.log_param("lr", lr)
                mlflow.log_metric("loss", lr * 10)
        with mlflow.start_run():
            mlflow.log_param("lr", 0.5)
        print("done")
    """))
    proc = cli("run", "-e", "sweeps", "-n", "wrapper", "--", PY, str(script), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    refs = run_refs(repo, "sweeps")
    assert len(refs) == 4
    infos = {record(repo, r)["name"]: (r, record(repo, r)) for r in refs}
    wrapper_ref, wrapper = infos.pop("wrapper")
    assert record(repo, wrapper_ref, "params.yaml") == {"sweep": "grid"}
    assert {"trial-0.1", "trial-0.01"} <= set(infos)
    for ref, info in infos.values():
        assert info["parent_run"] == wrapper["id"] and info["status"] == "FINISHED"
        assert "sweep" not in record(repo, ref, "params.yaml")
    assert record(repo, infos["trial-0.01"][0], "params.yaml") == {"lr": 0.01}


def test_parent_delete_run_experiment_tag_and_load_table(repo: Path) -> None:
    pytest.importorskip("pandas")
    mlflow.set_experiment("Tables")
    mlflow.set_experiment_tag("drop", "me")
    mlflow.delete_experiment_tag("drop")
    assert mlflow.get_experiment_by_name("Tables").tags == {}
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            mlflow.log_table({"x": [1, 2]}, "t.json")
        mlflow.log_table({"x": [3]}, "t.json")
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert mlflow.get_parent_run(parent.info.run_id) is None
    df = mlflow.load_table("t.json", extra_columns=["run_id"])
    assert sorted(df["x"]) == [1, 2, 3] and set(df["run_id"]) == {parent.info.run_id, child.info.run_id}
    mlflow.delete_run(child.info.run_id)
    with pytest.raises(MlflowException):
        mlflow.get_run(child.info.run_id)
