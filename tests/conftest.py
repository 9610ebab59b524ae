"""Shared fixtures: isolated real git repositories and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import init_repo, isolate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from $HOME and global git config; fix identities."""
    isolate(monkeypatch, tmp_path_factory.mktemp("home"))
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(tmp_path_factory.mktemp("template")))
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh git repository with one commit (train.py), as the current folder."""
    path = init_repo(tmp_path / "repo")
    monkeypatch.chdir(path)
    import gitexp.api as api

    monkeypatch.setattr(api, "_repo_path", str(path))
    monkeypatch.setattr(api, "_experiment", None)
    yield path
    api._end_all("FINISHED")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()




def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run only when asked for (`-m browser`): they need Chromium and take longer."""
    if "browser" in (config.getoption("markexpr", "") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("browser") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.get_closest_marker("browser")])
        items[:] = kept


@pytest.hookimpl(optionalhook=True)  # xdist may be absent (-p no:xdist)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` for the README's selection: one worker more than cores. Many tests wait on
    git and gitexp processes, so two workers on two cores left a fifth of the CPU idle
    (77 s → 68 s). A run that names its markers (`-m`: timing-sensitive real processes)
    keeps one per core."""
    import os

    cores = os.cpu_count() or 1
    marked = any(arg.startswith("-m") for arg in config.invocation_params.args)
    return cores if marked else cores + 1
