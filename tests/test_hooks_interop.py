"""gitexp's hooks through the real pre-commit framework (installed from the package registry here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import git

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "gitexp")


def _pre_commit(tmp: Path) -> Path:
    """pre-commit in a fresh venv (skip with the reason when it cannot be installed)."""
    venv = tmp / "pc-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pre-commit"],
                         capture_output=True, text=True, timeout=600)
    if pip.returncode != 0:
        pytest.skip(f"pre-commit cannot be installed from the package registry here: {pip.stderr.strip()[-300:]}")
    return venv / "bin" / "pre-commit"


def _hook_repo(tmp: Path) -> tuple[Path, str]:
    """This project's current files as a git repository pre-commit can clone."""
    repo = tmp / "gitexp-hooks-repo"
    repo.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "gitexp")
    return repo, git(repo, "rev-parse", "HEAD").strip()


@pytest.mark.interop
def test_pre_commit_framework_records_runs(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pc-home"))
    pre_commit = _pre_commit(tmp_path)
    hook_repo, rev = _hook_repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo}\n  rev: {rev}\n  hooks:\n"
        "  - id: gitexp-runs\n  - id: gitexp-empty-message\n  - id: gitexp-record-folder\n")
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-qm", "pre-commit config")
    proc = subprocess.run([str(pre_commit), "install", "--hook-type", "pre-commit", "--hook-type",
                           "prepare-commit-msg", "--hook-type", "commit-msg"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(pre_commit), "install-hooks"], cwd=repo, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.skip(f"pre-commit cannot install gitexp's hook environment here: {proc.stdout[-300:]}")

    import gitexp

    with gitexp.start_run(run_name="framework") as run:
        gitexp.log_metric("acc", 1.0)
    env = {**os.environ, "GIT_EDITOR": "true"}
    proc = subprocess.run(["git", "commit", "--allow-empty", "-m", "through pre-commit"], cwd=repo,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    message = git(repo, "log", "-1", "--format=%B")
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True,
                            text=True, check=True).stdout
    assert parsed == f"Gitexp-Run: {run.id}\n"
    # amending adds no second trailer
    subprocess.run(["git", "commit", "--amend", "--no-edit", "--allow-empty"], cwd=repo, check=True,
                   capture_output=True, env=env)
    assert git(repo, "log", "-1", "--format=%B").count("Gitexp-Run:") == 1
    # an untouched editor message holding only the trailer: git still aborts it as empty
    head = git(repo, "rev-parse", "HEAD")
    proc = subprocess.run(["git", "commit", "--allow-empty"], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and git(repo, "rev-parse", "HEAD") == head
