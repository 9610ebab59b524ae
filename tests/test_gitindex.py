"""The index reader against what git itself says of its index (`git ls-files --stage --debug`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from gitexp.store.gitindex import IndexRow, read_index
from tests.helpers import git, init_repo


ENTRY = re.compile(rb"(\d+) ([0-9a-f]+) (\d)\t([^\0]*)\0  ctime: \d+:\d+\n  mtime: (\d+):(\d+)\n"
                   rb"  dev: \d+\tino: \d+\n  uid: \d+\tgid: \d+\n  size: (\d+)\tflags: ([0-9a-f]+)\n")


def git_rows(repo: Path) -> dict[bytes, IndexRow]:
    """The index as git lists it: mode, id, stage, path, then the stat lines of each entry."""
    out = subprocess.run(["git", "ls-files", "--stage", "--debug", "-z"], cwd=repo, capture_output=True,
                         check=True).stdout
    rows: dict[bytes, IndexRow] = {}
    for mode, sha, stage, path, seconds, nanos, size, flags in ENTRY.findall(out):
        rows[path] = IndexRow(int(mode, 8), sha.decode(), int(size), int(seconds) * 10**9 + int(nanos), int(stage),
                              bool(int(flags, 16) & 0x40000000))  # git's in-memory CE_SKIP_WORKTREE
    assert sum(1 for _ in ENTRY.finditer(out)) == out.count(b"ctime:")  # every entry parsed
    return rows


def ours(repo: Path, oid_bytes: int = 20) -> dict[bytes, IndexRow] | None:
    return read_index((repo / ".git" / "index").read_bytes(), oid_bytes)


def make_files(repo: Path) -> None:
    (repo / "bin").mkdir()
    (repo / "bin" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "bin" / "run.sh", 0o755)
    os.symlink("train.py", repo / "link.py")
    deep = repo / "/".join(["d" * 200] * 10)  # version 4: the next path strips 2,000 bytes (a 2-byte varint)
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("deep\n")
    long_dir = repo / ("x" * 180) / "y"
    long_dir.mkdir(parents=True)
    (long_dir / "f.txt").write_text("1\n")
    (repo / "z.txt").write_text("after a long path: version 4 strips over 127 bytes\n")
    (repo / "é.txt").write_text("unicode\n")
    git(repo, "add", ".")


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_versions_match_git(tmp_path: Path, version: str) -> None:
    repo = init_repo(tmp_path / "repo")
    make_files(repo)
    (repo / "new.py").write_text("x = 1\n")
    git(repo, "add", "--intent-to-add", "new.py")  # an extended flag (version 3 and up)
    if version != "2":
        git(repo, "update-index", "--skip-worktree", "train.py")
    else:
        git(repo, "rm", "-q", "--cached", "new.py")
    git(repo, "update-index", "--index-version", version)
    assert (repo / ".git" / "index").read_bytes()[4:8] == int(version).to_bytes(4, "big")
    got = ours(repo)
    assert got == git_rows(repo)
    assert len(got) >= 7 and (got[b"train.py"].skip_worktree is (version != "2"))


def test_merge_conflict_stages(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "train.py").write_text("print('other')\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "-")
    (repo / "train.py").write_text("print('mine')\n")
    git(repo, "commit", "-qam", "mine")
    git(repo, "merge", "-q", "other", check=False)
    got = ours(repo)
    assert got is not None and got[b"train.py"].stage in (1, 2, 3)
    assert got == git_rows(repo)  # one row per path: a conflict's last stage


def test_sha256_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(repo))
    make_files(repo)
    got = ours(repo, 32)
    assert got == git_rows(repo) and len(next(iter(got.values())).sha) == 64


@pytest.mark.parametrize("data", [b"", b"DIRC", b"DIRC\0\0\0\x05\0\0\0\x01", b"XXXX\0\0\0\x02\0\0\0\x00"])
def test_what_it_leaves_to_dulwich(data: bytes) -> None:
    assert read_index(data, 20) is None


def test_truncated_index_is_left_to_dulwich(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    data = (repo / ".git" / "index").read_bytes()
    assert read_index(data, 20) is not None
    assert read_index(data[:40], 20) is None
