"""gitexp as an MLflow tracking backend: real MLflow scripts, a real `mlflow server` with its
default 4 workers (reads and concurrent writes over REST), MLflow 3 logged models."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cli, git
from tests.test_ui_browser import browser  # noqa: F401 (the fixture)
from tests.uihelpers import isolated_env

pytestmark = pytest.mark.interop
mlflow = pytest.importorskip("mlflow", reason="the MLflow plugin tests need mlflow: pip install -e '.[mlflow]'")

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

SKLEARN = textwrap.dedent('''
    import mlflow, numpy as np
    from sklearn.linear_model import LogisticRegression
    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    mlflow.sklearn.autolog()
    with mlflow.start_run(run_name="auto") as auto:
        LogisticRegression().fit(X, y)
    mlflow.sklearn.autolog(disable=True)
    fitted = LogisticRegression(C=0.5).fit(X, y)
    with mlflow.start_run(run_name="manual") as run:
        info = mlflow.sklearn.log_model(fitted, name="model", input_example=X[:2])
    assert info.model_uri.startswith("models:/m-"), info.model_uri
    want = list(fitted.predict(X))
    for uri in (f"runs:/{run.info.run_id}/model", info.model_uri, f"runs:/{auto.info.run_id}/model"):
        assert list(mlflow.pyfunc.load_model(uri).predict(X)) == want, uri
    loose = mlflow.sklearn.log_model(fitted, name="loose")  # outside any run
    assert list(mlflow.pyfunc.load_model(loose.model_uri).predict(X)) == want
    got = mlflow.get_run(auto.info.run_id)
    assert "training_accuracy_score" in got.data.metrics and got.data.params["C"] == "1.0", got.data
    assert got.inputs.dataset_inputs, got.inputs
    found = mlflow.search_logged_models(experiment_ids=["0"], filter_string="name = 'model'", output_format="list")
    assert {m.source_run_id for m in found} == {run.info.run_id, auto.info.run_id}, found
    assert all(str(m.status) == "READY" for m in found)
    print(json.dumps({"auto": auto.info.run_id, "manual": run.info.run_id, "model": info.model_id,
                      "loose": loose.model_id}))
''').replace("import mlflow, numpy", "import json, mlflow, numpy")

CLIENT = textwrap.dedent('''
    import sys, threading
    from mlflow import MlflowClient
    exp, shared, points, me = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    c = MlflowClient()
    own = c.create_run(exp, run_name=f"client-{me}").info.run_id
    def log(run, key):
        for i in range(points):
            c.log_metric(run, key, i * 1.0, step=i)
    threads = [threading.Thread(target=log, args=(own, f"m{k}")) for k in range(3)]
    threads.append(threading.Thread(target=log, args=(shared, f"from-{me}")))
    [t.start() for t in threads]
    [t.join() for t in threads]
    c.log_param(own, "who", me)
    c.set_terminated(own)
    print(own)
''')


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **isolated_env(home), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
            **extra}


def _python(code: str, cwd: Path, env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _show(repo: Path, run: str) -> dict:
    out = cli("show", run, "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _history(repo: Path, run: dict, key: str) -> list[str]:
    ref = f"refs/gitexp/runs/{run['experiment']}/{run['id']}"
    return git(repo, "show", f"{ref}:.gitexp/metrics/{key}.tsv").splitlines()[1:]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str, dict]]:
    """(repository written by the quickstart, the REST base of `mlflow server` over it, run id, env)."""
    home = tmp_path_factory.mktemp("home")
    repo = tmp_path_factory.mktemp("plugin") / "repo"
    repo.mkdir()
    env = _env(home)
    git(repo, "init", "-q")
    run_id = _python(QUICKSTART, repo, {**env, "MLFLOW_TRACKING_URI": "gitexp:"})
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"gitexp:{repo}",
                               "--host", "127.0.0.1", "--port", str(port)], cwd=repo.parent, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow/"
    try:
        for _ in range(480):
            try:
                _call(base, "experiments/search", {"max_results": 1})
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start")
        yield repo, base, run_id, env
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def test_quickstart_writes_gitexp_runs(served) -> None:
    repo, _base, run_id, _env_ = served
    listed = json.loads(cli("ls", "-e", "wine-quality", "--json", cwd=repo).stdout)
    assert sorted(r["name"] for r in listed) == ["kid", "quick"]
    shown = _show(repo, run_id)
    assert {a["path"] for a in shown["artifacts"]} == {"outs/a.txt", "conf.json"}
    assert shown["tags"]["team"] == "nlp" and shown["params"] == {"lr": 0.01}
    assert [float(line.split("\t")[1]) for line in _history(repo, shown, "loss")] == [1, 0.5, 1 / 3, 0.25, 0.2]
    kid = _show(repo, "kid")["info"]
    assert kid["parent_run"] == run_id and kid["status"] == "FINISHED"


def test_mlflow_server_serves_the_repository(served) -> None:
    repo, base, run_id, _env_ = served
    exps = _call(base, "experiments/search", {"max_results": 100})
    names = {e["name"]: e["experiment_id"] for e in exps["experiments"]}
    assert "Wine Quality" in names and names.get("Default") == "0"
    runs = _call(base, "runs/search", {"experiment_ids": [names["Wine Quality"]]})["runs"]
    assert {r["info"]["run_name"] for r in runs} >= {"quick", "kid"}
    kid = next(r for r in runs if r["info"]["run_name"] == "kid")
    assert {t["key"]: t["value"] for t in kid["data"]["tags"]}["mlflow.parentRunId"] == run_id
    for text in (f"attributes.run_id IN ('{run_id}')", "attributes.run_name RLIKE 'qu.*'",
                 "metrics.loss < 1 and params.lr = \"0.01\""):
        filtered = _call(base, "runs/search", {"experiment_ids": [names["Wine Quality"]], "filter": text})["runs"]
        assert [r["info"]["run_id"] for r in filtered] == [run_id], text
    got = _call(base, f"runs/get?run_id={run_id}")["run"]
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"lr": "0.01"}
    hist = _call(base, f"metrics/get-history?run_id={run_id}&metric_key=loss")["metrics"]
    assert [m["step"] for m in hist] == [0, 1, 2, 3, 4]
    arts = _call(base, f"artifacts/list?run_id={run_id}")["files"]
    assert {f["path"] for f in arts} == {"conf.json", "outs"}
    versions = _call(base, f"model-versions/search?filter=run_id%3D%27{run_id}%27")
    assert versions.get("model_versions", []) == []
    with urllib.request.urlopen(f"{base.split('/api/')[0]}/get-artifact?path=outs/a.txt&run_uuid={run_id}",
                                timeout=60) as resp:
        assert resp.read() == b"hi"


def test_concurrent_rest_clients_lose_nothing(served) -> None:
    """Two client processes, four threads each, through the server's 4 workers: own runs and one shared run."""
    repo, base, _run_id, env = served
    exp = _call(base, "experiments/create", {"name": "served"})["experiment_id"]
    shared = _call(base, "runs/create", {"experiment_id": exp, "run_name": "shared"})["run"]["info"]["run_id"]
    client_env = {**env, "MLFLOW_TRACKING_URI": base.split("/api/")[0]}
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, exp, shared, "15", str(n)], cwd=repo.parent,
                              env=client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in (1, 2)]
    own = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-4000:]
        own.append(out.strip().splitlines()[-1])
    _call(base, "runs/update", {"run_id": shared, "status": "FINISHED"})
    for n, run in enumerate(own, 1):
        shown = _show(repo, run)
        assert shown["info"]["status"] == "FINISHED" and shown["params"] == {"who": n}
        for key in ("m0", "m1", "m2"):
            assert [line.split("\t")[0] for line in _history(repo, shown, key)] == [str(i) for i in range(15)]
    shown = _show(repo, shared)
    assert shown["info"]["status"] == "FINISHED"
    for n in (1, 2):
        assert len(_history(repo, shown, f"from-{n}")) == 15
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())  # every run ended and cleaned up
    fsck = subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_sklearn_autolog_log_model_and_load(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the autolog and log_model script needs scikit-learn")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    ids = json.loads(_python(SKLEARN, repo, _env(tmp_path / "home", MLFLOW_TRACKING_URI="gitexp:")))
    manual = _show(repo, ids["manual"])
    paths = {a["path"] for a in manual["artifacts"]}
    base = f"models/{ids['model']}"
    assert {f"{base}/meta.yaml", f"{base}/artifacts/MLmodel"} <= paths
    meta = git(repo, "show", f"refs/gitexp/runs/default/{ids['manual']}:.gitexp/artifacts/{base}/meta.yaml")
    assert "status: READY" in meta and f"source_run_id: {ids['manual']}" in meta
    auto = _show(repo, ids["auto"])
    assert auto["info"]["status"] == "FINISHED" and "training_accuracy_score" in auto["metrics"]
    assert any(a["path"].startswith("inputs/") for a in auto["artifacts"])
    # gitexp's registry tags, read as MLflow's registry (what run pages and model pages ask)
    assert cli("models", "register", "churn", ids["manual"], "--artifact", f"{base}/artifacts/MLmodel",
               cwd=repo).returncode == 0
    assert cli("models", "assign", "churn", "v0.0.1", "-s", "prod", cwd=repo).returncode == 0
    client = mlflow.MlflowClient(f"gitexp:{repo}", registry_uri=f"gitexp:{repo}")
    [version] = client.search_model_versions(f"run_id='{ids['manual']}'")
    assert (version.name, version.version, version.aliases) == ("churn", "v0.0.1", ["prod"])
    assert version.source == f"runs:/{ids['manual']}/{base}/artifacts/MLmodel"
    assert client.get_registered_model("churn").aliases == {"prod": "v0.0.1"}
    assert client.search_model_versions(f"run_id='{ids['auto']}'") == []
    holder = ids["loose"][2:18]  # a model logged outside any run gets a run of its own
    assert _show(repo, holder)["info"]["status"] == "FINISHED"
    fsck = subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_surfaces_gitexp_does_not_hold_say_so(tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _get_store

    git(tmp_path, "init", "-q")
    store = _get_store(f"gitexp:{tmp_path}")
    for call in (lambda: store.search_traces(["0"]), lambda: store.list_gateway_endpoints(),
                 lambda: store.delete_run("x")):
        with pytest.raises(MlflowException) as err:
            call()
        assert err.value.error_code == "NOT_IMPLEMENTED" and "not supported by the gitexp store" in err.value.message
    with pytest.raises(MlflowException) as err:
        store.get_run("nosuchrun")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "\n" not in err.value.message


@pytest.mark.browser
def test_mlflow_ui_shows_the_runs_and_a_metric_chart(served, browser) -> None:  # noqa: F811 (the fixture)
    """MLflow's own UI over the repository in headless Chromium: the experiment's runs table and a
    run page with its metric chart (line chart: the last value carries its step)."""
    from tests.test_ui_browser import shot, wait

    _repo, base, run_id, _env_ = served
    ui = base.split("/api/")[0]
    exps = _call(base, "experiments/search", {"max_results": 100})["experiments"]
    exp = next(e["experiment_id"] for e in exps if e["name"] == "Wine Quality")
    browser.get(f"{ui}/#/experiments/{exp}")
    wait(browser, "document.body.innerText.includes('Wine Quality')", 120)
    browser.get(f"{ui}/#/experiments/{exp}/runs")
    wait(browser, "document.body.innerText.includes('quick')", 120)
    shot(browser, "mlflow-runs")
    browser.get(f"{ui}/#/experiments/{exp}/runs/{run_id}/model-metrics")
    wait(browser, "document.body.innerText.includes('loss') && document.querySelector('.js-plotly-plot')", 120)
    shot(browser, "mlflow-run-metrics")
    assert "Can't load run details" not in browser.execute_script("return document.body.innerText")


OTHER_PROCESS = textwrap.dedent('''
    import sys, mlflow
    c = mlflow.MlflowClient(sys.argv[1])
    c.log_metric(sys.argv[2], "a", 2.0, step=1)
    c.set_terminated(sys.argv[2])
    print("ended")
''')


def test_any_process_logs_to_and_ends_a_run(tmp_path: Path) -> None:
    """What the server's workers do: a run created in one process, logged to and ended in another;
    a later write from the first process lands in the run's commit."""
    from mlflow.entities import Metric
    from mlflow.tracking._tracking_service.utils import _get_store

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    store = _get_store(f"gitexp:{repo}")
    run_id = store.create_run("0", "u", 0, [], "shared").info.run_id
    store.log_batch(run_id, [Metric("a", 1.0, 0, 0)], [], [])
    _python(OTHER_PROCESS, repo, _env(tmp_path / "home"), f"gitexp:{repo}", run_id)
    assert store.get_run(run_id).info.status == "FINISHED"
    store.log_batch(run_id, [Metric("a", 3.0, 0, 2)], [], [])
    shown = _show(repo, run_id)
    assert [float(line.split("\t")[1]) for line in _history(repo, shown, "a")] == [1.0, 2.0, 3.0]
    assert shown["info"]["status"] == "FINISHED"
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())
