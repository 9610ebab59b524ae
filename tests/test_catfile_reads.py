"""Object reads through one `git cat-file --batch` (store/catfile.py `Batch`, `GitDB._git_read`):
the same answers as dulwich, and hostile or absent objects refused as dulwich refuses them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import gitexp
from gitexp.errors import CorruptRecord, GitexpError
from gitexp.store.repo import GitDB, _dulwich_repo, open_repo
from gitexp.store.runcommit import RecordReader
from tests.helpers import git


def _hash(repo: Path, data: bytes, *args: str) -> str:
    """`git hash-object -w` of `data` (a blob unless `args` say otherwise)."""
    return subprocess.run(["git", "hash-object", "-w", *args, "--stdin"], cwd=repo, input=data,
                          capture_output=True, check=True).stdout.decode().strip()


def _run_commit(repo: Path) -> str:
    with gitexp.start_run(run_name="one", params={"lr": 0.1, "net": {"depth": 3}}) as run:
        gitexp.log_metric("acc", 0.5)
    return git(repo, "rev-parse", f"refs/gitexp/runs/default/{run.id}").strip()


def _reads(db: GitDB, commit: str) -> tuple:
    rec = RecordReader(db, commit)
    tree = rec.tree
    return (db.commit_info(commit), db.subtree(tree, ".gitexp"), db.subtree(tree, ".gitexp/metrics"),
            db.subtree(tree, "train.py"), db.subtree(tree, "nothing/here"), db.tree_entries(tree),
            db.list_tree(tree), rec.top(), rec.read("params.yaml"), rec.metric_keys())


@pytest.mark.parametrize("packed", [False, True])
def test_reads_through_git_answer_as_dulwich_does(repo: Path, packed: bool) -> None:
    commit = _run_commit(repo)
    if packed:
        git(repo, "gc", "-q")
    with open_repo(repo) as lite:
        got = _reads(lite, commit)
        assert lite._repo is None  # dulwich never loaded: read by git (packed) or from the loose files
        assert (lite._cat is not None) == packed
    with GitDB.of(_dulwich_repo(str(repo))) as full:
        assert full._cat is None
        assert got == _reads(full, commit)
    assert got[1] is not None and got[3] is None and b"lr: 0.1" in got[8] and got[9] == ["acc"]


def test_a_packed_blob_over_the_limit_is_refused_unread_and_reading_goes_on(repo: Path) -> None:
    commit = _run_commit(repo)
    huge = _hash(repo, b"#" * (17 << 20))
    git(repo, "update-ref", "refs/test/huge", huge)
    git(repo, "gc", "-q")
    assert not (repo / ".git" / "objects" / huge[:2] / huge[2:]).exists()
    with open_repo(repo) as db:
        with pytest.raises(CorruptRecord, match="over the 16 MiB limit"):
            db.read_blob(huge, 16 << 20)
        assert db.commit_info(commit)[0] == git(repo, "rev-parse", f"{commit}^{{tree}}").strip()
        with pytest.raises(GitexpError, match="is not a file"):
            db.read_blob(commit)  # another type: dulwich says so, as before
        with pytest.raises(KeyError):
            db.commit_info("0" * 40)  # absent: dulwich's KeyError, as before
        assert db._repo is not None


def test_a_malformed_tree_is_refused_as_dulwich_refuses_it(repo: Path) -> None:
    bad = _hash(repo, b"100644 x\0abc", "-t", "tree", "--literally")
    errors = []
    for db in (open_repo(repo), GitDB.of(_dulwich_repo(str(repo)))):
        with db, pytest.raises(Exception) as info:
            db.tree_entries(bad)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
