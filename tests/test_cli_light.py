"""The read commands start light: a warm `gitexp ls` loads no dulwich, and a repository opens
without it (store/location.py) unless its config could make dulwich see something else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import gitexp
from gitexp.store.repo import open_repo
from tests.helpers import git, init_repo, loaded_by

HEAVY = ("dulwich", "dulwich.repo", "dulwich.objects", "gitexp.services.registry.state",
         "gitexp.services.sync.integrate", "gitexp.services.tracking.finalize", "gitexp.services.catalog.hints",
         "gitexp.store.snapshot", "tabulate", "matplotlib")


def make_runs() -> list[str]:
    ids = []
    for n in range(3):
        with gitexp.start_run(run_name=f"r{n}", params={"lr": n / 10}) as run:
            gitexp.log_metric("acc", n / 3)
        ids.append(run.id)
    return ids


def run_cli(*args: str) -> str:
    return f"from gitexp.cli import main\nassert main({list(args)!r}) == 0"


def test_warm_ls_loads_no_dulwich_registry_sync_or_hints(repo: Path) -> None:
    make_runs()
    assert loaded_by(run_cli("ls"), ()) == []  # the first listing fills the cache
    assert loaded_by(run_cli("ls"), HEAVY) == []
    assert loaded_by(run_cli("ls", "--json"), HEAVY) == []


def test_a_plain_ls_loads_no_filter_language_nor_process_or_hash_modules(repo: Path) -> None:
    make_runs()
    plain = ("gitexp.services.catalog.filterexpr", "gitexp.services.catalog.predicates",
             "gitexp.services.catalog.sqlfilter", "subprocess", "shutil", "hashlib", "csv")
    assert loaded_by(run_cli("ls"), ()) == []  # fills the cache
    assert loaded_by(run_cli("ls"), plain) == []
    assert loaded_by(run_cli("ls", "--all", "-n", "1"), plain) == []
    assert loaded_by(run_cli("ls", "-f", "metrics.acc > 0"), plain) == [
        "gitexp.services.catalog.filterexpr", "gitexp.services.catalog.predicates",
        "gitexp.services.catalog.sqlfilter"]


def test_the_console_scripts_ls_loads_neither_typing_nor_datetime_nor_click(repo: Path) -> None:
    make_runs()
    entry = ("import sys\nsys.argv = ['gitexp', 'ls']\nfrom gitexp import _entry\ntry:\n    _entry.entry()\n"
             "except SystemExit as e:\n    assert e.code in (0, None)")
    assert loaded_by(entry, ()) == []  # fills the cache
    assert loaded_by(entry, ("typing", "datetime", "sqlite3", "click", "dulwich", "subprocess")) == []


def test_a_dead_run_and_fetched_runs_still_load_what_they_need(repo: Path) -> None:
    make_runs()
    (repo / ".git" / "gitexp" / "active" / "x").mkdir(parents=True)  # a run folder: recovery must look
    assert "gitexp.services.tracking.finalize" in loaded_by(run_cli("ls"), HEAVY)
    tip = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/gitexp/remotes/team/runs/default/0000000000000000", tip)
    assert "gitexp.services.sync.integrate" in loaded_by(run_cli("ls"), HEAVY)


def test_a_plain_repository_opens_without_dulwich_and_reads_objects_on_demand(repo: Path) -> None:
    run_id = make_runs()[0]
    with open_repo() as db:
        assert db._repo is None and db.root == repo and db.hex_length == 40
        ref = f"refs/gitexp/runs/default/{run_id}"
        assert db.refs_under("refs/gitexp/runs/")[ref] == git(repo, "rev-parse", ref).strip()
        assert db.commit_info(db.read_ref(ref) or "")[0] == git(repo, "rev-parse", f"{ref}^{{tree}}").strip()
        assert db._repo is None and db._cat is None  # a loose object is read as a file: no dulwich, no git


def test_a_linked_worktree_and_a_bare_clone_are_found_as_dulwich_finds_them(repo: Path, tmp_path: Path) -> None:
    make_runs()
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    (tmp_path / "wt" / "sub").mkdir()
    with open_repo(tmp_path / "wt" / "sub") as db:
        assert db.root == tmp_path / "wt" and os.path.samefile(db.common_dir, repo / ".git")
        assert db.place.control_dir != db.place.common_dir and db._repo is None
        assert db.repo.path == str(tmp_path / "wt")  # dulwich agrees
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "bare.git"))
    with open_repo(tmp_path / "bare.git") as db:
        assert db.root is None and db.common_dir == tmp_path / "bare.git" and db.repo.bare


@pytest.mark.parametrize("setting", [("extensions.objectformat", "sha256"), ("core.worktree", "..")])
def test_a_repository_with_config_dulwich_reads_is_opened_by_dulwich(tmp_path: Path, setting: tuple) -> None:
    if setting[0] == "extensions.objectformat":
        git(tmp_path, "init", "-q", "--object-format=sha256", str(tmp_path / "r"))
    else:
        init_repo(tmp_path / "r")
        git(tmp_path / "r", "config", *setting)
    with open_repo(tmp_path / "r") as db:
        assert db._repo is not None
        assert db.hex_length == (64 if setting[1] == "sha256" else 40)


def test_settings_come_from_git_config_with_or_without_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(repo, "config", "gitexp.defaultExperiment", "sweeps")
    git(repo, "config", "gitexp.packThreshold", "7")
    with open_repo() as db:
        assert (db.config("gitexp", "defaultexperiment"), db.config("gitexp", "packThreshold")) == ("sweeps", "7")
        assert db.config("gitexp", "nothing") is None and db._repo is None
    monkeypatch.setenv("PATH", str(repo / "nowhere"))  # no git on the PATH: dulwich reads the config
    with open_repo() as db:
        assert (db.config("gitexp", "defaultexperiment"), db.config("gitexp", "packthreshold")) == ("sweeps", "7")


def test_show_and_diff_read_two_records_without_dulwich(repo: Path) -> None:
    ids = make_runs()
    assert loaded_by(run_cli("ls"), ()) == []  # fills the cache
    for args in (("show", "r0"), ("show", ids[1]), ("diff", "r0", "r1"), ("diff", ids[0], ids[2], "--code")):
        assert loaded_by(run_cli(*args), HEAVY) == [], args
