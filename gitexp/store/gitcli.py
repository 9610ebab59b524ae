"""The few things gitexp asks of the real `git` command: the index, worktrees, checkouts.

dulwich writes objects and refs; the user's index and working tree belong to git,
so everything that reads the index as git does (GIT_INDEX_FILE during a commit,
split indexes, sparse checkouts) or changes files goes through `git` itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gitexp.store.gitproc import GitCommandError, failure, not_installed

__all__ = ["GitCommandError", "git"]  # GitCommandError lives in gitproc, the git hooks' lighter runner


def git(cwd: str | os.PathLike[str], *args: str, input: bytes | None = None,
        env: dict[str, str] | None = None) -> str:
    """Run `git args…` in `cwd`; its stdout as text, or GitCommandError with git's own message."""
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True,
                              env={**os.environ, **env} if env else None)
    except FileNotFoundError:
        raise not_installed() from None
    if proc.returncode != 0:
        raise failure(args, proc.returncode, proc.stderr)
    return proc.stdout.decode("utf-8", "surrogateescape")


def dirty_paths(root: str | os.PathLike[str]) -> list[str]:
    """Tracked paths with uncommitted changes, staged or not (untracked files aside)."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=no")
    return [item[3:] for item in out.split("\0") if len(item) > 3]


def tracked_paths(root: str | os.PathLike[str]) -> set[str]:
    """Every path the index tracks."""
    return {p for p in git(root, "ls-files", "-z").split("\0") if p}


def restore_paths(root: str | os.PathLike[str], source: str, paths: list[str]) -> None:
    """Make `paths` of the working tree (only: the index is left alone) what they are in `source`.

    A tracked path absent from `source` is deleted (`git restore` works in no-overlay mode).
    """
    if paths:
        git(root, "restore", f"--source={source}", "--worktree", "--pathspec-from-file=-", "--pathspec-file-nul",
            input=b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths),
            env={"GIT_LITERAL_PATHSPECS": "1"})


def add_worktree(root: str | os.PathLike[str], path: Path, commit: str) -> None:
    """A detached linked worktree at `path` checked out at `commit`."""
    git(root, "worktree", "add", "--detach", "--quiet", str(path), commit)


def remove_worktree(root: str | os.PathLike[str], path: Path) -> None:
    """Remove a linked worktree (its files and its admin folder), even if it has changes."""
    try:
        git(root, "worktree", "remove", "--force", "--force", str(path))
    finally:
        if not path.exists():
            git(root, "worktree", "prune")


def commits_with_trailer(root: str | os.PathLike[str], key: str, value: str, limit: int = 50) -> list[tuple[str, str]]:
    """(commit, subject) of branch, tag and remote commits whose message holds `key: value`.

    Run refs are left out of the walk on purpose: there are thousands and none holds trailers.
    """
    out = git(root, "log", "--branches", "--tags", "--remotes", "-F", f"--grep={key}: {value}",
              f"-n{limit}", "--format=%H%x00%s%x00%(trailers:key=" + key + ",valueonly,separator=%x01)%x00")
    found = []
    for record in out.split("\0\n"):
        parts = record.strip("\n").split("\0")
        if len(parts) >= 3 and value in parts[2].split("\x01"):
            found.append((parts[0], parts[1]))
    return found


def log_commits(root: str | os.PathLike[str], rev: str, limit: int) -> list[dict[str, str]]:
    """The first `limit` commits of `git log rev`: id, parents, author, date, subject, trailers text."""
    fmt = "%H%x00%P%x00%an%x00%aI%x00%s%x00%(trailers:only,unfold)%x00%x01"
    out = git(root, "log", f"-n{limit}", f"--format={fmt}", rev, "--")
    commits = []
    for record in out.split("\x01"):
        parts = record.lstrip("\n").split("\0")
        if len(parts) < 6:
            continue
        commits.append({"commit": parts[0], "parents": parts[1], "author": parts[2], "date": parts[3],
                        "subject": parts[4], "trailers": parts[5]})
    return commits
