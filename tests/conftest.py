"""Shared fixtures: isolated real git repositories and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import git

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from $HOME and global git config; fix identities."""
    home = tmp_path_factory.mktemp("home")
    template = tmp_path_factory.mktemp("template")
    for key, value in {
        "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_TEMPLATE_DIR": str(template), "GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "test@example.com", "USER": "tester",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(key, value)
    for var in ("GITEXP_RUN_ID", "GITEXP_RUN_REF", "GITEXP_GIT_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh git repository with one commit (train.py), as the current folder."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('training')\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "initial")
    monkeypatch.chdir(path)
    import gitexp.api as api

    monkeypatch.setattr(api, "_repo_path", str(path))
    monkeypatch.setattr(api, "_experiment", None)
    yield path
    api._end_all("FINISHED")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


