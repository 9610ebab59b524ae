"""The same MLflow script against the real mlflow package and against gitexp.mlflow: same observations.

Run with `pip install mlflow && python -m pytest -q -m interop` (deselected by nothing, skipped
without mlflow). Each side runs in its own subprocess, so MLflow's global state stays out of
the test process; MLflow uses its file store in a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

SCENARIO = textwrap.dedent('''
    import json, sys, warnings
    warnings.simplefilter("ignore")
    if sys.argv[1] == "mlflow":
        import mlflow
        from mlflow import MlflowClient
        mlflow.set_tracking_uri(sys.argv[2])
    else:
        import gitexp.mlflow as mlflow
        from gitexp.mlflow import MlflowClient
    obs = {}
    obs["default"] = [mlflow.get_experiment_by_name("Default").experiment_id, mlflow.get_experiment("0").name]
    exp = mlflow.set_experiment("Wine Quality")
    obs["exp"] = [exp.name, exp.experiment_id.isdigit(), type(exp.experiment_id).__name__]
    with mlflow.start_run(run_name="first", tags={"team": "nlp"}, description="note") as run:
        info = mlflow.active_run().info
        obs["active"] = [info.run_id == run.info.run_id, info.run_name, info.experiment_id == exp.experiment_id,
                         info.status, type(info.start_time).__name__, info.end_time]
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "flag": True, "none": None})
        mlflow.log_metric("loss", 1.0)
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metric("acc", 0.7, step=3)
        mlflow.log_metrics({"a": 1.0, "b": 2}, step=2)
        mlflow.log_metric("val:loss", 0.2)
        mlflow.set_tag("stage", "dev")
        mlflow.log_dict({"k": 1}, "d/conf.json")
        mlflow.log_table({"x": [1, 2], "y": ["a", "b"]}, artifact_file="table.json")
        with mlflow.start_run(run_name="child", nested=True) as child:
            pass
        obs["stale_status"] = run.info.status
    run_id = run.info.run_id
    got = mlflow.get_run(run_id)
    obs["info"] = [got.info.status, got.info.run_name, type(got.info.end_time).__name__,
                   got.info.end_time >= got.info.start_time, got.info.lifecycle_stage]
    obs["params"] = got.data.params
    obs["metrics"] = got.data.metrics
    tags = got.data.tags
    obs["tags"] = {k: tags[k] for k in ("team", "stage", "mlflow.runName", "mlflow.note.content")}
    obs["logged_artifacts"] = json.loads(tags["mlflow.loggedArtifacts"])
    c = mlflow.get_run(child.info.run_id)
    obs["child"] = [c.data.tags["mlflow.parentRunId"] == run_id, c.info.experiment_id == exp.experiment_id]
    client = MlflowClient()
    obs["history"] = [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]
    obs["artifacts"] = sorted((f.path, f.is_dir) for f in client.list_artifacts(run_id))
    obs["artifacts_d"] = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "d")]
    obs["last"] = mlflow.last_active_run().info.run_id == run_id
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metric("loss", 0.25, step=5)
    again = mlflow.get_run(run_id)
    obs["resumed"] = [again.info.status, again.data.metrics["loss"], len(client.get_metric_history(run_id, "loss"))]
    client.log_metric(run_id, "after", 9.0)
    client.set_tag(run_id, "late", "yes")
    client.log_param(run_id, "late_p", 1)
    client.set_terminated(run_id, "FAILED")
    end = client.get_run(run_id)
    obs["client"] = [end.info.status, end.data.metrics["after"], end.data.tags["late"], end.data.params["late_p"]]
    df = mlflow.search_runs()
    obs["frame"] = [list(df.columns[:6]), len(df), str(df["start_time"].dtype).startswith("datetime64"),
                    sorted(c for c in df.columns if c.startswith("params."))]
    lst = mlflow.search_runs(experiment_names=["Wine Quality"], filter_string="params.lr = '0.01'",
                             order_by=["metrics.acc DESC"], max_results=5, output_format="list")
    obs["search_list"] = [r.info.run_id == run_id for r in lst]
    obs["search_ids"] = len(mlflow.search_runs(experiment_ids=[exp.experiment_id]))
    obs["search_default"] = len(mlflow.search_runs(experiment_ids=["0"]))
    mlflow.set_experiment_tag("owner", "ann")
    found = mlflow.search_experiments(filter_string="tags.owner = 'ann'")
    obs["search_exp"] = [e.name for e in found]
    obs["by_name_missing"] = mlflow.get_experiment_by_name("Nope")
    obs["create"] = type(mlflow.create_experiment("Other Exp")).__name__
    try:
        mlflow.create_experiment("Other Exp")
        obs["dup"] = None
    except Exception as exc:
        obs["dup"] = [type(exc).__name__, getattr(exc, "error_code", None)]
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_param("lr", 0.5)
        obs["param_change"] = None
    except Exception as exc:
        obs["param_change"] = type(exc).__name__
    mlflow.end_run()
    print("OBS" + json.dumps(obs, sort_keys=True))
''')


def _observe(flavor: str, cwd: Path, uri: str = "") -> dict:
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "GIT_PYTHON_REFRESH": "quiet"}
    proc = subprocess.run([sys.executable, "-c", SCENARIO, flavor, uri], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("OBS")][-1]
    return json.loads(line[3:])


def test_gitexp_mlflow_behaves_as_mlflow(repo: Path, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    plain = tmp_path / "plain"
    plain.mkdir()
    real = _observe("mlflow", plain, store.as_uri())
    ours = _observe("gitexp", repo)
    assert ours == real
