"""A run's own end commits from the record it wrote at its start, not a read back of it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gitexp.services.tracking import run as tracking
from gitexp.services.session import Session
from gitexp.store.repo import open_repo
from gitexp.store.runcommit import read_record
from tests.helpers import git, record

PARAMS = {
    "lr": 0.1, "big": 10**30, "tiny": 1e-300, "inf": float("inf"), "nan": float("nan"), "flag": True, "none": None,
    "yes": "yes", "num_text": "1.0", "empty": "", "multi": "a\nb", "unicode": "ünï ✓", "colon": "a: b",
    "np": np.float32(0.25), "nested": {"depth": 3, "layers": (64, 32), "opt": {"name": "adam", "eps": 1e-8}},
    "list": [1, "two", 3.0, None, [4]], "lead zero": "007", "date": "2024-01-01",
}
TAGS = {"team": "a", "n": 5, "float": 0.5, "bool": False, "note": "#not a comment"}


def test_the_record_kept_is_the_record_read_back(repo: Path) -> None:
    """Byte for byte: the end's files from the kept record are those from the read-back one."""
    with open_repo(repo) as db:
        run = tracking.create_run(Session(db), "keep", "kept", params=PARAMS, tags=TAGS, command=["train.py"])
        assert run.written is not None
        commit, kept = run.written
        assert commit == db.read_ref(run.ref)
        read = read_record(db, commit)
        assert kept.files() == read.files()
        assert (kept.info, kept.tags, kept.metrics, kept.artifacts) == (read.info, read.tags, read.metrics,
                                                                       read.artifacts)
        run.end()
    assert record(repo, run.ref)["status"] == "FINISHED"
    assert record(repo, run.ref, "params.yaml")["nested"]["layers"] == [64, 32]
    git(repo, "fsck", "--strict", "--no-dangling")


def test_an_end_after_someone_else_moved_the_tip_reads_it_back(repo: Path) -> None:
    """The kept record is used only while its commit is the tip: an edit on the ref is kept."""
    with open_repo(repo) as db:
        run = tracking.create_run(Session(db), "keep", "moved", params={"lr": 0.1})
        assert run.written is not None
        tip = run.written[0]
        tree = git(repo, "rev-parse", f"{tip}^{{tree}}").strip()
        edit = read_record(db, tip)
        edit.tags["edited"] = "by another writer"
        from gitexp.store.runcommit import write_run_commit

        moved = write_run_commit(db, tree, None, edit.files(), [tip], "gitexp: edit")
        db.set_ref(run.ref, tip, moved, "edit")
        run.end()
    assert record(repo, run.ref, "tags.yaml") == {"edited": "by another writer"}
    assert record(repo, run.ref)["status"] == "FINISHED"


def test_gitexp_run_loads_neither_dulwich_nor_a_yaml_parser(repo: Path) -> None:
    import subprocess

    code = ("import atexit, runpy, sys; sys.argv = ['gitexp', 'run', '--', 'true']\n"
            "atexit.register(lambda: print(sorted(m for m in sys.modules\n"
            "                                     if m.startswith(('dulwich', 'ruamel', 'gitexp.store.yamlfast')))))\n"
            "runpy.run_module('gitexp', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert len(git(repo, "for-each-ref", "refs/gitexp/runs/").splitlines()) == 1


def test_the_end_commits_as_the_start_did_without_reading_the_config_again(repo: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada Start")
    with open_repo(repo) as db:
        run = tracking.create_run(Session(db), "default", "who")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Someone Else")  # changed while the run ran: it keeps its committer
    run.end()
    assert git(repo, "log", "--format=%cn", run.ref).split("\n")[:2] == ["Ada Start", "Ada Start"]
    assert git(repo, "reflog", "show", "--format=%gn", run.ref).split("\n")[:2] == ["Ada Start", "Ada Start"]
