"""Finding and reading runs: listing (through the cache), resolving references, whole runs."""

from __future__ import annotations

import os
from collections.abc import Iterable

from gitexp.errors import AmbiguousRun, RunNotFound
from gitexp.model import LAZY_FIELDS, Run, scalars_of
from gitexp.names import MIN_PREFIX, could_be_id_prefix, is_run_id
from gitexp.services.catalog.cache import Progress
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir
from gitexp.store.journal import read_journals
from gitexp.store.record import RunInfo, summarize
from gitexp.store.repo import RUNS_PREFIX
from gitexp.store.runcommit import Record, RecordReader, read_record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


def run_refs(s: Session, experiment: str | None = None) -> dict[str, str]:
    """{ref: tip commit} of every run, or of one experiment's runs."""
    s.integrate_fetched()
    return s.cache.refs(RUNS_PREFIX + (f"{experiment}/" if experiment else ""))


def run_names(s: Session) -> set[str]:
    """The name of every listed run (from the cache; builds it if need be: not for run starts)."""
    return {r.name for r in s.cache.summaries(run_refs(s), fields=())}


def list_runs(s: Session, experiment: str | None = None, progress: Progress | None = None,
              fields: Iterable[str] = LAZY_FIELDS) -> list[Run]:
    """Every run (or one experiment's), newest first; dead local runs are finalised first.

    `fields` (of the cached JSON fields) are fetched up front, the rest on first use.
    """
    s.recover()
    runs = s.cache.summaries(run_refs(s, experiment), progress, fields, complete=experiment is None)
    attach(s, runs)
    return sorted(runs, key=listing_order, reverse=True)


def listing_order(run: Run) -> tuple[int, str]:
    """The sort key of listings (newest first when reversed)."""
    return run.start_ms or 0, run.ref or ""


def attach(s: Session, runs: Iterable[Run]) -> None:
    """Give runs from the cache the session's loader (histories from git), and running ones their live values."""
    loader = _loader(s, s.cache.load_field)
    for run in runs:
        if run.error is None:
            run.loader = loader
        if run.status == "RUNNING":
            _overlay_live(s, run)


def _overlay_live(s: Session, run: Run) -> None:
    """Show a running run's latest values from its local journals."""
    folder = ActiveDir.of(s.db.local_dir, run.id)
    if not os.path.isdir(folder.path):
        return
    journal = read_journals(folder.path)
    live = Record(run.info, run.params, run.tags, {}, []).overlay(journal)
    run.params, run.tags = live.params, live.tags
    run.summary = {**run.summary, **{k: summarize(p) for k, p in live.metrics.items()}}


def resolve(s: Session, text: str, runs: list[Run] | None = None,
            refs: dict[str, str] | None = None) -> tuple[str | None, str]:
    """Find a run by id, id prefix, name or git revision; return (ref or None, commit).

    `runs` (for names) and `refs` (`run_refs(s)`) save re-reading them when resolving many.
    """
    text = text.strip()
    refs = run_refs(s) if refs is None else refs
    if is_run_id(text):  # the common case, without building the id map
        exact = [ref for ref in refs if ref.endswith("/" + text)]
        if exact:
            return exact[-1], refs[exact[-1]]
    if could_be_id_prefix(text):
        hits = sorted({i: r for r in refs if (i := r.rsplit("/", 1)[-1]).startswith(text)}.values())
        if len(hits) == 1:
            return hits[0], refs[hits[0]]
        if hits:
            raise _ambiguous(text, "id prefix", hits)
    named = [r for r in runs if r.name == text] if runs is not None else s.cache.with_name(refs, text)
    if len(named) == 1:
        return named[0].ref, named[0].commit
    if named:
        raise _ambiguous(text, "name", sorted(r.ref or r.commit for r in named))
    return _by_revision(s, text, refs)


def _by_revision(s: Session, text: str, refs: dict[str, str]) -> tuple[str | None, str]:
    commit = s.db.resolve(text)
    if commit is not None:
        rec = RecordReader(s.db, commit)
        if rec.is_run:
            run_id = RunInfo.from_yaml(rec.read("run.yaml") or b"").id
            by_id = {ref.rsplit("/", 1)[-1]: ref for ref in refs}  # built only here: names skip it
            return by_id.get(run_id), commit
    hint = "list runs with 'gitexp ls --all'"
    if len(text) < MIN_PREFIX:
        hint = f"an id prefix needs at least {MIN_PREFIX} characters; " + hint
    raise RunNotFound(f"no run matches {text!r}", hint=hint)


def _ambiguous(text: str, kind: str, refs: list[str]) -> AmbiguousRun:
    shown = ", ".join(r.rsplit("/", 1)[-1] for r in refs[:5]) + (" …" if len(refs) > 5 else "")
    if kind == "name":  # names are unique per clone, but runs pulled from others may share one
        return AmbiguousRun(f"ambiguous name {text!r}: {len(refs)} runs have it: {shown}",
                            hint="name the run by its id (or an id prefix), or give one a new name: "
                                 f"gitexp rename {refs[0].rsplit('/', 1)[-1]} NEW-NAME")
    return AmbiguousRun(f"{kind} {text!r} matches {len(refs)} runs: {shown}",
                        hint="give more characters of the id")


def live_record(s: Session, commit: str, ref: str | None = None) -> Record:
    """A run commit's whole record, with the journals of a run still running here on top."""
    record = read_record(s.db, commit, ref)
    folder = ActiveDir.of(s.db.local_dir, record.info.id)
    if record.info.status == "RUNNING" and os.path.isdir(folder.path):
        record = record.overlay(read_journals(folder.path))
    return record


def run_from_record(ref: str | None, commit: str, record: Record) -> Run:
    """A fully loaded Run (metric histories included)."""
    fields: dict[str, Any] = {"info": record.info, "params": record.params, "tags": record.tags,
                              "artifacts": record.artifacts, "history": record.metrics}
    return Run(ref, commit, scalars_of(record.info, ref), fields)


def get_run(s: Session, text: str) -> Run:
    """Load a whole run (with histories) by any reference `resolve` accepts."""
    s.recover()
    ref, commit = resolve(s, text)
    return run_from_record(ref, commit, live_record(s, commit, ref))


def _loader(s: Session, cached: Any) -> Any:
    """A listed run's loader: cached fields from the index, histories and artifacts from git."""
    def load(run: Run, field: str, from_git: bool) -> Any:
        if field in (*LAZY_FIELDS, "last"):
            return cached(run, field, from_git)
        record = live_record(s, run.commit, run.ref)
        return {"artifacts": record.artifacts, "history": record.metrics}[field]
    return load
