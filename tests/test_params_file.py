"""Issue 9, items 1, 2 and 5: `-p` overrides that cannot lie, a params.yaml held for the run's life,
shell exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.helpers import cli, git, record, run_refs, sampled

PY = sys.executable
_yaml = YAML(typ="safe")

# CRLF line ends, a tab in a comment, no newline at the end: restored byte for byte.
PARAMS = b"# sweep me\r\ntrain:\r\n  lr: 0.01   #\tlearning rate\r\n  epochs: 3\r\nseed: 42\r\nname: base"


@pytest.fixture
def prepo(repo: Path) -> Path:
    (repo / "params.yaml").write_bytes(PARAMS)
    git(repo, "add", "params.yaml")
    git(repo, "commit", "-q", "-m", "params")
    return repo


def _err(proc: subprocess.CompletedProcess, code: int = 1) -> tuple[str, str]:
    assert proc.returncode == code, proc
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("hint: "), lines
    return lines[0][7:], lines[1][6:]


@pytest.mark.parametrize("override, message, hint", sampled([
    ("lr=0.1", "-p lr=0.1: params.yaml has no key 'lr'", "did you mean train.lr? to add a new key, write -p +lr=0.1"),
    ("train=5", "'train' is a mapping in params.yaml; this would make it a value", "-p ++train=5 (or --force)"),
    ("seed.x=1", "'seed' is a value in params.yaml, not a mapping", "-p ++seed.x=1 (or --force)"),
    ("train.lr=[0.1", "-p train.lr=[0.1: the value is not valid YAML", "quote it"),
    ("+seed=1", "params.yaml already has 'seed'", "change it with -p seed=1"),
]))
def test_overrides_that_would_lie_are_refused(prepo: Path, override: str, message: str, hint: str) -> None:
    got_message, got_hint = _err(cli("run", "-p", override, "--", PY, "-c", "pass", cwd=prepo))
    assert message in got_message and hint in got_hint
    assert run_refs(prepo) == [] and (prepo / "params.yaml").read_bytes() == PARAMS


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_plus_adds_and_double_plus_or_force_changes_shape(prepo: Path) -> None:
    reader = "print(open('params.yaml').read())"
    proc = cli("run", "-p", "+train.dropout=0.5", "-p", "train.lr=0.2", "--", PY, "-c", "pass", cwd=prepo)
    assert proc.returncode == 0, proc.stderr
    assert record(prepo, run_refs(prepo)[0], "params.yaml")["train"] == {"lr": 0.2, "epochs": 3, "dropout": 0.5}
    for args in (["-p", "++seed.x=1"], ["--force", "-p", "seed.x=1"]):
        before = set(run_refs(prepo))
        proc = cli("run", *args, "--", PY, "-c", reader, cwd=prepo)
        assert proc.returncode == 0, proc.stderr
        [ref] = set(run_refs(prepo)) - before
        assert record(prepo, ref, "params.yaml")["seed"] == {"x": 1}
        assert (prepo / "params.yaml").read_bytes() == PARAMS  # byte for byte


def test_without_a_params_file_plus_is_just_a_param(repo: Path) -> None:
    proc = cli("run", "-p", "+lr=0.1", "-p", "n=2", "--", PY, "-c", "pass", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert record(repo, run_refs(repo)[0], "params.yaml") == {"lr": 0.1, "n": 2}


def _holding_run(repo: Path, go: Path, *args: str) -> subprocess.Popen:
    """A `gitexp run -p` whose command reports the lr it reads, then waits for `go` to exist."""
    child = (
        "import os, time\n"
        "print('lr', [l for l in open('params.yaml') if 'lr:' in l][0].split()[1], os.getpid(), flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "print('lr', [l for l in open('params.yaml') if 'lr:' in l][0].split()[1], flush=True)\n")
    return subprocess.Popen([PY, "-m", "gitexp", "run", *args, "--", PY, "-c", child], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_a_second_run_with_overrides_waits_and_no_wait_refuses(prepo: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    first = _holding_run(prepo, go, "-n", "first", "-p", "train.lr=0.11")
    try:
        assert first.stdout.readline().split()[:2] == ["lr", "0.11"]
        # --no-wait: refused at once, the file untouched
        message, hint = _err(cli("run", "--no-wait", "-p", "train.lr=0.33", "--", PY, "-c", "pass", cwd=prepo))
        assert message.startswith("run first (pid ") and "holds params.yaml until it ends" in message
        assert "git worktree add" in hint
        # a plain run (no -p) would record first's overrides as its own params: it waits too
        message, _ = _err(cli("run", "--no-wait", "--", PY, "-c", "pass", cwd=prepo))
        assert "holds params.yaml" in message
        second = _holding_run(prepo, go, "-n", "second", "-p", "train.lr=0.33")
        deadline = time.monotonic() + 30
        line = second.stderr.readline()
        assert line.startswith("gitexp: waiting for run first (pid ") and "train.lr=0.11" in line, line
        assert "holds params.yaml" in line and time.monotonic() < deadline
        time.sleep(0.3)
        assert len(run_refs(prepo)) == 1  # second has not started its run
    finally:
        go.touch()
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert [w for w in out1.split() if not w.isdigit()] == ["lr", "0.11"]  # (its first line was read above)
    assert [w for w in out2.split() if not w.isdigit()] == ["lr", "0.33", "lr", "0.33"]
    lrs = {record(prepo, ref)["name"]: record(prepo, ref, "params.yaml")["train"]["lr"] for ref in run_refs(prepo)}
    assert lrs == {"first": 0.11, "second": 0.33}
    assert (prepo / "params.yaml").read_bytes() == PARAMS
    assert git(prepo, "status", "--porcelain") == ""


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_a_file_left_rewritten_by_a_killed_run_is_restored_by_the_next(prepo: Path, tmp_path: Path) -> None:
    go = tmp_path / "never"
    first = _holding_run(prepo, go, "-p", "train.lr=0.5")
    _, lr, child_pid = first.stdout.readline().split()
    assert lr == "0.5"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert (prepo / "params.yaml").read_bytes() != PARAMS
    proc = cli("run", "-p", "train.epochs=9", "--", PY, "-c", "pass", cwd=prepo)
    assert proc.returncode == 0, proc.stderr
    assert "restored params.yaml, which a killed run had left rewritten" in proc.stderr
    assert (prepo / "params.yaml").read_bytes() == PARAMS
    newest = max(run_refs(prepo), key=lambda r: record(prepo, r)["start_time"])
    assert record(prepo, newest, "params.yaml")["train"] == {"lr": 0.01, "epochs": 9}
    with contextlib.suppress(ProcessLookupError):  # the wrapper's kill takes its child along (Linux)
        os.kill(int(child_pid), signal.SIGKILL)


# -- exit codes ---------------------------------------------------------------------------------------

@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_exit_codes_are_a_shells(repo: Path) -> None:
    assert cli("run", "--", "no-such-command-xyz", cwd=repo).returncode == 127
    assert cli("run", "--", "./missing.sh", cwd=repo).returncode == 127
    (repo / "script.sh").write_text("echo hi\n")
    proc = cli("run", "--", "./script.sh", cwd=repo)
    assert proc.returncode == 126 and "is not executable" in proc.stderr
    proc = cli("run", "--", "script.sh", cwd=repo)  # in this folder, but a shell needs ./
    assert proc.returncode == 127 and "./script.sh" in proc.stderr
    assert run_refs(repo) == []


def test_a_child_that_catches_ctrl_c_and_exits_0_is_killed_130(repo: Path) -> None:
    child = ("import signal, sys, time\n"
             "signal.signal(signal.SIGINT, lambda *a: sys.exit(0))\n"
             "print('ready', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([PY, "-m", "gitexp", "run", "--", PY, "-c", child], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    info = record(repo, run_refs(repo)[0])
    assert info["status"] == "KILLED" and info["exit_code"] == 130
    assert "caught the interrupt and exited 0" in err
