"""`gitexp reproduce`: run a run's recorded command again, on its recorded code, as a new run.

The work happens in a temporary linked worktree checked out at the run's
baseline with the run's snapshot on top, so the user's working tree and index
are never touched; the worktree is removed on success, failure and Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitexp.errors import GitexpError
from gitexp.services.catalog.listing import resolve
from gitexp.services.session import Session, open_session
from gitexp.store import gitcli
from gitexp.store.record import RECORD_DIR, RunInfo, parse_mapping
from gitexp.store.runcommit import RecordReader

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import IO, Any

TAG = "reproduces"
ENV_SOURCE_ROOT = "GITEXP_SOURCE_ROOT"  # the user's working tree, for ignored inputs such as data/


@dataclass
class Plan:
    """What reproducing a run would do, shown before anything runs."""

    ref: str | None
    commit: str
    info: RunInfo
    params: dict[str, Any]
    author: str
    local: bool  # created in this clone (its ref's own reflog says so), else pulled or copied

    @property
    def source(self) -> str:
        return "created in this clone" if self.local else \
            f"not created in this clone (ref {self.ref or 'none'}: pulled or copied from elsewhere)"


@dataclass
class Reproduced:
    original: RunInfo
    run_id: str
    name: str
    status: str
    exit_code: int


def plan(s: Session, text: str) -> Plan:
    """Find the run and what reproducing it takes; refuses a run with no recorded command."""
    ref, commit = resolve(s, text)
    rec = RecordReader(s.db, commit)
    info = RunInfo.from_yaml(rec.read("run.yaml") or b"")
    command = runnable(info.command)
    if not command:
        raise GitexpError(f"run {info.name} ({info.id}) has no recorded command to run again "
                          f"(it was logged from {'an interactive session' if info.command else 'Python'})",
                          hint=f"get its code with 'gitexp apply {info.id}' (or a branch: "
                               f"'gitexp branch {info.id} NAME') and run it yourself")
    info.command = command
    params = parse_mapping(rec.read("params.yaml"), "params.yaml")
    author = s.db.commit_author(commit)
    return Plan(ref, commit, info, params, author, _created_here(s, ref))


def runnable(command: list[str]) -> list[str]:
    """The command to run again: `gitexp run`'s argv as is; a Python script's argv (a run logged from
    `python train.py`) through this Python; nothing for `python -c`, notebooks and consoles."""
    if not command or command[0] in ("-c", "-m", "") or "ipykernel" in command[0]:
        return []
    if command[0].endswith(".py") and not os.access(command[0], os.X_OK):
        return [sys.executable, *command]
    return list(command)


def _created_here(s: Session, ref: str | None) -> bool:
    """True when the run ref's reflog (local-only, never pushed) starts with its creation here."""
    if ref is None:
        return False
    try:
        with open(s.db.common_dir / "logs" / ref, "rb") as f:
            first = f.readline()
    except OSError:
        return False
    return b"\tgitexp: start run " in first


def reproduce(s: Session, p: Plan, out: IO[bytes], err: IO[bytes],
              on_start: Callable[[Any], None] | None = None) -> Reproduced:
    """Run the plan's command in a temporary worktree as a new run tagged `reproduces=<id>`."""
    from gitexp.services.tracking.launcher import LaunchSpec, launch

    root = s.db.root or s.db.common_dir
    folder = Path(tempfile.mkdtemp(prefix=f"gitexp-reproduce-{p.info.id[:8]}-"))
    added = False
    try:
        gitcli.add_worktree(root, folder, p.info.baseline or p.commit)
        added = True
        _put_snapshot(folder, p.commit)
        spec = LaunchSpec(list(p.info.command), p.info.experiment or None, None,
                          {} if (folder / "params.yaml").exists() else dict(p.params), {TAG: p.info.id})
        with open_session(folder) as ws, _inside(folder, str(root)):
            result = launch(ws, spec, out, err, on_start=on_start)
        return Reproduced(p.info, result.run_id, result.name, result.status, result.exit_code)
    finally:  # success, failure, Ctrl-C alike
        if added:
            try:
                gitcli.remove_worktree(root, folder)
            except GitexpError:
                pass
        shutil.rmtree(folder, ignore_errors=True)


def _put_snapshot(folder: Path, commit: str) -> None:
    """The run's code on top of its baseline: tracked and untracked files, never the record folder."""
    gitcli.git(folder, "restore", f"--source={commit}", "--worktree", "--", ".", f":(exclude){RECORD_DIR}")


class _inside:
    """Run the command from the worktree (the launcher starts it in the current folder)."""

    def __init__(self, folder: Path, source_root: str) -> None:
        self.folder, self.source_root = folder, source_root
        self.old: str | None = None
        self.old_env: str | None = None

    def __enter__(self) -> None:
        self.old, self.old_env = os.getcwd(), os.environ.get(ENV_SOURCE_ROOT)
        os.environ[ENV_SOURCE_ROOT] = self.source_root
        os.chdir(self.folder)

    def __exit__(self, *exc: object) -> None:
        os.chdir(self.old or "/")
        if self.old_env is None:
            os.environ.pop(ENV_SOURCE_ROOT, None)
        else:
            os.environ[ENV_SOURCE_ROOT] = self.old_env
