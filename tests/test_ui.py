"""The web UI's server without a browser: JSON endpoints, pages, escaping, Host check, artifacts, CSRF, export."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette 1.x suggests httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from gitexp.ui.app import UIConfig, create_app  # noqa: E402
from gitexp.ui.data import LINE_BUCKETS, to_json  # noqa: E402
from tests.helpers import git, invoke, loaded_by  # noqa: E402
from tests.uihelpers import XSS, build_in_subprocess_env, isolated_env  # noqa: E402

BASE = "http://127.0.0.1:5050"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The UI test repository, made once; each test works on a copy."""
    base = tmp_path_factory.mktemp("uitemplate")
    ids = build_in_subprocess_env(base / "repo", isolated_env(tmp_path_factory.mktemp("home")))
    return base / "repo", ids


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: tuple[Path, dict[str, str]]) -> Path:
    """A copy of the template repository, as the current folder and the API's repository."""
    import gitexp.api as api

    path = tmp_path / "repo"
    shutil.copytree(template[0], path, symlinks=True)
    monkeypatch.chdir(path)
    monkeypatch.setattr(api, "_repo_path", str(path))
    monkeypatch.setattr(api, "_experiment", None)
    yield path
    api._end_all("FINISHED")


@pytest.fixture
def ids(repo: Path, template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return template[1]


def client(repo: Path, **kw: object) -> TestClient:
    return TestClient(create_app(UIConfig(repo=str(repo), **kw)), base_url=BASE)  # type: ignore[arg-type]


@pytest.fixture
def web(repo: Path, ids: dict[str, str]) -> TestClient:
    return client(repo)


# -- runs table -----------------------------------------------------------------------------------

def test_runs_json_lists_filters_sorts_and_pages(web: TestClient, ids: dict[str, str]) -> None:
    body = web.get("/api/runs").json()
    assert body["total"] == 3 and {r["name"] for r in body["rows"]} == {"alpha", "beta", XSS}
    assert "metrics.acc" in body["keys"]["metrics"] and "tags.team" in body["keys"]["tags"]
    body = web.get("/api/runs", params={"filter": "params.opt = 'sgd'"}).json()
    assert [r["name"] for r in body["rows"]] == ["beta"]
    body = web.get("/api/runs", params={"sort": "-metrics.acc", "columns": "metrics.acc,params.lr"}).json()
    assert [r["name"] for r in body["rows"]] == ["alpha", "beta", XSS]  # missing values last
    assert body["columns"] == ["metrics.acc", "params.lr"] and body["rows"][0]["values"]["params.lr"] == 0.1
    page = web.get("/api/runs", params={"sort": "name", "offset": 1, "limit": 1}).json()
    assert page["total"] == 3 and len(page["rows"]) == 1 and page["offset"] == 1


def test_filter_error_has_the_caret(web: TestClient) -> None:
    response = web.get("/api/runs", params={"filter": "metrics.acc >"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "position 13" in error["message"] and error["pointer"].splitlines()[1] == " " * 13 + "^"


def test_running_runs_are_counted_for_live_refresh(repo: Path, ids: dict[str, str]) -> None:
    import gitexp

    run = gitexp.start_run(run_name="live")
    gitexp.log_metric("loss", 0.25, step=0)
    gitexp.flush()
    try:
        body = client(repo).get("/api/runs", params={"filter": "attributes.status = 'RUNNING'",
                                                     "columns": "metrics.loss"}).json()
        assert body["running"] == 1 and body["rows"][0]["values"]["metrics.loss"] == 0.25
    finally:
        gitexp.end_run()
    assert run.id


# -- pages and escaping -----------------------------------------------------------------------------

def test_pages_escape_every_value(web: TestClient, ids: dict[str, str]) -> None:
    pages = [web.get("/"), web.get(f"/run/{ids['evil']}"),
             web.get("/compare", params={"runs": ",".join(ids.values())})]
    for response in pages:
        assert response.status_code == 200, response.text
        html = response.text
        assert "<script>window" not in html and "<img src=x" not in html
        assert 'href="javascript:' not in html
        # the only <script> elements are ours: data blocks and files under /static
        for tag in re.findall(r"<script[^>]*>", html):
            assert tag.startswith('<script type="application/json"') or 'src="/static/' in tag, tag
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in pages[1].text
    csp = pages[0].headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_embedded_json_cannot_end_its_script_element() -> None:
    text = to_json({"a": "</script><!-- x & y", "nan": float("nan"), "inf": float("-inf")})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- x & y", "nan": "NaN", "inf": "-Infinity"}


def test_run_page_shows_info_artifacts_log_and_code(web: TestClient, ids: dict[str, str]) -> None:
    html = web.get(f"/run/{ids['beta']}").text
    for text in ("beta", "FINISHED", "notes.txt", "img/red.png", "train.py", "lr = 0.01  # tuned", "team"):
        assert text in html, text
    data = web.get(f"/api/run/{ids['beta']}").json()
    assert data["metric_keys"] == ["acc", "loss"] and data["code"]["files"][0]["path"] == "train.py"


def test_histories_are_thinned_for_drawing(repo: Path, ids: dict[str, str]) -> None:
    import gitexp

    with gitexp.start_run(run_name="long") as run:
        gitexp.log_metrics({"x": 0.0}, step=0)
        for step in range(1, 20_000):
            gitexp.log_metric("x", float(step % 97), step=step)
    body = client(repo).get("/api/histories", params={"runs": run.id}).json()
    line = body["runs"][0]["metrics"]["x"]
    steps, values = line["step"], line["value"]
    assert LINE_BUCKETS[1] < len(steps) <= 2 * LINE_BUCKETS[1] + 2 and steps[0] == 0 and steps[-1] == 19_999
    assert max(values) == 96.0 and min(values) == 0.0 and len(line["time"]) == len(steps)
    assert all(v == float(s % 97) for s, v in zip(steps, values))  # recorded points, not averages
    exact = client(repo).get("/api/histories", params={"runs": run.id, "points": 0}).json()["runs"][0]["metrics"]["x"]
    assert exact["step"] == list(range(20_000)) and exact["value"][1:] == [float(s % 97) for s in range(1, 20_000)]
    assert len(exact["time"]) == 20_000 and exact["time"] == sorted(exact["time"])


def test_compare_json_and_code_diff(web: TestClient, ids: dict[str, str]) -> None:
    cmp = web.get("/api/compare", params={"runs": f"{ids['alpha']},{ids['beta']}"}).json()
    lr = next(r for r in cmp["rows"] if r["key"] == "lr")
    assert lr["values"] == [0.1, 0.01] and lr["differs"]
    assert not next(r for r in cmp["rows"] if r["key"] == "layers")["differs"]
    diff = web.get("/api/codediff", params={"a": ids["alpha"], "b": ids["beta"]}).json()
    assert [f["path"] for f in diff["files"]] == ["train.py"] and "+lr = 0.01" in diff["files"][0]["text"]
    assert web.get("/api/compare", params={"runs": ids["alpha"]}).status_code == 400
    assert web.get("/api/run/nosuchrun").status_code == 404


# -- security -------------------------------------------------------------------------------------

def test_foreign_host_header_is_refused(web: TestClient) -> None:
    for host in ("evil.example", "evil.example:5050", "127.0.0.1.evil.example"):
        response = web.get("/api/runs", headers={"host": host})
        assert response.status_code == 421 and "not served here" in response.text
    for host in ("127.0.0.1:5050", "localhost:5050", "localhost", "[::1]:5050"):
        assert web.get("/api/experiments", headers={"host": host}).status_code == 200, host


def test_bound_to_every_interface_any_host_is_served(repo: Path, ids: dict[str, str]) -> None:
    assert client(repo, host="0.0.0.0").get("/api/experiments", headers={"host": "box.lan:5050"}).status_code == 200


def test_no_permissive_cors(web: TestClient) -> None:
    response = web.get("/api/runs", headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_artifact_paths_cannot_escape(web: TestClient, ids: dict[str, str]) -> None:
    for path in ("../run.yaml", "%2e%2e/%2e%2e/run.yaml", "..%2f..%2frun.yaml", "/etc/passwd", "%2fetc%2fpasswd",
                 "notes.txt%2f..%2fcfg.json", "artifacts/notes.txt", "NOTES.TXT", "notes.txt%00"):
        response = web.get(f"/run/{ids['alpha']}/artifact/{path}")
        assert response.status_code == 404, (path, response.text)


def test_artifacts_download_and_inline_rules(web: TestClient, ids: dict[str, str]) -> None:
    url = f"/run/{ids['alpha']}/artifact/"
    text = web.get(url + "notes.txt")
    assert text.content == b"hello from alpha\n" and text.headers["content-disposition"].startswith("attachment")
    assert web.get(url + "notes.txt?view=text").headers["content-type"].startswith("text/plain")
    for name in ("plot.svg", "report.html"):
        for view in ("", "?view=inline", "?view=text"):
            response = web.get(url + name + view)
            assert response.headers["content-type"] == "application/octet-stream", (name, view)
            assert response.headers["content-disposition"].startswith("attachment")
    png = web.get(url + "img/red.png?view=inline")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


def test_writes_are_off_by_default(web: TestClient, ids: dict[str, str]) -> None:
    response = web.post(f"/api/run/{ids['alpha']}/tags", json={"set": {"k": "v"}})
    assert response.status_code == 403 and "read-only" in response.json()["error"]["message"]


def test_writes_need_the_csrf_token(repo: Path, ids: dict[str, str]) -> None:
    config = UIConfig(repo=str(repo), allow_writes=True)
    web = TestClient(create_app(config), base_url=BASE)
    html = web.get(f"/run/{ids['alpha']}").text
    assert f'name="gitexp-csrf" content="{config.csrf_token}"' in html
    url = f"/api/run/{ids['alpha']}/"
    assert web.post(url + "tags", json={"set": {"k": "v"}}).status_code == 403
    assert web.post(url + "tags", json={"set": {"k": "v"}}, headers={"x-csrf-token": "wrong"}).status_code == 403
    good = {"x-csrf-token": config.csrf_token}
    cross = web.post(url + "tags", json={"set": {"k": "v"}}, headers={**good, "origin": "http://evil.example"})
    assert cross.status_code == 403
    form = web.post(url + "tags", content=b"set=1", headers={**good, "content-type": "text/plain"})
    assert form.status_code == 415
    assert web.post(url + "tags", json={"set": {"stage": "best"}}, headers=good).json()["ok"]
    assert web.post(url + "note", json={"text": "a good one"}, headers=good).json()["ok"]
    assert web.post(url + "rename", json={"name": "alpha-best"}, headers=good).json()["name"] == "alpha-best"
    log = git(repo, "log", "--format=%s", f"refs/gitexp/runs/default/{ids['alpha']}")
    assert "gitexp: rename alpha -> alpha-best" in log and "gitexp: note" in log
    data = web.get(f"/api/run/{ids['alpha']}").json()
    assert data["run"]["tags"]["stage"] == "best" and data["note"] == "a good one"
    bad = web.post(url + "rename", json={"name": "beta"}, headers=good)
    assert bad.status_code == 400 and "error" in bad.json()


# -- export and CLI ------------------------------------------------------------------------------------

def test_static_export_embeds_escaped_data(repo: Path, ids: dict[str, str], tmp_path: Path) -> None:
    from click.testing import CliRunner

    out = tmp_path / "site"
    result = invoke(CliRunner(), "ui", "--export", str(out), "--filter", "metrics.loss < 10")
    assert result.exit_code == 0, result.output
    assert "wrote 3 run pages" in result.output
    index = (out / "index.html").read_text()
    assert '<script type="application/json" id="runs-data">' in index and "<script>window" not in index
    assert json.loads((out / "runs.json").read_text())["total"] == 3
    evil = (out / "runs" / f"{ids['evil']}.html").read_text()
    assert "<script>window" not in evil and 'id="histories-data"' in evil
    assert (out / "static" / "echarts.min.js").exists() and (out / "static" / "ECHARTS-LICENSE").exists()
    bad = invoke(CliRunner(), "ui", "--export", str(out), "--filter", "metrics.loss <")
    assert bad.exit_code == 2 and "position" in bad.stderr


def test_remote_must_exist_and_the_team_server_is_read_only(repo: Path) -> None:
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ui", "--remote", "origin", "--allow-writes")
    assert result.exit_code == 2 and "read-only" in result.output
    result = invoke(CliRunner(), "ui", "--remote", "nowhere")
    assert result.exit_code == 1 and "no git remote named 'nowhere'" in result.stderr


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_team_server_refresh_shows_runs_and_models_pushed_by_another_clone(
        repo: Path, ids: dict[str, str], tmp_path: Path) -> None:
    from gitexp.services.session import open_session
    from gitexp.ui.team import refresh
    from tests.sync_helpers import clone, gx, make_run

    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    other = clone(origin, tmp_path / "other")
    run_id = make_run(other, "from-other", acc=0.9)
    assert gx(other, "models", "register", "shared-model", run_id).returncode == 0
    pushed = gx(other, "push")
    assert pushed.returncode == 0, pushed.stderr

    web = client(repo, read_only_reason="a team server over origin")
    assert web.get("/api/runs").json()["total"] == 3
    with open_session(str(repo)) as s:
        result, problems = refresh(s, "origin")
    assert problems == [] and result.integration.created == [run_id]
    body = web.get("/api/runs").json()
    assert body["total"] == 4 and "from-other" in {r["name"] for r in body["rows"]}
    assert [m["name"] for m in web.get("/api/registry").json()["models"]] == ["shared-model"]
    refused = web.post(f"/api/run/{run_id}/tag", json={"key": "a", "value": "b"})
    assert refused.status_code == 403 and "team server" in refused.json()["error"]["message"]


# -- registry ----------------------------------------------------------------------------------------

HOSTILE_TAGS = ('evil#<img/src=x/onerror=window.__xss=4>#1', 'evil#"><script>window.__xss=5</script>#2')


def test_registry_page_lists_models_versions_stages_history_escaped(repo: Path, ids: dict[str, str]) -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    assert invoke(runner, "models", "register", "churn", ids["alpha"]).exit_code == 0
    assert invoke(runner, "models", "register", "churn", ids["beta"], "-m", XSS).exit_code == 0
    assert invoke(runner, "models", "assign", "churn", "v0.0.2", "--stage", "production").exit_code == 0
    alpha = git(repo, "rev-parse", "refs/tags/churn@v0.0.1^{commit}").strip()
    evil = git(repo, "rev-parse", f"refs/gitexp/runs/default/{ids['evil']}").strip()
    # Hand-made tags: a valid monorepo name that reads as a URL scheme, a stage message with markup,
    # and malformed names carrying markup (listed in the warning).
    git(repo, "tag", "-a", "-m", XSS, "javascript=alert@v1.0.0", evil)
    git(repo, "tag", "-a", "-m", XSS, "churn#x-ss#7", alpha)
    for name in HOSTILE_TAGS:
        git(repo, "tag", "-a", "-m", XSS, name, alpha)

    web = client(repo)
    assert 'href="/registry"' in web.get("/").text  # linked from the nav
    response = web.get("/registry")
    assert response.status_code == 200, response.text
    html = response.text
    for text in ("churn", "v0.0.1", "v0.0.2", "production", "x-ss", "javascript:alert", "register", "assign",
                 "alpha", "beta", "&lt;img/src=x/onerror=window.__xss=4&gt;",
                 "&lt;script&gt;window.__xss=2&lt;/script&gt;"):
        assert text in html, text
    assert "<script>window" not in html and "<img src=x" not in html and "<img/src" not in html
    assert 'href="javascript:' not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert tag.startswith('<script type="application/json"') or 'src="/static/' in tag, tag
    data = web.get("/api/registry").json()
    models = {m["name"]: m for m in data["models"]}
    assert set(models) == {"churn", "javascript:alert"}
    assert models["churn"]["stages"] == {"production": "v0.0.2", "x-ss": "v0.0.1"}
    assert [v["version"] for v in models["churn"]["versions_list"]] == ["v0.0.2", "v0.0.1"]
    assert [e["action"] for e in models["churn"]["history"]] == ["register", "register", "assign", "assign"]
    assert all(name in data["warning"] or name in str(data["ignored"]) for name in HOSTILE_TAGS)


def test_registry_page_without_models(web: TestClient) -> None:
    response = web.get("/registry")
    assert response.status_code == 200 and "No models registered yet" in response.text


def test_help_does_not_import_the_server() -> None:
    code = "from gitexp.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert loaded_by(code, ("starlette", "uvicorn", "jinja2", "gitexp.ui")) == []


def test_missing_extra_says_how_to_install(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from click.testing import CliRunner

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    result = invoke(CliRunner(), "ui")
    assert result.exit_code == 1 and "pip install 'gitexp[ui]'" in result.stderr
