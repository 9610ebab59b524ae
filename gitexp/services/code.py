"""Getting back to a run's code: the commit log with its runs, `apply`, `branch`."""

from __future__ import annotations


from gitexp.errors import GitexpError, InvalidName
from gitexp.model import Run
from gitexp.services.catalog.listing import list_runs, resolve
from gitexp.services.hooks.trailers import TRAILER, run_ids_in
from gitexp.services.session import Session
from gitexp.slots import Value
from gitexp.store import gitcli
from gitexp.store.record import RECORD_DIR, RunInfo
from gitexp.store.runcommit import RecordReader

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


def _root(s: Session) -> str:
    if s.db.root is None:
        raise GitexpError("this repository has no working tree", hint="run this in a clone with files checked out")
    return str(s.db.root)


def _info(s: Session, commit: str) -> RunInfo:
    return RunInfo.from_yaml(RecordReader(s.db, commit).read("run.yaml") or b"")


# -- log -------------------------------------------------------------------------------------------

class LoggedCommit(Value):
    """A commit of `git log`, the runs it recorded and the runs made on top of it."""

    commit: str
    parents: list[str]
    author: str
    date: str
    subject: str
    recorded: list[str]  # run ids from Gitexp-Run trailers
    runs: dict[str, Run]  # every run named here that this clone has
    baseline_of: list[Run]


def commit_log(s: Session, rev: str = "HEAD", limit: int = 20) -> list[LoggedCommit]:
    """The first `limit` commits of `git log REV`, each with its recorded runs and the runs based on it."""
    root = _root(s)
    if s.db.head() is None and rev == "HEAD":
        raise GitexpError("this repository has no commits yet", hint="git commit, then gitexp log")
    try:
        commits = gitcli.log_commits(root, rev, limit)
    except gitcli.GitCommandError:
        raise GitexpError(f"unknown revision {rev!r}", hint="give a branch, tag or commit, e.g. gitexp log main") \
            from None
    runs = list_runs(s)
    by_id = {r.id: r for r in runs}
    by_base: dict[str, list[Run]] = {}
    for r in runs:
        base = r.info.baseline if not r.error else None
        if base:
            by_base.setdefault(base, []).append(r)
    out = []
    for c in commits:
        ids = [i for i in run_ids_in(c["trailers"])]
        out.append(LoggedCommit(c["commit"], c["parents"].split(), c["author"], c["date"], c["subject"],
                                ids, {i: by_id[i] for i in ids if i in by_id},
                                sorted(by_base.get(c["commit"], []), key=lambda r: r.start_ms or 0)))
    return out


def run_brief(r: Run, metrics: int = 3) -> dict[str, Any]:
    """id, name, status and the first few metrics' last values."""
    last = dict(list(r.metrics.items())[:metrics]) if not r.error else {}
    return {"id": r.id, "name": r.name, "experiment": r.experiment, "status": r.status, "metrics": last}


def recording_commits(s: Session, run_id: str) -> list[tuple[str, str]]:
    """(commit, subject) of every branch, tag or remote commit with a `Gitexp-Run: run_id` trailer."""
    if s.db.root is None:  # (a repository with no commits: git finds none, and dulwich stays unloaded)
        return []
    return gitcli.commits_with_trailer(str(s.db.root), TRAILER, run_id)


# -- apply -----------------------------------------------------------------------------------------

class Applied(Value):
    run: RunInfo
    commit: str
    changes: list[tuple[str, str]]  # (added | modified | deleted, path)


def apply_run(s: Session, text: str, force: bool = False) -> Applied:
    """Make the working tree hold the run's code snapshot (never its record folder).

    Refuses over uncommitted changes, and over untracked files the snapshot would
    overwrite, unless `force`. Only the working tree changes, not the index, so
    `git status` and `git diff` show what the run had on top of HEAD.
    """
    root = _root(s)
    _ref, commit = resolve(s, text)
    info = _info(s, commit)
    tree, _ = s.db.commit_info(commit)
    code = {p: e for p, e in s.db.list_tree(tree).items() if not _in_record(p)}
    from gitexp.store.snapshot import snapshot_worktree  # loads dulwich: `show` imports this module

    current = snapshot_worktree(s.db, s.settings.snapshot).files
    tracked = gitcli.tracked_paths(root)
    changes = [("added" if p not in current else "modified", p) for p, e in sorted(code.items())
               if current.get(p) != e]
    changes += [("deleted", p) for p in sorted(tracked - code.keys()) if p in current and not _in_record(p)]
    if not force:
        _refuse_over_changes(root, changes, tracked, current)
    gitcli.restore_paths(root, commit, [p for _, p in changes])
    return Applied(info, commit, changes)


def _in_record(path: str) -> bool:
    return path == RECORD_DIR or path.startswith(RECORD_DIR + "/")


def _refuse_over_changes(root: str, changes: list[tuple[str, str]], tracked: set[str], current: dict) -> None:
    dirty = gitcli.dirty_paths(root)
    clobbered = [p for kind, p in changes if kind == "modified" and p not in tracked]
    if dirty or clobbered:
        paths = dirty or clobbered
        what = "uncommitted changes in" if dirty else "untracked files the run's code would overwrite:"
        shown = ", ".join(paths[:3]) + (" …" if len(paths) > 3 else "")
        raise GitexpError(f"{what} {len(paths)} file(s): {shown}",
                          hint="commit or stash them first, or add --force to overwrite them")


# -- branch ----------------------------------------------------------------------------------------

def branch_from_run(s: Session, text: str, name: str) -> tuple[RunInfo, str, str]:
    """Create `refs/heads/<name>` at the run commit; (run.yaml, branch ref, commit). Never moves a branch."""
    ref_name = f"refs/heads/{name}"
    root = s.db.root or s.db.common_dir
    try:
        gitcli.git(root, "check-ref-format", "--branch", name)
    except gitcli.GitCommandError:
        raise InvalidName(f"invalid branch name {name!r}", hint="e.g. gitexp branch RUN exp/lr-0.1") from None
    _ref, commit = resolve(s, text)
    info = _info(s, commit)
    if s.db.read_ref(ref_name) is not None:
        raise GitexpError(f"branch {name!r} already exists",
                          hint=f"choose another name, or delete it first: git branch -D {name}")
    s.db.set_ref(ref_name, None, commit, f"branch {name} from run {info.name} ({info.id})")
    return info, ref_name, commit
