"""gitexp as an MLflow tracking backend: real MLflow scripts and a real `mlflow server`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import cli, git

pytestmark = pytest.mark.interop
mlflow = pytest.importorskip("mlflow")

QUICKSTART = textwrap.dedent('''
    import os, mlflow
    mlflow.set_experiment("Wine Quality")
    with mlflow.start_run(run_name="quick") as run:
        mlflow.log_param("lr", 0.01)
        for i in range(5):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        mlflow.set_tag("team", "nlp")
        os.makedirs("out", exist_ok=True)
        open("out/a.txt", "w").write("hi")
        mlflow.log_artifacts("out", "outs")
        mlflow.log_dict({"k": 1}, "conf.json")
        with mlflow.start_run(run_name="kid", nested=True):
            mlflow.log_metric("acc", 0.5)
    c = mlflow.MlflowClient()
    assert [m.value for m in c.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1/3, 0.25, 0.2]
    df = mlflow.search_runs(experiment_names=["Wine Quality"],
                            filter_string="metrics.loss < 0.5 and params.lr = '0.01'")
    assert list(df["run_id"]) == [run.info.run_id]
    print(run.info.run_id)
''')


@pytest.fixture
def plugin_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    env = {**os.environ, "MLFLOW_TRACKING_URI": "gitexp:"}
    out = subprocess.run([sys.executable, "-c", QUICKSTART], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (repo / "run_id").write_text(out.stdout.strip().splitlines()[-1])
    return repo


def test_quickstart_writes_gitexp_runs(plugin_repo: Path) -> None:
    run_id = (plugin_repo / "run_id").read_text()
    listed = json.loads(cli("ls", "-e", "wine-quality", "--json", cwd=plugin_repo).stdout)
    assert sorted(r["name"] for r in listed) == ["kid", "quick"]
    shown = json.loads(cli("show", run_id, "--json", cwd=plugin_repo).stdout)
    text = json.dumps(shown)
    assert "outs/a.txt" in text and "conf.json" in text and "nlp" in text
    kid = next(r for r in listed if r["name"] == "kid")
    assert json.dumps(kid).count(run_id) >= 0  # nested: parent recorded (checked through MLflow below)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_mlflow_server_serves_the_repository(plugin_repo: Path) -> None:
    run_id = (plugin_repo / "run_id").read_text()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"gitexp:{plugin_repo}",
                               "--host", "127.0.0.1", "--port", str(port)], cwd=plugin_repo,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow/"
    try:
        for _ in range(240):
            try:
                exps = _get(base, "experiments/search", {"max_results": 100})
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start")
        names = {e["name"]: e["experiment_id"] for e in exps["experiments"]}
        assert "Wine Quality" in names and "Default" in names
        runs = _get(base, "runs/search", {"experiment_ids": [names["Wine Quality"]]})["runs"]
        assert {r["info"]["run_name"] for r in runs} == {"quick", "kid"}
        kid = next(r for r in runs if r["info"]["run_name"] == "kid")
        assert {t["key"]: t["value"] for t in kid["data"]["tags"]}["mlflow.parentRunId"] == run_id
        filtered = _get(base, "runs/search", {"experiment_ids": [names["Wine Quality"]],
                                              "filter": f"attributes.run_id IN ('{run_id}')"})["runs"]
        assert [r["info"]["run_id"] for r in filtered] == [run_id]
        got = _get(base, f"runs/get?run_id={run_id}")["run"]
        assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"lr": "0.01"}
        hist = _get(base, f"metrics/get-history?run_id={run_id}&metric_key=loss")["metrics"]
        assert [m["step"] for m in hist] == [0, 1, 2, 3, 4]
        arts = _get(base, f"artifacts/list?run_id={run_id}")["files"]
        assert {f["path"] for f in arts} == {"conf.json", "outs"}
        versions = _get(base, f"model-versions/search?filter=run_id%3D%27{run_id}%27")
        assert versions.get("model_versions", []) == []
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
