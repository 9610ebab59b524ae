"""Interop with the real GTO (iterative/gto, from PyPI) in both directions.

GTO is installed once per test session into its own venv (it pins pydantic and
friends that must not touch gitexp's environment). Set GITEXP_GTO to a `gto`
executable to reuse one. Without network access to the package index the tests
skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import git, invoke
from tests.test_registry import make_run, ok

pytestmark = pytest.mark.interop
GTO_SPEC = "gto>=1.10,<2"


@pytest.fixture(scope="session")
def gto(tmp_path_factory: pytest.TempPathFactory) -> str:
    given = os.environ.get("GITEXP_GTO")
    if given:
        return given
    venv = tmp_path_factory.mktemp("gto-venv")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", GTO_SPEC],
                             capture_output=True, text=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot make a venv for GTO: {exc}")
    exe = venv / "bin" / "gto"
    if pip.returncode != 0 or not exe.exists():
        pytest.skip(f"cannot install {GTO_SPEC} from the package index: {pip.stderr.strip()[-300:]}")
    return str(exe)


def run_gto(gto: str, repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITEXP_")}
    proc = subprocess.run([gto, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"gto {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def test_gto_reads_what_gitexp_wrote(repo, runner, gto):
    make_run("r1")
    make_run("r2")
    ok(runner, "models", "register", "churn", "r1", "--artifact", "model.pkl")
    ok(runner, "models", "register", "churn", "r2", "--artifact", "model.pkl", "--bump-minor")
    ok(runner, "models", "assign", "churn", "v0.0.1", "--stage", "staging")
    ok(runner, "models", "assign", "churn", "v0.1.0", "--stage", "production")
    ok(runner, "models", "register", "team/fraud", "r1")
    ok(runner, "models", "assign", "team/fraud", "v0.0.1", "--stage", "dev")
    ok(runner, "models", "unassign", "team/fraud", "v0.0.1", "--stage", "dev")
    shown = json.loads(run_gto(gto, repo, "show", "--json"))
    assert shown["churn"]["version"] == "v0.1.0"
    assert shown["churn"]["stage"] == {"staging": "v0.0.1", "production": "v0.1.0"}
    assert shown["team/fraud"]["version"] == "v0.0.1"
    assert not any(shown["team/fraud"]["stage"].values())
    versions = json.loads(run_gto(gto, repo, "show", "churn", "--json"))
    assert {v["version"] for v in versions} == {"v0.0.1", "v0.1.0"}
    history = json.loads(run_gto(gto, repo, "history", "churn", "--json"))
    assert sorted(e["ref"] for e in history if "ref" in e) == sorted(
        ["churn@v0.0.1", "churn@v0.1.0", "churn#staging#1", "churn#production#2"])
    # deregistration and deprecation, as GTO sees them
    ok(runner, "models", "deregister", "churn", "v0.0.1")
    ok(runner, "models", "deprecate", "team/fraud")
    shown = json.loads(run_gto(gto, repo, "show", "--json"))
    assert shown["churn"]["version"] == "v0.1.0" and shown["churn"]["stage"].get("staging") is None
    assert shown.get("team/fraud", {}).get("active", False) is False


def test_gitexp_reads_what_gto_wrote(repo, runner, gto):
    make_run("r1")
    make_run("r2")
    refs = git(repo, "for-each-ref", "--format=%(objectname)", "refs/gitexp/runs/").split()
    commit1, commit2 = sorted(refs, key=lambda c: git(repo, "show", f"{c}:.gitexp/run.yaml").count("r2"))
    run_gto(gto, repo, "register", "churn", commit1)
    run_gto(gto, repo, "register", "churn", commit2, "--bump-minor")
    run_gto(gto, repo, "assign", "churn", "--version", "v0.0.1", "--stage", "prod")
    run_gto(gto, repo, "assign", "churn", "--version", "v0.1.0", "--stage", "dev")
    run_gto(gto, repo, "deprecate", "churn", "v0.1.0", "dev")  # GTO's CLI spells unassign this way
    tags = set(git(repo, "tag", "-l").split())
    assert {"churn@v0.0.1", "churn@v0.1.0", "churn#prod#1", "churn#dev#2", "churn#dev!#3"} <= tags
    data = json.loads(ok(runner, "models", "ls", "--json").stdout)
    assert data == [{"name": "churn", "latest": "v0.1.0", "stages": {"prod": "v0.0.1"}, "deprecated": False,
                     "versions": 2}]
    history = json.loads(ok(runner, "models", "history", "churn", "--json").stdout)
    # GTO's register tags carry no counter: each is placed just before the first event on its version
    assert [(e["action"], e["version"], e["stage"]) for e in history] == [
        ("register", "v0.0.1", None), ("assign", "v0.0.1", "prod"), ("register", "v0.1.0", None),
        ("assign", "v0.1.0", "dev"), ("unassign", "v0.1.0", "dev")]
    shown = json.loads(ok(runner, "models", "show", "churn", "--json").stdout)
    assert [v["run_name"] for v in shown["versions"]] == ["r2", "r1"]  # traced to runs through commits
    # gitexp continues GTO's counter, and GTO reads the result
    ok(runner, "models", "assign", "churn", "v0.1.0", "--stage", "prod")
    assert "churn#prod#4" in git(repo, "tag", "-l").split()
    assert json.loads(run_gto(gto, repo, "show", "--json"))["churn"]["stage"]["prod"] == "v0.1.0"
    result = invoke(runner, "models", "get", "churn#prod", "-o", "m.pkl")
    assert result.exit_code == 1 and "names no model artifact" in result.stderr  # GTO records no artifact


def test_gitexp_tags_pass_git_fsck(repo, runner):
    make_run("r1")
    ok(runner, "models", "register", "churn", "r1")
    ok(runner, "models", "assign", "churn", "v0.0.1", "--stage", "prod")
    git(repo, "fsck", "--strict", "--no-progress")
    assert shutil.which("git")
    assert git(repo, "for-each-ref", "--format=%(objecttype) %(refname:short)", "refs/tags/").split("\n")[:2] == \
        ["tag churn#prod#1", "tag churn@v0.0.1"]
