"""What each git hook does: record runs as trailers, keep empty messages empty, watch `.gitexp/`.

Called by `gitexp hook <name>` with git's own arguments, on a `HookRepo` (the
repository read through the git command: no dulwich, no YAML, no click). Nothing
here blocks a commit on its own: the caller decides (strict mode) what a failure means.
"""

from __future__ import annotations

import os

from gitexp.errors import ConfigError, GitexpError
from gitexp.services.hooks import matching
from gitexp.services.hooks.scripts import PENDING_FILE
from gitexp.services.hooks.trailers import add_trailers, drop_if_only_trailers
from gitexp.store import gitproc
from gitexp.store.gitlite import HookRepo
from gitexp.store.treecmp import RECORD_DIR

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a commit waits for this module)
if TYPE_CHECKING:
    from gitexp.services.session import Session

MODES = ("staged", "finished", "none")


class HookOutcome:
    """What a hook did: run ids it recorded, and lines for the user (stderr)."""

    def __init__(self, recorded: list[str] | None = None, notes: list[str] | None = None,
                 block: bool = False) -> None:
        self.recorded = recorded or []
        self.notes = notes or []
        self.block = block  # a problem strict mode turns into a refused commit


def is_strict(repo: HookRepo) -> bool:
    """`git config gitexp.hooks.strict true`: a gitexp failure refuses the commit."""
    return (repo.config("gitexp.hooks.strict") or "").lower() in ("true", "yes", "on", "1")


def selection_mode(repo: HookRepo) -> str:
    """`git config gitexp.hooks.record`: staged (default), finished or none."""
    mode = (repo.config("gitexp.hooks.record") or "staged").lower()
    if mode not in MODES:
        raise ConfigError(f"gitexp.hooks.record is {mode!r}; use one of: {', '.join(MODES)}",
                          hint="git config gitexp.hooks.record staged")
    return mode


def _root(repo: HookRepo) -> str:
    if repo.root is None:
        raise GitexpError("this repository has no working tree to commit from")
    return repo.root


def prepare_commit_msg(repo: HookRepo, message_file: str) -> HookOutcome:
    """Add a `Gitexp-Run` trailer for every run the commit records (see matching.select_runs)."""
    root = _root(repo)
    selection = matching.select_runs(repo, root, selection_mode(repo))
    ids = [c.id for c in selection.runs] + pending_runs(repo.git_dir, repo.head)
    outcome = HookOutcome()
    outcome.recorded = add_trailers(root, message_file, ids) if ids else []
    if selection.unchecked:
        outcome.notes.append(f"gitexp: {selection.unchecked} runs not yet indexed were not checked; "
                             "run 'gitexp ls' once to index them")
    return outcome


def commit_msg(repo: HookRepo, message_file: str) -> HookOutcome:
    """Let git abort a message that holds nothing but gitexp's trailers."""
    comment = repo.config("core.commentchar") or "#"
    drop_if_only_trailers(message_file, comment if len(comment) == 1 else "#")
    return HookOutcome()


def pre_commit(repo: HookRepo) -> HookOutcome:
    """Warn when the staged tree adds a run record folder that HEAD does not have."""
    root = _root(repo)
    staged = gitproc.git(root, "ls-tree", "--name-only", gitproc.index_tree(root), "--", RECORD_DIR).strip()
    head = repo.head
    in_head = head is not None and gitproc.git(root, "ls-tree", "--name-only", head, "--", RECORD_DIR).strip()
    if not staged or in_head:
        return HookOutcome()
    return HookOutcome(notes=[
        f"gitexp: this commit adds a run record folder ({RECORD_DIR}/), as merging a branch made by "
        "'gitexp branch' does; it is never part of a run's code",
        f"hint: keep it out with 'git rm -r --cached {RECORD_DIR}'",
    ], block=True)


# -- runs named for the next commit ------------------------------------------------------------

def _pending_path(git_dir: str | os.PathLike[str]) -> str:
    # Per worktree (each has its own next commit); the prepare-commit-msg script looks for it too.
    return os.path.join(git_dir, PENDING_FILE)


def mark_for_next_commit(s: Session, run_ids: list[str]) -> str:
    """Name runs that the next commit on the current HEAD records, whatever their code."""
    import json

    git_dir, head = s.db.repo.controldir(), s.db.head()
    path = _pending_path(git_dir)
    current = pending_runs(git_dir, head)
    data = {"head": head, "runs": list(dict.fromkeys(current + run_ids))}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data))
    os.replace(tmp, path)
    return path


def pending_runs(git_dir: str | os.PathLike[str], head: str | None) -> list[str]:
    """Runs named for the next commit on `head` in the worktree of `git_dir`; forgotten once HEAD
    has moved (that commit was made)."""
    path = _pending_path(git_dir)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    import json  # only when runs were named: most commits never get here

    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict) or data.get("head") != head:
        try:
            os.unlink(path)
        except OSError:
            pass
        return []
    return [str(r) for r in data.get("runs", []) if isinstance(r, str)]
