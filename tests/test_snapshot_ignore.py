"""The code snapshot takes the untracked files git shows: git's ignore rules, with and without git."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitexp.store import snapshot
from gitexp.store.repo import open_repo
from tests.helpers import git

FILES = [
    "notes.txt", "debug.log", "keep.log", "top.txt", "sub/top.txt", "sub/a.tmp", "sub/b.txt",
    "sub/deep/x.tmp", "sub/deep/y.txt", "build/out.bin", "build/keep.txt", "data/raw.csv", "data/README",
    "excluded-by-info.dat", "global.bak", "src/mod.py", "src/__pycache__/mod.pyc", "space name.txt", "ünï.txt",
]


@pytest.fixture
def messy(repo: Path, tmp_path: Path) -> Path:
    """Untracked files under nested .gitignore files, info/exclude, core.excludesFile and negations."""
    for name in FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    (repo / ".gitignore").write_text("*.log\n!keep.log\n/top.txt\nbuild/\n__pycache__/\ndata/*\n!data/README\n")
    (repo / "sub" / ".gitignore").write_text("*.tmp\n!deep/*.tmp\n")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("excluded-by-info.dat\n")
    excludes = tmp_path / "global-ignore"
    excludes.write_text("*.bak\n")
    git(repo, "config", "--global", "core.excludesFile", str(excludes))
    git(repo, "add", "src/mod.py")
    git(repo, "commit", "-q", "-m", "src")
    (repo / "src" / "mod.py").write_text("changed\n")
    return repo


def gits_untracked(repo: Path) -> list[str]:
    return sorted(git(repo, "ls-files", "-o", "--exclude-standard", "-z").split("\0")[:-1])


def snapshot_untracked(repo: Path) -> list[str]:
    with open_repo(repo) as db:
        return sorted(path for path, _ in snapshot.snapshot_worktree(db).untracked)


def test_untracked_files_are_those_git_shows(messy: Path) -> None:
    expected = gits_untracked(messy)
    assert "keep.log" in expected and "sub/deep/x.tmp" in expected and "data/README" in expected
    assert "global.bak" not in expected and "excluded-by-info.dat" not in expected
    assert snapshot_untracked(messy) == expected


def test_without_git_the_fallback_agrees_with_git(messy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dulwich's rules (no git installed) agree but for one case: a file re-included (`!data/README`)
    under an ignored `data/*`, which they miss (gitexp took them before git answered)."""
    (messy / ".gitignore").write_text("*.log\n!keep.log\n/top.txt\nbuild/\n__pycache__/\ndata/raw.csv\n")
    expected = gits_untracked(messy)
    monkeypatch.setattr(snapshot, "_git_untracked", lambda db, root: None)  # as on a machine without git
    assert snapshot_untracked(messy) == expected


def test_nested_repositories_and_the_record_folder_stay_out(repo: Path) -> None:
    (repo / "other").mkdir()
    git(repo / "other", "init", "-q")
    (repo / "other" / "inside.txt").write_text("x")
    (repo / ".gitexp").mkdir()
    (repo / ".gitexp" / "run.yaml").write_text("x")
    (repo / "kept.txt").write_text("x")
    assert snapshot_untracked(repo) == ["kept.txt"]


def test_snapshot_ignore_patterns_prune_folders(repo: Path) -> None:
    for name in ("outputs/a/b.txt", "src/outputs.txt", "notes.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    (repo / ".gitexp.yaml").write_text("snapshot:\n  ignore: [outputs]\n")
    with open_repo(repo) as db:
        from gitexp.settings import load_settings

        limits = load_settings(db).snapshot
        taken = sorted(path for path, _ in snapshot.snapshot_worktree(db, limits).untracked)
    assert taken == [".gitexp.yaml", "notes.md", "src/outputs.txt"]
