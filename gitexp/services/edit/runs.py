"""Notes, names and removal of ended runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gitexp.errors import GitexpError, InvalidName, InvalidValue, RunNotFound
from gitexp.names import check_run_name, could_be_id_prefix
from gitexp.services.catalog.listing import run_refs
from gitexp.services.edit.core import (
    EditResult, RunIsActive, Target, _refuse_running, edit_record, find_target, live_folder, with_retries,
)
from gitexp.services.registry.tagnames import registry_tags
from gitexp.services.session import Session
from gitexp.services.sync.removed import remember_removed
from gitexp.services.tracking.names import NameTaken, claim_name, release_name
from gitexp.store.runcommit import Record


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


# -- note -----------------------------------------------------------------------------
def set_note(s: Session, run: str, text: str | None) -> EditResult:
    """Set the run's description (`description` in run.yaml); None clears it."""
    if text is not None and not text.strip():
        raise InvalidValue("the note is empty", hint="to remove the note, use: gitexp note RUN --clear")
    target = find_target(s, run)
    _refuse_running(target, "add a note to", hint="add the note after it ends; tags can be set "
                    f"while it runs: gitexp tag {target.info.name} key=value")

    def mutate(state: Record) -> None:
        state.info.description = text

    message = "gitexp: clear note" if text is None else f"gitexp: note\n\n{text.rstrip()}\n"
    new = edit_record(s.db, target.ref, target.tip, message, mutate)
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, new)


# -- rename ---------------------------------------------------------------------------
def rename_run(s: Session, run: str, name: str) -> EditResult:
    """Give a run a new name; names are unique in the repository."""
    name = check_run_name(name.strip() if isinstance(name, str) else name)
    target = find_target(s, run)
    _refuse_running(target, "rename")
    old_name = target.info.name
    if name != old_name:
        _check_not_an_id_prefix(s, name)
        _claim(s, name, target.ref)

    def mutate(state: Record) -> None:
        state.info.name = name

    try:
        new = edit_record(s.db, target.ref, target.tip, f"gitexp: rename {old_name} -> {name}", mutate)
    except BaseException:
        if name != old_name:
            release_name(s, name, target.ref)
        raise
    if name != old_name:
        release_name(s, old_name, target.ref)
    return EditResult(target.ref, target.info.id, name, target.tip, new, old_name=old_name)


def _claim(s: Session, name: str, ref: str) -> None:
    """Reserve the new name atomically (two renames to one name: one wins)."""
    try:
        claim_name(s, name, ref)
    except NameTaken as exc:
        other = exc.run_id
        raise InvalidName(f"run name {name!r} is already used by run {other}",
                          hint=f"pick another name, or rename that run first: gitexp rename {other} NEW-NAME") from None


def _check_not_an_id_prefix(s: Session, name: str) -> None:
    refs = run_refs(s)
    if could_be_id_prefix(name):
        clash = sorted(r.rsplit("/", 1)[-1] for r in refs if r.rsplit("/", 1)[-1].startswith(name))
        if clash:
            raise InvalidName(f"run name {name!r} would be read as the id prefix of run {clash[0]}",
                              hint="pick a name that is not the start of a run id")


# -- removal --------------------------------------------------------------------------
class RunIsRegistered(GitexpError):
    """A registry tag points at the run: removing it would orphan a model version."""


def find_removable(s: Session, runs: list[str] | tuple[str, ...], force: bool = False) -> list[Target]:
    """Resolve every run to remove (each once); refuse runs still running here, and
    runs a registry tag points at unless `force`."""
    targets: dict[str, Target] = {}
    for text in runs:
        target = find_target(s, text)
        if live_folder(s.db, target.info) is not None:
            raise RunIsActive(f"run {target.label} is still running",
                              hint="stop it first (Ctrl-C in its terminal), then remove it")
        tags = [] if force else registry_tags(s.db, target.tip, target.info.baseline)
        if tags:
            raise RunIsRegistered(f"run {target.label} is a registered model version ({', '.join(tags[:3])})",
                                  hint="its tags keep it reachable anyway; "
                                       f"to remove the ref: gitexp rm --force {text}")
        targets.setdefault(target.ref, target)
    return list(targets.values())


def remove_run(s: Session, run: str, force: bool = False) -> Removed:
    """Remove one run (API convenience); `.undo` is the command that restores it."""
    return remove_runs(s, find_removable(s, [run], force))[0]


def remove_runs(s: Session, targets: list[Target],
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
        def attempt(tip: str, target: Target = target) -> str:
            s.db.delete_ref(target.ref, tip, f"rm run {target.info.id} ({target.info.name})")
            return tip  # edited meanwhile (a tag, a note): the newest tip is what was removed

        try:
            tip = with_retries(s.db, target.ref, target.tip, attempt)
        except RunNotFound:
            raise RunNotFound(f"run {target.label} was removed by another process") from None
        release_name(s, target.info.name, target.ref)
        done = Removed(target.ref, target.info.id, target.info.name, tip,
                       registry_tags(s.db, tip, target.info.baseline))
        removed.append(done)
        remember_removed(s.db, target.info.id, target.ref, tip)  # so a pull does not bring it back
        if on_removed is not None:
            on_removed(done)
    return removed
