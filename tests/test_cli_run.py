"""`gitexp run`, `ls`, `show` and `demo` through the real CLI, and its error messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import gitexp
from gitexp.errors import GitexpError
from tests.helpers import cli, default_signals, git, invoke, metric_rows, record, run_refs, show

# `gitexp run` through real subprocesses, dozens of them: in the slow set, run by .ci/run.
pytestmark = pytest.mark.slow

_yaml = YAML(typ="safe")
PY = sys.executable


def write_script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def only_ref(repo: Path, experiment: str | None = None) -> str:
    refs = run_refs(repo, experiment)
    assert len(refs) == 1, refs
    return refs[0]


def assert_ok(proc: subprocess.CompletedProcess, code: int = 0) -> None:
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr


def make_runs(specs: list[tuple[str, dict, dict]], experiment: str | None = None) -> list[str]:
    """Quick runs through the API: (name, params, metrics) each; returns their ids in order."""
    ids = []
    for name, params, metrics in specs:
        with gitexp.start_run(run_name=name, experiment=experiment) as run:
            gitexp.log_params(params)
            for key, values in metrics.items():
                for v in values if isinstance(values, list) else [values]:
                    gitexp.log_metric(key, v)
        ids.append(run.id)
    return ids


# -- gitexp run ---------------------------------------------------------------------------------------

def test_run_child_and_grandchild_attach_to_the_run(repo: Path, tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    write_script(scripts, "grandchild.py", """\
        import gitexp
        gitexp.log_metric("grandchild/acc", 0.9)
        gitexp.log_metric("grandchild/acc", 0.95)
        print("grandchild done")
    """)
    child = write_script(scripts, "child.py", f"""\
        import os, subprocess, sys
        import gitexp
        print("child says hi on stdout", flush=True)
        print("child says hi on stderr", file=sys.stderr, flush=True)
        for i in range(5):
            gitexp.log_metric("child/loss", 1.0 / (i + 1))
        gitexp.log_param("from_child", "yes")
        gitexp.set_tag("who", "child")
        print("active", gitexp.active_run().id, os.environ["GITEXP_RUN_ID"], flush=True)
        subprocess.run([sys.executable, {str(scripts / 'grandchild.py')!r}], check=True)
    """)
    proc = cli("run", "-e", "exp1", "-n", "my run", "-p", "lr=0.01", "-p", "layers=3", "-t", "team=vision",
               "--", PY, str(child), cwd=repo)
    assert_ok(proc)
    ref = only_ref(repo, "exp1")
    info = record(repo, ref)
    assert info["status"] == "FINISHED" and info["exit_code"] == 0 and info["name"] == "my run"
    assert info["command"] == [PY, str(child)]
    # the child's own calls needed no start_run: they joined the same run
    active = [line for line in proc.stdout.splitlines() if line.startswith("active ")][0].split()
    assert active[1] == active[2] == info["id"]
    assert record(repo, ref, "params.yaml") == {"lr": 0.01, "layers": 3, "from_child": "yes"}
    assert record(repo, ref, "tags.yaml") == {"team": "vision", "who": "child"}
    assert [r[:2] for r in metric_rows(repo, ref, "child/loss")][-1] == ["4", "0.2"]
    assert [r[:2] for r in metric_rows(repo, ref, "grandchild/acc")] == [["0", "0.9"], ["1", "0.95"]]
    # streamed to our stdout/stderr and captured in output.log
    assert "child says hi on stdout" in proc.stdout and "grandchild done" in proc.stdout
    assert "child says hi on stderr" in proc.stderr
    log = show(repo, ref, ".gitexp/output.log")
    assert "child says hi on stdout" in log and "child says hi on stderr" in log and "grandchild done" in log
    assert f"run my run ({info['id']}) started in experiment exp1" in proc.stderr
    assert "FINISHED (exit code 0" in proc.stderr
    assert git(repo, "status", "--porcelain") == ""
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())  # nothing left behind


def test_run_failure_returns_the_exit_code(repo: Path) -> None:
    proc = cli("run", "-n", "bad", "--", PY, "-c", "import sys; print('bye'); sys.exit(3)", cwd=repo)
    assert_ok(proc, 3)
    info = record(repo, only_ref(repo))
    assert info["status"] == "FAILED" and info["exit_code"] == 3
    assert info["command"] == [PY, "-c", "import sys; print('bye'); sys.exit(3)"]
    assert "FAILED (exit code 3" in proc.stderr


def test_output_log_is_capped_and_keeps_the_tail(repo: Path) -> None:
    git(repo, "config", "gitexp.outputlogmax", "1000")
    code = "for i in range(600): print(f'line {i:04d}')"
    proc = cli("run", "--", PY, "-c", code, cwd=repo)
    assert_ok(proc)
    assert proc.stdout.count("line ") == 600  # the terminal still gets everything
    log = show(repo, only_ref(repo), ".gitexp/output.log")
    assert 900 <= len(log.encode()) <= 1000
    assert log.endswith("line 0599\n")
    assert "line 0000" not in log and "line 0500" in log


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_to_gitexp_run_is_forwarded_and_run_killed(repo: Path, sig: int, code: int) -> None:
    git(repo, "config", "gitexp.flushinterval", "0.05")
    child = ("import gitexp, time\n"
             "gitexp.log_metric('x', 1.0)\ngitexp.flush()\n"
             "print('ready', flush=True)\ntime.sleep(60)\nprint('not reached')\n")
    proc = subprocess.Popen([PY, "-m", "gitexp", "run", "-n", "sig", "--", PY, "-c", child], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)  # SIGINT is ignored in a background job
    try:
        assert proc.stdout.readline().strip() == "ready"
        ref = only_ref(repo)
        assert record(repo, ref)["status"] == "RUNNING"
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 10  # the 60 s sleep was interrupted
    assert proc.returncode == code, err
    assert "not reached" not in out
    info = record(repo, ref)
    assert info["status"] == "KILLED" and info["exit_code"] == code
    assert [r[:2] for r in metric_rows(repo, ref, "x")] == [["0", "1.0"]]
    assert "KILLED" in err


def test_params_are_typed_as_yaml_scalars(repo: Path) -> None:
    proc = cli("run", "-p", "lr=0.01", "-p", "n=3", "-p", "flag=true", "-p", "name=resnet", "-p", "ids=[1, 2]",
               "-p", "ver='1.0'", "-p", "empty=", "--", PY, "-c", "pass", cwd=repo)
    assert_ok(proc)
    ref = only_ref(repo)
    text = show(repo, ref, ".gitexp/params.yaml")
    assert "lr: 0.01\n" in text  # a number, not the string '0.01'
    assert record(repo, ref, "params.yaml") == {"lr": 0.01, "n": 3, "flag": True, "name": "resnet",
                                                "ids": [1, 2], "ver": "1.0", "empty": None}


PARAMS = """\
# training params (kept by gitexp run)
lr: 0.1   # learning rate
model:
  depth: 2   # layers
  act: relu
epochs: 3
"""


@pytest.fixture
def params_repo(repo: Path) -> Path:
    (repo / "params.yaml").write_text(PARAMS)
    git(repo, "add", "params.yaml")
    git(repo, "commit", "-q", "-m", "params")
    return repo


def test_params_file_overrides_written_then_restored(params_repo: Path) -> None:
    repo = params_repo
    reader = "print(open('params.yaml').read(), end='')"
    proc = cli("run", "-p", "lr=0.5", "-p", "model.depth=4", "--", PY, "-c", reader, cwd=repo)
    assert_ok(proc)
    seen = proc.stdout
    # the child read the new values, with comments and key order kept
    assert seen == PARAMS.replace("lr: 0.1 ", "lr: 0.5 ").replace("depth: 2 ", "depth: 4 ")
    ref = only_ref(repo)
    assert record(repo, ref, "params.yaml") == {"lr": 0.5, "model": {"depth": 4, "act": "relu"}, "epochs": 3}
    assert show(repo, ref, "params.yaml") == seen  # the code snapshot has the file as the run saw it
    assert record(repo, ref)["dirty"] is True
    # restored afterwards
    assert (repo / "params.yaml").read_text() == PARAMS
    assert git(repo, "status", "--porcelain") == ""


def test_params_file_without_overrides_is_the_run_params(params_repo: Path) -> None:
    proc = cli("run", "--", PY, "-c", "pass", cwd=params_repo)
    assert_ok(proc)
    ref = only_ref(params_repo)
    assert record(params_repo, ref, "params.yaml") == _yaml.load(PARAMS)
    assert record(params_repo, ref)["dirty"] is False


def test_params_file_restored_after_failure_and_kept_on_request(params_repo: Path) -> None:
    repo = params_repo
    proc = cli("run", "-p", "lr=0.7", "--", PY, "-c", "raise SystemExit(2)", cwd=repo)
    assert_ok(proc, 2)
    assert (repo / "params.yaml").read_text() == PARAMS
    proc = cli("run", "--keep-params-file", "-p", "epochs=9", "--", PY, "-c", "pass", cwd=repo)
    assert_ok(proc)
    kept = (repo / "params.yaml").read_text()
    assert kept == PARAMS.replace("epochs: 3", "epochs: 9")
    assert git(repo, "status", "--porcelain") == " M params.yaml\n"


# -- gitexp ls ----------------------------------------------------------------------------------------

def test_ls_newest_first_default_columns_and_json(repo: Path) -> None:
    ids = make_runs([("first", {"lr": 0.1}, {"acc": 0.5}),
                     ("second", {"lr": 0.2}, {"acc": 0.7}),
                     ("third", {"lr": 0.3}, {"acc": [0.1, 0.9]})])
    make_runs([("elsewhere", {"lr": 9}, {})], experiment="other")
    proc = cli("ls", cwd=repo)
    assert_ok(proc)
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "status", "start", "duration", "p.lr", "m.acc"]
    assert set(lines[1]) <= {"-", " "}
    rows = [line.split() for line in lines[2:]]
    assert [r[1] for r in rows] == ["third", "second", "first"]  # newest first, default experiment only
    for row, run_id in zip(rows, reversed(ids)):  # short ids: 8 chars, more when needed to tell runs apart
        assert len(row[0]) >= 8 and run_id.startswith(row[0])
    assert len({r[0] for r in rows}) == 3
    assert rows[0][2] == "FINISHED" and rows[0][-2:] == ["0.3", "0.9"]

    data = json.loads(cli("ls", "--json", cwd=repo).stdout)
    assert [d["name"] for d in data] == ["third", "second", "first"]
    assert set(data[0]) == {"id", "name", "experiment", "status", "start_time", "end_time", "duration", "user",
                            "params", "tags", "metrics", "ref", "commit"}
    third = data[0]
    assert third["id"] == ids[2] and third["experiment"] == "default" and third["status"] == "FINISHED"
    assert third["params"] == {"lr": 0.3}
    assert third["metrics"] == {"acc": {"last": 0.9, "step": 1, "min": 0.1, "max": 0.9, "count": 2}}
    assert third["ref"] == f"refs/gitexp/runs/default/{ids[2]}"
    assert third["commit"] == git(repo, "rev-parse", third["ref"]).strip()
    assert third["user"] == "tester"

    other = json.loads(cli("ls", "-e", "other", "--json", cwd=repo).stdout)
    assert [d["name"] for d in other] == ["elsewhere"]
    everything = invoke_ok("ls", "--all")
    assert everything.splitlines()[0].split()[:3] == ["id", "name", "experiment"]
    assert [line.split()[1] for line in everything.splitlines()[2:]] == ["elsewhere", "third", "second", "first"]


def invoke_ok(*args: str) -> str:
    from click.testing import CliRunner

    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_ls_limit_columns_and_github_format(repo: Path) -> None:
    from click.testing import CliRunner

    make_runs([(f"run-{i}", {"lr": i / 10, "bs": 32}, {"acc": i / 4}) for i in range(4)])
    result = invoke(CliRunner(), "ls", "--limit", "2")
    assert result.exit_code == 0
    assert [line.split()[1] for line in result.stdout.splitlines()[2:]] == ["run-3", "run-2"]
    assert "(2 more; use --limit 0 to list all)" in result.stderr
    out = invoke_ok("ls", "--columns", "name,params.lr,metrics.acc,params.bs", "--limit", "0")
    assert out.splitlines()[0].split() == ["name", "p.lr", "m.acc", "p.bs"]
    assert out.splitlines()[2].split() == ["run-3", "0.3", "0.75", "32"]
    gh = invoke_ok("ls", "--fmt", "github", "-c", "name,metrics.acc")
    lines = gh.splitlines()
    assert lines[0].replace(" ", "") == "|name|m.acc|"
    assert set(lines[1]) <= {"|", "-", ":", " "} and lines[1].startswith("|")
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert lines[2].replace(" ", "") == "|run-3|0.75|"


@pytest.mark.parametrize("key", ["p{}", "param_number_{}"])
def test_ls_fits_80_columns(repo: Path, key: str) -> None:
    params = {key.format(i): i / 10 if key == "p{}" else f"value-{i}-" + "x" * i for i in range(20)}
    metrics = {"train/loss": [0.5, 0.25], "validation/accuracy": 0.123456789, "test/f1_score": 0.9,
               "learning_rate_schedule": 1e-4, "acc": 0.5}
    make_runs([("a rather long run name that goes on", params, metrics),
               ("short", {**params, key.format(3): 7}, metrics)])
    proc = cli("ls", cwd=repo, env={"COLUMNS": "80"})
    assert_ok(proc)
    lines = proc.stdout.splitlines()
    assert len(lines) == 4
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    header = lines[0].split()
    assert header[:3] == ["id", "name", "status"]
    assert "p." + key.format(3) in header  # the one param that differs, before start and duration
    assert any(h.startswith("m.") for h in header)  # and a result
    assert set(header) - {"start", "duration"} <= {"id", "name", "status", "p." + key.format(3)} | {
        "m." + m for m in metrics}
    assert "a rather long run n…" in lines[2] + lines[3]  # long text is cut, not wrapped
    for line in (proc.stderr or "").splitlines():
        assert len(line) <= 80
    wide = cli("ls", cwd=repo, env={"COLUMNS": "250"}).stdout.splitlines()
    assert len(wide[0].split()) > len(header)  # more room, more columns


def test_ls_empty_and_unknown_column(repo: Path) -> None:
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No runs in experiment 'default'." in result.stderr
    make_runs([("a", {}, {})])
    result = invoke(CliRunner(), "ls", "--columns", "bogus")
    assert result.exit_code == 2 and "unknown column 'bogus'" in result.stderr


# -- gitexp show --------------------------------------------------------------------------------------

def test_show_by_id_prefix_name_and_git_revision(repo: Path, tmp_path: Path) -> None:
    art = tmp_path / "model.txt"
    art.write_text("weights")
    with gitexp.start_run(run_name="showme", tags={"team": "nlp"}) as run:
        gitexp.log_params({"lr": 0.01, "model": {"depth": 3}})
        gitexp.log_metric("loss", 0.5)
        gitexp.log_metric("loss", 0.25)
        gitexp.log_artifact(art)
    ref = only_ref(repo)
    commit = git(repo, "rev-parse", ref).strip()
    git(repo, "branch", "b", commit)
    git(repo, "tag", "-a", "-m", "annotated", "t1", commit)

    proc = cli("show", run.id, cwd=repo)
    assert_ok(proc)
    text = proc.stdout
    assert text.splitlines()[0] == f"run showme  ({run.id})"
    for needle in ("status      FINISHED", "experiment  default", f"commit      {commit}", f"ref         {ref}",
                   "lr           0.01", "model.depth  3", "team  nlp", "model.txt  7 bytes, inline"):
        assert needle in text, needle
    metric_line = [line for line in text.splitlines() if line.strip().startswith("loss")][0]
    assert metric_line.split() == ["loss", "0.25", "1", "0.25", "0.5", "2"]

    for text_ref in (run.id[:4], run.id[:10], "showme", "b", "t1", commit, commit[:10], ref):
        data = json.loads(cli("show", text_ref, "--json", cwd=repo).stdout)
        assert data["id"] == run.id and data["commit"] == commit, text_ref
    assert set(data) == {"id", "name", "experiment", "ref", "commit", "info", "duration", "params", "tags",
                         "metrics", "artifacts", "recorded_by"}
    assert data["info"]["status"] == "FINISHED" and data["params"]["model"] == {"depth": 3}
    assert data["metrics"]["loss"] == {"last": 0.25, "step": 1, "min": 0.25, "max": 0.5, "count": 2}
    assert data["artifacts"] == [{"path": "model.txt", "size": 7, "sha256": data["artifacts"][0]["sha256"],
                                  "storage": "inline"}]


def test_show_running_and_killed_status_and_nan(repo: Path) -> None:
    from click.testing import CliRunner

    run = gitexp.start_run(run_name="live")
    gitexp.log_metric("v", float("nan"))
    gitexp.log_metric("v", float("inf"))
    gitexp.flush()
    out = invoke_ok("show", "live")
    assert "status      RUNNING" in out
    data = json.loads(invoke(CliRunner(), "show", "live", "--json").stdout)
    assert data["metrics"]["v"]["last"] == float("inf") and data["metrics"]["v"]["count"] == 2
    gitexp.end_run()
    assert gitexp.get_run(run.id).status == "FINISHED"


# -- gitexp demo --------------------------------------------------------------------------------------

@pytest.mark.slow  # four real training runs
def test_demo_creates_repo_runs_and_lists(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = cli("demo", str(target), cwd=tmp_path)
    assert_ok(proc)
    refs = run_refs(target, "demo")
    assert len(refs) == 4
    rows = [line.split() for line in proc.stdout.splitlines() if "FINISHED" in line]
    assert len(rows) == 4  # the ls table
    header = [line for line in proc.stdout.splitlines() if line.startswith("id ")]
    assert header[0].split()[:5] == ["id", "name", "status", "start", "duration"]
    assert proc.stdout.count("final test accuracy") == 4  # train.py's output, streamed
    lrs = sorted(record(target, r, "params.yaml")["lr"] for r in refs)
    assert lrs == [0.05, 0.2, 0.5, 1.0]
    for r in refs:
        assert record(target, r)["status"] == "FINISHED"
        assert len(metric_rows(target, r, "train/loss")) >= 30
        assert "model/weights.json" in [a["path"] for a in record(target, r, "artifacts.yaml")]
    assert git(target, "status", "--porcelain") == ""  # params.yaml restored after every run
    git(target, "fsck", "--strict")
    assert "gitexp show" in proc.stderr


@pytest.mark.parametrize("existing", ["folder", "file"])
def test_demo_refuses_a_non_empty_folder(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "demo"
    if existing == "folder":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    else:
        target.write_text("mine")
    proc = cli("demo", str(target), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"Error: {target} already exists and is not empty",
                     "hint: give another folder: gitexp demo ./my-demo"]
    if existing == "folder":
        assert (target / "keep.txt").read_text() == "mine" and sorted(os.listdir(target)) == ["keep.txt"]
    else:
        assert target.read_text() == "mine"


# -- errors: one line and a hint, never a traceback ------------------------------------------------------

def error_lines(proc: subprocess.CompletedProcess, codes: tuple[int, ...] = (1, 2)) -> tuple[str, str]:
    assert proc.returncode in codes, proc
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Error: ") and lines[1].startswith("hint: "), lines
    return lines[0][len("Error: "):], lines[1][len("hint: "):]


def test_error_outside_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for args in (["ls"], ["show", "abcd"], ["run", "--", PY, "-c", "pass"]):
        message, hint = error_lines(cli(*args, cwd=plain))
        assert message == f"not a git repository: {plain}"
        assert "git init" in hint
    gitexp.set_repository(plain)
    try:
        with pytest.raises(GitexpError) as err:
            gitexp.start_run()
        assert err.value.message == message and err.value.hint == hint
    finally:
        gitexp.set_repository(".")


def test_error_bad_experiment_name(repo: Path) -> None:
    for args in (["run", "-e", "My Exp", "--", PY, "-c", "pass"], ["ls", "-e", "My Exp"]):
        message, hint = error_lines(cli(*args, cwd=repo))
        assert message.startswith("invalid experiment name 'My Exp'")
        assert hint == "try 'my-exp'"
    assert gitexp.set_experiment("My Exp").slug == "my-exp"  # the API takes MLflow's free-text names
    assert run_refs(repo) == []


def test_error_bad_keys(repo: Path) -> None:
    message, hint = error_lines(cli("run", "-p", "a@b=1", "--", PY, "-c", "pass", cwd=repo))
    assert message == "invalid param key 'a@b': character '@' is not allowed"
    with gitexp.start_run():
        with pytest.raises(GitexpError) as err:
            gitexp.log_param("a@b", 1)
    assert (err.value.message, err.value.hint) == (message, hint)
    message, _ = error_lines(cli("run", "-t", "../up=1", "--", PY, "-c", "pass", cwd=repo))
    assert message.startswith("invalid tag key '../up'")
    message, hint = error_lines(cli("run", "-p", "novalue", "--", PY, "-c", "pass", cwd=repo))
    assert message == "param 'novalue' is not key=value" and "novalue=" in hint
    assert len(run_refs(repo)) == 1  # only the API run: the CLI errors started nothing


def test_error_non_numeric_metric(repo: Path) -> None:
    # There is no CLI command that logs a metric; a child of `gitexp run` gets the API's error.
    child = ("import gitexp\ntry:\n    gitexp.log_metric('loss', 'abc')\n"
             "except gitexp.GitexpError as e:\n    print('ERR', type(e).__name__, e.message)\n")
    proc = cli("run", "--", PY, "-c", child, cwd=repo)
    assert_ok(proc)
    assert "ERR InvalidValue metric 'loss' must be a number, not str ('abc')" in proc.stdout


def test_error_unknown_run_and_ambiguous_prefix(repo: Path) -> None:
    message, hint = error_lines(cli("show", "no-such-run", cwd=repo))
    assert message == "no run matches 'no-such-run'" and "gitexp ls" in hint
    with pytest.raises(GitexpError) as err:
        gitexp.get_run("no-such-run")
    assert (err.value.message, err.value.hint) == (message, hint)

    ids = make_runs([("one", {}, {}), ("two", {}, {})])
    assert ids[0][:5] == ids[1][:5]  # 9 chars of ms time: runs a few ms apart share the prefix
    prefix = ids[0][:5]
    message, hint = error_lines(cli("show", prefix, cwd=repo))
    assert message.startswith(f"id prefix '{prefix}' matches 2 runs: ")
    assert ids[0] in message and ids[1] in message
    assert "more characters" in hint
    with pytest.raises(GitexpError) as err:
        gitexp.get_run(prefix)
    assert (err.value.message, err.value.hint) == (message, hint)
    # a 3-char prefix is not accepted as an id prefix
    message, hint = error_lines(cli("show", ids[0][:3], cwd=repo))
    assert "at least 4 characters" in hint


@pytest.mark.parametrize("args", [["run", "--"], ["run"], ["run", "-n", "x", "--"]])
def test_error_missing_command(repo: Path, args: list[str]) -> None:
    message, hint = error_lines(cli(*args, cwd=repo))
    assert message == "no command to run"
    assert "gitexp run -- python train.py" in hint
    assert run_refs(repo) == []


def test_error_command_not_found_or_not_executable(repo: Path) -> None:
    message, hint = error_lines(cli("run", "--", "no-such-command-xyz", cwd=repo), codes=(127,))
    assert message == "command not found: no-such-command-xyz"
    message, hint = error_lines(cli("run", "--", "./missing.sh", cwd=repo), codes=(127,))
    assert message == "command not found: ./missing.sh"
    (repo / "script.sh").write_text("echo hi\n")
    message, hint = error_lines(cli("run", "--", "./script.sh", cwd=repo), codes=(126,))
    assert message == "./script.sh is not executable" and "chmod +x ./script.sh" in hint
    assert run_refs(repo) == []  # no run was started for a command that cannot start
    (repo / "script.sh").chmod(0o755)
    message, hint = error_lines_after_start(cli("run", "--", "./script.sh", cwd=repo))
    assert message == "cannot start ./script.sh: Exec format error" and "#!" in hint
    [ref] = run_refs(repo)  # this one could only fail at exec time: the run records it
    assert record(repo, ref)["status"] == "FAILED"
    assert "cannot start ./script.sh" in show(repo, ref, ".gitexp/output.log")
    (repo / "script.sh").write_text("#!/bin/sh\necho hi\n")
    proc = cli("run", "--", "./script.sh", cwd=repo)
    assert_ok(proc)
    assert proc.stdout == "hi\n"


def error_lines_after_start(proc: subprocess.CompletedProcess) -> tuple[str, str]:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("gitexp: run ") and " started " in lines[0]
    return error_lines(subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout,
                                                   "\n".join(lines[1:])))


def test_error_duplicate_run_name(repo: Path) -> None:
    make_runs([("taken", {}, {})])
    message, hint = error_lines(cli("run", "-n", "taken", "--", PY, "-c", "pass", cwd=repo))
    assert message.startswith("a run named 'taken' already exists")
    assert len(run_refs(repo)) == 1


def test_params_file_edited_during_the_run_is_left_alone(params_repo: Path) -> None:
    repo = params_repo
    edit = "open('params.yaml', 'a').write('extra: 1\\n')"
    proc = cli("run", "-p", "lr=0.9", "--", PY, "-c", edit, cwd=repo)
    assert_ok(proc)
    text = (repo / "params.yaml").read_text()
    assert "lr: 0.9" in text and text.endswith("extra: 1\n")  # the user's (script's) edit is not lost
    assert "params.yaml was changed during the run" in proc.stderr


def test_processes_of_one_run_see_each_others_artifacts(repo: Path, tmp_path: Path) -> None:
    first = write_script(tmp_path / "s", "first.py", "import gitexp\ngitexp.log_text('x', 'model')\n")
    second = write_script(tmp_path / "s", "second.py", """\
        import gitexp
        try:
            gitexp.log_text('y', 'model/part.bin')
        except gitexp.GitexpError as exc:
            print('refused:', exc.message)
    """)
    proc = cli("run", "--", "sh", "-c", f"{PY} {first} && {PY} {second}", cwd=repo)
    assert_ok(proc)
    assert "refused: artifact path 'model/part.bin' conflicts with artifact 'model'" in proc.stdout
    ref = only_ref(repo)
    assert record(repo, ref)["status"] == "FINISHED"
    assert show(repo, ref, ".gitexp/artifacts/model") == "x"
