"""What each git hook does: record runs as trailers, keep empty messages empty, watch `.gitexp/`.

Called by `gitexp hook <name>` with git's own arguments. Nothing here blocks a
commit on its own: the CLI decides (strict mode) what a failure means.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from gitexp.errors import ConfigError, GitexpError
from gitexp.services.hooks import matching
from gitexp.services.hooks.trailers import add_trailers, drop_if_only_trailers
from gitexp.services.session import Session
from gitexp.store import gitcli
from gitexp.store.treecmp import RECORD_DIR

MODES = ("staged", "finished", "none")
PENDING_FILE = "gitexp-next-commit-runs.json"


@dataclass
class HookOutcome:
    """What a hook did: run ids it recorded, and lines for the user (stderr)."""

    recorded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    block: bool = False  # a problem strict mode turns into a refused commit


def is_strict(s: Session) -> bool:
    """`git config gitexp.hooks.strict true`: a gitexp failure refuses the commit."""
    return (_hooks_config(s, "strict") or "").lower() in ("true", "yes", "on", "1")


def selection_mode(s: Session) -> str:
    """`git config gitexp.hooks.record`: staged (default), finished or none."""
    mode = (_hooks_config(s, "record") or "staged").lower()
    if mode not in MODES:
        raise ConfigError(f"gitexp.hooks.record is {mode!r}; use one of: {', '.join(MODES)}",
                          hint="git config gitexp.hooks.record staged")
    return mode


def _hooks_config(s: Session, key: str) -> str | None:
    # dulwich keeps `[gitexp "hooks"]`-style subsections apart from dotted names; git writes the former.
    try:
        value = s.db.repo.get_config_stack().get((b"gitexp", b"hooks"), key.encode())
        return value.decode()
    except KeyError:
        return None


def _root(s: Session) -> str:
    if s.db.root is None:
        raise GitexpError("this repository has no working tree to commit from")
    return str(s.db.root)


def prepare_commit_msg(s: Session, message_file: Path) -> HookOutcome:
    """Add a `Gitexp-Run` trailer for every run the commit records (see matching.select_runs)."""
    root = _root(s)
    selection = matching.select_runs(s.db, root, selection_mode(s))
    ids = [c.id for c in selection.runs] + pending_runs(s)
    outcome = HookOutcome()
    outcome.recorded = add_trailers(root, message_file, ids) if ids else []
    if selection.unchecked:
        outcome.notes.append(f"gitexp: {selection.unchecked} runs not yet indexed were not checked; "
                             "run 'gitexp ls' once to index them")
    return outcome


def commit_msg(s: Session, message_file: Path) -> HookOutcome:
    """Let git abort a message that holds nothing but gitexp's trailers."""
    comment = s.db.config("core", "commentChar") or "#"
    drop_if_only_trailers(message_file, comment if len(comment) == 1 else "#")
    return HookOutcome()


def pre_commit(s: Session) -> HookOutcome:
    """Warn when the staged tree adds a run record folder that HEAD does not have."""
    root = _root(s)
    staged = gitcli.git(root, "ls-tree", "--name-only", gitcli.index_tree(root), "--", RECORD_DIR).strip()
    head = s.db.head()
    in_head = head is not None and gitcli.git(root, "ls-tree", "--name-only", head, "--", RECORD_DIR).strip()
    if not staged or in_head:
        return HookOutcome()
    return HookOutcome(notes=[
        f"gitexp: this commit adds a run record folder ({RECORD_DIR}/), as merging a branch made by "
        "'gitexp branch' does; it is never part of a run's code",
        f"hint: keep it out with 'git rm -r --cached {RECORD_DIR}'",
    ], block=True)


# -- runs named for the next commit ------------------------------------------------------------

def _pending_path(s: Session) -> Path:
    return Path(s.db.repo.controldir()) / PENDING_FILE  # per worktree: each has its own next commit


def mark_for_next_commit(s: Session, run_ids: list[str]) -> Path:
    """Name runs that the next commit on the current HEAD records, whatever their code."""
    path = _pending_path(s)
    current = pending_runs(s)
    data = {"head": s.db.head(), "runs": list(dict.fromkeys(current + run_ids))}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return path


def pending_runs(s: Session) -> list[str]:
    """Runs named for the next commit; forgotten once HEAD has moved (that commit was made)."""
    path = _pending_path(s)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("head") != s.db.head():
        path.unlink(missing_ok=True)
        return []
    return [str(r) for r in data.get("runs", []) if isinstance(r, str)]
