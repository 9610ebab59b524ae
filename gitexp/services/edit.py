"""Managing runs after the fact: tags, notes, names, removal.

Every edit of an ended run is a new commit on the run's ref: its parent is the
previous tip, its tree is the same code plus an updated `.gitexp/` record, and
its message says what changed. So `git log <ref>` is the run's audit trail.

While a run is active only its own process writes its ref. A tag set then goes
to the run's journal (a new journal file in its active folder) and the owner
puts it in the final commit; notes, renames and removal wait until it ends.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitexp.errors import ConcurrentUpdate, GitexpError, InvalidName, InvalidValue, RunNotFound
from gitexp.names import check_key, check_run_name, could_be_id_prefix
from gitexp.services.tracking.localstate import ActiveDir, appending, claim_abandoned
from gitexp.services.tracking.finalize import load_state, recover_dead_runs
from gitexp.services.catalog.cache import RunIndex
from gitexp.services.catalog.listing import resolve, run_refs
from gitexp.store.repo import Entry, GitDB
from gitexp.store.journal import JournalWriter, read_journals
from gitexp.store.record import Artifact, Point, RunInfo, parse_mapping
from gitexp.store.runcommit import RecordReader, record_files, write_run_commit

MAX_ATTEMPTS = 8
_SUBJECT_VALUE = 40  # longest tag value shown in a commit subject


class RunIsActive(GitexpError):
    """The run is still running, so only its own process may change its ref."""


class NotEditable(GitexpError):
    """The run was found through a commit that no run ref points at."""


@dataclass
class RunState:
    """A run record loaded for editing; a mutation changes it in place."""

    info: RunInfo
    params: dict[str, Any]
    tags: dict[str, str]
    metrics: dict[str, list[Point]]
    artifacts: list[Artifact]


Mutation = Callable[[RunState], None]


@dataclass
class Target:
    """A run to edit: its ref, the ref's current tip and its run.yaml."""

    ref: str
    tip: str
    info: RunInfo

    @property
    def label(self) -> str:
        return f"{self.info.name} ({self.info.id})"


@dataclass
class EditResult:
    """What an edit did: the ref moved from `old` to `new`, or the change was queued."""

    ref: str
    run_id: str
    name: str
    old: str
    new: str
    queued: bool = False  # written to a live run's journal; the owner commits it at the end
    old_name: str | None = None  # set by rename_run

    @property
    def changed(self) -> bool:
        return self.queued or self.new != self.old


@dataclass
class Removed:
    """A removed run and the exact command that restores it."""

    ref: str
    run_id: str
    name: str
    sha: str
    registry_tags: list[str] = field(default_factory=list)

    @property
    def undo(self) -> str:
        return f"git update-ref {self.ref} {self.sha}"


# -- the edit primitive ------------------------------------------------------------
def edit_record(db: GitDB, ref: str, tip: str, message: str, mutate: Mutation) -> str:
    """Commit `mutate` applied to the record at `tip` onto `ref`; return the new tip.

    The new commit has `tip` as parent, the same code tree and the re-encoded
    record (inline artifact blobs, output.log and unknown files are kept). When
    the mutation changes nothing, no commit is written and `tip` is returned.
    If the ref moves meanwhile, the mutation is re-applied to the new tip (a few
    times) so that concurrent edits are never lost.
    """
    for attempt in range(MAX_ATTEMPTS):
        new = _edit_commit(db, tip, message, mutate)
        if new == tip:
            return tip
        try:
            db.set_ref(ref, tip, new, _reflog_message(message))
            return new
        except ConcurrentUpdate:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            _backoff(attempt)
            current = db.read_ref(ref)
            if current is None:
                raise RunNotFound(f"{ref} was removed while gitexp was editing it") from None
            tip = current
    raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0.01, 0.03) * (attempt + 1))


def _edit_commit(db: GitDB, tip: str, message: str, mutate: Mutation) -> str:
    state = RunState(*load_state(db, tip))  # freshly parsed: ours to change
    mutate(state)
    record_tree = RecordReader(db, tip).record_tree
    existing = db.list_tree(record_tree) if record_tree else {}
    # Metrics and artifacts are rebuilt from the state; anything else not encoded
    # here (output.log, files of newer formats) keeps its blob.
    files: dict[str, bytes | Entry] = {
        p: e for p, e in existing.items() if not p.startswith(("metrics/", "artifacts/"))
    }
    files.update(record_files(state.info, state.params, state.tags, state.metrics, state.artifacts))
    if _same_record(db, files, existing):
        return tip
    tree, _parents = db.commit_info(tip)
    return write_run_commit(db, tree, None, files, [tip], message)


def _same_record(db: GitDB, files: dict[str, bytes | Entry], existing: dict[str, Entry]) -> bool:
    if files.keys() != existing.keys():
        return False
    for path, value in files.items():
        sha = value.sha if isinstance(value, Entry) else db.blob_id(value)
        if sha != existing[path].sha:
            return False
    return True


def _reflog_message(message: str) -> str:
    subject = message.split("\n", 1)[0]
    return subject[len("gitexp: "):] if subject.startswith("gitexp: ") else subject


# -- finding the run to edit ----------------------------------------------------------
def find_target(db: GitDB, text: str) -> Target:
    """Resolve `text` to a run that has a ref here; dead local runs are finalised first."""
    recover_dead_runs(db, int(time.time() * 1000))
    ref, commit = resolve(db, text)
    if ref is None:
        info = load_state(db, commit)[0]
        raise NotEditable(
            f"{text!r} resolves to commit {commit[:12]} of run {info.name} ({info.id}), "
            "but no run ref points at that run here, so it cannot be changed",
            hint=f"restore its ref first: git update-ref refs/gitexp/runs/{info.experiment}/{info.id} {commit}",
        )
    tip = db.read_ref(ref)
    if tip is None:
        raise RunNotFound(f"run ref {ref} disappeared", hint="list runs with 'gitexp ls --all'")
    return Target(ref, tip, RunInfo.from_yaml(RecordReader(db, tip).read("run.yaml") or b"", ref))


def _info(db: GitDB, commit: str) -> RunInfo:
    return RunInfo.from_yaml(RecordReader(db, commit).read("run.yaml") or b"")


def live_folder(db: GitDB, info: RunInfo) -> ActiveDir | None:
    """The active folder of a RUNNING run whose owner process here is alive, else None."""
    if info.status != "RUNNING":
        return None
    folder = ActiveDir.of(db.local_dir, info.id)
    if not folder.path.is_dir():
        return None
    try:
        lock = claim_abandoned(folder.path)
    except OSError:  # the folder vanished: the run just ended
        return None
    if lock is not None:  # nobody works on it any more: not live
        lock.release()
        return None
    return folder


def _refuse_running(target: Target, action: str, hint: str | None = None) -> None:
    if target.info.status == "RUNNING":
        where = f" on {target.info.host}" if target.info.host else ""
        raise RunIsActive(
            f"run {target.label} is still running{where}; only its own process may {action} it now",
            hint=hint or f"{action} it after it ends",
        )


# -- tags -----------------------------------------------------------------------------
def set_tags(db: GitDB, run: str, tags: dict[str, Any] | None = None,
             delete: list[str] | tuple[str, ...] = ()) -> EditResult:
    """Set and/or delete tags of a run (any reference `resolve` accepts).

    An ended run gets a new commit; a run running here gets the change in its
    journal and its owner commits it at the end. Deleting a tag the run does
    not have is an error.
    """
    tags = {check_key(str(k).strip(), "tag key"): str(v) for k, v in (tags or {}).items()}
    delete = [check_key(str(k).strip(), "tag key") for k in delete]
    both = set(tags) & set(delete)
    if both:
        raise InvalidValue(f"tag {sorted(both)[0]!r} is both set and deleted", hint="give each key once")
    if not tags and not delete:
        raise InvalidValue("no tags to set or delete", hint="e.g. gitexp tag RUN stage=best")
    target = find_target(db, run)
    folder = live_folder(db, target.info)
    if folder is not None:
        return _queue_tags(db, target, folder, tags, delete)
    _refuse_running(target, "change tags of",
                    hint="tag it from the machine it runs on, or after it ends")
    return _commit_tags(db, target, tags, delete)


def _commit_tags(db: GitDB, target: Target, tags: dict[str, str], delete: list[str]) -> EditResult:
    def mutate(state: RunState) -> None:
        missing = [k for k in delete if k not in state.tags]
        if missing:
            raise _no_tag(state.info, missing[0], state.tags)
        state.tags.update(tags)
        for key in delete:
            del state.tags[key]

    new = edit_record(db, target.ref, target.tip, _tag_message(tags, delete), mutate)
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, new)


def _queue_tags(db: GitDB, target: Target, folder: ActiveDir, tags: dict[str, str],
                delete: list[str]) -> EditResult:
    if delete:
        current = {**_tags(db, target.tip), **read_journals(folder.path).tags}
        current = {k: v for k, v in current.items() if v is not None}
        missing = [k for k in delete if k not in current]
        if missing:
            raise _no_tag(target.info, missing[0], current)
    with appending(folder) as open_for_entries:
        if open_for_entries:
            writer = JournalWriter(folder.path)
            try:
                for key, value in tags.items():
                    writer.event("t", key, value)
                for key in delete:
                    writer.event("t", key, None)
            finally:
                writer.close()
    # The owner finalises under an exclusive lock, so written entries are in its
    # final commit. If it had already finished, apply the tags as an edit instead.
    tip = db.read_ref(target.ref)
    if tip is not None and (tip != target.tip or not open_for_entries):
        info = _info(db, tip)
        if info.status != "RUNNING":
            return _commit_tags(db, Target(target.ref, tip, info), tags,
                                [k for k in delete if k in _tags(db, tip)])
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, target.tip, queued=True)


def _tags(db: GitDB, commit: str) -> dict:
    return parse_mapping(RecordReader(db, commit).read("tags.yaml"), "tags.yaml")


def _no_tag(info: RunInfo, key: str, tags: dict) -> GitexpError:
    return InvalidValue(f"run {info.name} ({info.id}) has no tag {key!r}",
                        hint=f"its tags: {', '.join(sorted(tags)) or 'none'}")


def _tag_message(tags: dict[str, str], delete: list[str]) -> str:
    parts, full = [], []
    if tags:
        parts.append("tag " + " ".join(f"{k}={_short(v)}" for k, v in tags.items()))
        full = [f"{k}={v}" for k, v in tags.items() if _short(v) not in (v, f'"{v}"')]
    if delete:
        parts.append("delete tag " + " ".join(delete))
    body = "\n\n" + "\n".join(full) if full else ""
    return "gitexp: " + "; ".join(parts) + body


def _short(value: str) -> str:
    """A tag value for a one-line subject: newlines escaped, cut, quoted if it has spaces."""
    one_line = value.replace("\r", "").replace("\n", "\\n")
    if len(one_line) > _SUBJECT_VALUE:
        one_line = one_line[: _SUBJECT_VALUE - 1] + "…"
    return f'"{one_line}"' if not one_line or " " in one_line else one_line


# -- note -----------------------------------------------------------------------------
def set_note(db: GitDB, run: str, text: str | None) -> EditResult:
    """Set the run's description (`description` in run.yaml); None clears it."""
    if text is not None and not text.strip():
        raise InvalidValue("the note is empty", hint="to remove the note, use: gitexp note RUN --clear")
    target = find_target(db, run)
    _refuse_running(target, "add a note to", hint="add the note after it ends; tags can be set "
                    f"while it runs: gitexp tag {target.info.name} key=value")

    def mutate(state: RunState) -> None:
        state.info.description = text

    message = "gitexp: clear note" if text is None else f"gitexp: note\n\n{text.rstrip()}\n"
    new = edit_record(db, target.ref, target.tip, message, mutate)
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, new)


# -- rename ---------------------------------------------------------------------------
def rename_run(db: GitDB, run: str, name: str) -> EditResult:
    """Give a run a new name; names are unique in the repository."""
    name = check_run_name(name.strip() if isinstance(name, str) else name)
    target = find_target(db, run)
    _refuse_running(target, "rename")
    if name != target.info.name:
        _check_name_free(db, name, target.info.id)
    old_name = target.info.name

    def mutate(state: RunState) -> None:
        state.info.name = name

    new = edit_record(db, target.ref, target.tip, f"gitexp: rename {old_name} -> {name}", mutate)
    return EditResult(target.ref, target.info.id, name, target.tip, new, old_name=old_name)


def _check_name_free(db: GitDB, name: str, run_id: str) -> None:
    refs = run_refs(db)
    for s in RunIndex(db).summaries(refs):
        if s.name == name and s.id != run_id:
            raise InvalidName(f"run name {name!r} is already used by run {s.id} in experiment {s.experiment}",
                              hint=f"pick another name, or rename that run first: gitexp rename {s.id} NEW-NAME")
    if could_be_id_prefix(name):
        clash = sorted(r.rsplit("/", 1)[-1] for r in refs if r.rsplit("/", 1)[-1].startswith(name))
        if clash:
            raise InvalidName(f"run name {name!r} would be read as the id prefix of run {clash[0]}",
                              hint="pick a name that is not the start of a run id")


# -- removal --------------------------------------------------------------------------
def find_removable(db: GitDB, runs: list[str] | tuple[str, ...]) -> list[Target]:
    """Resolve every run to remove (each once); refuse runs still running here."""
    targets: dict[str, Target] = {}
    for text in runs:
        target = find_target(db, text)
        if live_folder(db, target.info) is not None:
            raise RunIsActive(f"run {target.label} is still running",
                              hint="stop it first (Ctrl-C in its terminal), then remove it")
        targets.setdefault(target.ref, target)
    return list(targets.values())


def remove_run(db: GitDB, run: str) -> Removed:
    """Remove one run (API convenience); `.undo` is the command that restores it."""
    return remove_runs(db, find_removable(db, [run]))[0]


def remove_runs(db: GitDB, targets: list[Target],
                on_removed: Callable[[Removed], None] | None = None) -> list[Removed]:
    """Delete each run's ref with compare-and-delete; the reflog keeps the old tip.

    `on_removed` is called after each removal, so a caller can report every undo
    command even when a later run fails.

    `git update-ref <ref> <sha>` (see `Removed.undo`) restores a run for as long
    as the reflog entry lives (gc.reflogExpireUnreachable, 30 days by default);
    after that `git gc` reclaims the run's objects.
    """
    removed = []
    for target in targets:
        tip = target.tip
        for attempt in range(MAX_ATTEMPTS):
            try:
                db.delete_ref(target.ref, tip, f"rm run {target.info.id} ({target.info.name})")
                break
            except ConcurrentUpdate:
                current = db.read_ref(target.ref)
                if current is None:
                    raise RunNotFound(f"run {target.label} was removed by another process") from None
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                tip = current  # edited meanwhile (a tag, a note): remove the newest tip
                _backoff(attempt)
        done = Removed(target.ref, target.info.id, target.info.name, tip,
                       registry_tags(db, tip, target.info.baseline))
        removed.append(done)
        if on_removed is not None:
            on_removed(done)
    return removed


def registry_tags(db: GitDB, tip: str, baseline: str | None) -> list[str]:
    """Registry tags (`name@vX`, `name#stage#n`) that point at a commit of this run."""
    candidates = {ref: sha for ref, sha in db.refs_under("refs/tags/").items()
                  if "@v" in ref or "#" in ref}
    if not candidates:
        return []
    chain, commit = set(), tip
    while commit and commit != baseline and commit not in chain and len(chain) < 10_000:
        chain.add(commit)
        parents = db.commit_info(commit)[1]
        commit = parents[0] if parents else None
    hits = []
    for ref in sorted(candidates):
        try:
            if db.resolve(ref) in chain:
                hits.append(ref[len("refs/tags/"):])
        except (KeyError, GitexpError):
            continue
    return hits
