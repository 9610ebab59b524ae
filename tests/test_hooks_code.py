"""Back to a run's code: `gitexp log`, `apply`, `branch` and `reproduce` on real repositories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import gitexp
from tests.helpers import cli, git, run_refs

PY = sys.executable
TRAIN = """\
import random, gitexp
random.seed(7)
for step in range(5):
    gitexp.log_metric("loss", round(1 / (step + 1) + random.random() / 100, 6))
open("out.txt", "w").write("done\\n")
"""


def started_id(proc) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.split("(", 1)[1].split(")", 1)[0]


def test_log_shows_recorded_and_based_runs(repo: Path) -> None:
    with gitexp.start_run(run_name="based") as run:
        gitexp.log_metric("acc", 0.5)
    msg = repo.parent / "m.txt"
    msg.write_text(f"records it\n\nGitexp-Run: {run.id}\nGitexp-Run: 0000000000000000\n")
    git(repo, "commit", "-q", "--allow-empty", "-F", str(msg))
    proc = cli("log", "-n", "2", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].strip() == "records it"
    assert lines[2].split()[:4] == ["recorded", run.id[:8], "based", "FINISHED"] and "acc=0.5" in lines[2]
    assert "0000000000000000  (not in this clone)" in lines[3]
    assert any(line.split()[:2] == ["based", "on"] and run.id[:8] in line for line in lines[4:])
    data = json.loads(cli("log", "--json", "-n", "1", cwd=repo).stdout)
    assert data[0]["subject"] == "records it"
    assert [r["id"] for r in data[0]["recorded"]] == [run.id, "0000000000000000"]
    bad = cli("log", "no-such-branch", cwd=repo)
    assert bad.returncode == 1 and "unknown revision" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_apply_puts_the_snapshot_back(repo: Path) -> None:
    (repo / "train.py").write_text("print('run code')\n")
    (repo / "extra.txt").write_text("untracked input\n")
    with gitexp.start_run(run_name="r") as run:
        pass
    git(repo, "checkout", "-q", "--", "train.py")
    (repo / "extra.txt").unlink()
    proc = cli("apply", "r", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["added     extra.txt", "modified  train.py"]
    assert (repo / "train.py").read_text() == "print('run code')\n"
    assert (repo / "extra.txt").read_text() == "untracked input\n"
    assert not (repo / ".gitexp").exists()
    assert git(repo, "diff", "--cached", "--name-only") == ""  # the index is left alone
    # uncommitted changes: refused, then forced
    (repo / "train.py").write_text("print('mine')\n")
    refused = cli("apply", run.id, cwd=repo)
    assert refused.returncode == 1 and "uncommitted changes" in refused.stderr and "--force" in refused.stderr
    assert (repo / "train.py").read_text() == "print('mine')\n"
    assert cli("apply", run.id, "--force", cwd=repo).returncode == 0
    assert (repo / "train.py").read_text() == "print('run code')\n"
    assert "already holds" in cli("apply", run.id, "--force", cwd=repo).stderr


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_branch_from_a_run(repo: Path) -> None:
    (repo / "train.py").write_text("print('branch me')\n")
    with gitexp.start_run(run_name="r"):
        pass
    proc = cli("branch", "r", "exp/r", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "rev-parse", "exp/r").strip() == git(repo, "rev-parse", run_refs(repo)[0]).strip()
    assert git(repo, "show", "exp/r:train.py") == "print('branch me')\n"
    again = cli("branch", "r", "exp/r", cwd=repo)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = cli("branch", "r", "bad..name", cwd=repo)
    assert bad.returncode == 1 and "invalid branch name" in bad.stderr


@pytest.mark.slow
def test_reproduce_a_deterministic_run(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    (repo / "params.yaml").write_text("lr: 0.1\n")
    git(repo, "add", "train.py", "params.yaml")
    git(repo, "commit", "-qm", "deterministic training")
    original = started_id(cli("run", "-p", "lr=0.5", "--", PY, "train.py", cwd=repo))
    before = git(repo, "status", "--porcelain")
    proc = cli("reproduce", original, "--compare", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "it reproduces" in proc.stderr
    new = [r for r in run_refs(repo) if not r.endswith(original)][0].rsplit("/", 1)[-1]
    a, b = gitexp.get_run(original), gitexp.get_run(new)
    assert b.tags["reproduces"] == original
    assert a.params == b.params == {"lr": 0.5}
    assert a.history["loss"] and [p[1] for p in a.history["loss"]] == [p[1] for p in b.history["loss"]]
    assert b.info.baseline == a.info.baseline and b.info.command == a.info.command
    assert "loss" in proc.stdout  # the diff of the two
    assert git(repo, "status", "--porcelain") == before  # the user's tree untouched (out.txt stayed there)
    assert "gitexp-reproduce" not in git(repo, "worktree", "list")


@pytest.mark.slow
def test_reproduce_refuses_without_a_command_and_asks_for_foreign_runs(repo: Path) -> None:
    # a run logged from `python -c` has nothing to run again
    subprocess.run([PY, "-c", "import gitexp; gitexp.start_run(run_name='console').end()"], cwd=repo, check=True)
    proc = cli("reproduce", "console", cwd=repo)
    assert proc.returncode == 1 and "no recorded command" in proc.stderr and "hint: " in proc.stderr
    original = started_id(cli("run", "--", PY, "-c", "open('ran.txt', 'w').write('x')", cwd=repo))
    ref = next(r for r in run_refs(repo) if r.endswith(original))
    (repo / ".git" / "logs" / ref).unlink()  # as a pulled run: no local creation in its reflog
    proc = cli("reproduce", original, cwd=repo)  # no tty, no --yes: nothing runs
    assert proc.returncode == 1 and "not created in this clone" in proc.stderr and "nothing was run" in proc.stderr
    assert "command  " in proc.stderr and len(run_refs(repo)) == 2
    proc = cli("reproduce", original, "--yes", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert len(run_refs(repo)) == 3


@pytest.mark.slow
def test_reproduce_cleans_up_after_a_failure(repo: Path) -> None:
    # An ignored input the original run had and a fresh worktree lacks: the reproduction fails.
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("flag\n")
    (repo / "flag").write_text("")
    original = started_id(cli("run", "--", PY, "-c", "import os,sys; sys.exit(0 if os.path.exists('flag') else 3)",
                              cwd=repo))
    proc = cli("reproduce", original, cwd=repo)
    assert proc.returncode == 3
    assert "FAILED" in proc.stderr
    assert git(repo, "worktree", "list").count("\n") == 1


@pytest.mark.slow
def test_reproduce_cleans_up_after_ctrl_c(repo: Path) -> None:
    (repo / "slow.py").write_text("import os, time\n"
                                  "if os.environ.get('GITEXP_SOURCE_ROOT'):  # only the reproduction waits\n"
                                  "    print('ready', flush=True)\n    time.sleep(60)\n")
    original = started_id(cli("run", "--", PY, "slow.py", cwd=repo))
    before = git(repo, "status", "--porcelain")
    proc = subprocess.Popen([PY, "-m", "gitexp", "reproduce", original, "--yes"], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert "gitexp-reproduce" in git(repo, "worktree", "list")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert git(repo, "worktree", "list").count("\n") == 1  # the temporary worktree is gone
    assert git(repo, "status", "--porcelain") == before
