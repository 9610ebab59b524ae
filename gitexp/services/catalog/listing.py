"""Finding and reading runs: listing (through the cache), resolving references, Run objects."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitexp.errors import AmbiguousRun, GitexpError, RunNotFound
from gitexp.names import MIN_PREFIX, could_be_id_prefix, is_run_id
from gitexp.services.tracking.localstate import ActiveDir
from gitexp.services.tracking.finalize import load_state, merge, recover_dead_runs
from gitexp.services.catalog.cache import LAZY_FIELDS, Progress, RunIndex, RunSummary
from gitexp.store.repo import RUNS_PREFIX, GitDB
from gitexp.store.journal import read_journals
from gitexp.store.record import Artifact, Point, RunInfo, ms_from_iso, summarize
from gitexp.store.runcommit import RecordReader


def run_refs(db: GitDB, experiment: str | None = None) -> dict[str, str]:
    """{ref: tip commit} of every run, or of one experiment's runs."""
    return RunIndex(db).refs(RUNS_PREFIX + (f"{experiment}/" if experiment else ""))


def run_names(db: GitDB) -> set[str]:
    """The name of every run in the repository (from the cache)."""
    return {s.name for s in RunIndex(db).summaries(run_refs(db), fields=())}


def list_runs(db: GitDB, experiment: str | None = None, progress: Progress | None = None,
              fields: Iterable[str] = LAZY_FIELDS) -> list[RunSummary]:
    """Every run (or one experiment's), newest first; dead local runs are finalised first.

    `fields` (of RunSummary's JSON fields) are fetched up front, the rest on first use.
    """
    recover_dead_runs(db, int(time.time() * 1000))
    summaries = RunIndex(db).summaries(run_refs(db, experiment), progress, fields)
    for s in summaries:
        if s.status == "RUNNING":
            _overlay_live(db, s)
    return sorted(summaries, key=lambda s: (s.start_ms or 0, s.ref), reverse=True)


def _overlay_live(db: GitDB, s: RunSummary) -> None:
    """Show a running run's latest values from its local journals."""
    folder = ActiveDir.of(db.local_dir, s.id)
    if not folder.path.is_dir():
        return
    journal = read_journals(folder.path)
    s.params = {**s.params, **journal.params}
    s.tags = {k: v for k, v in {**s.tags, **journal.tags}.items() if v is not None}
    live = {key: summarize(sorted(points, key=lambda p: p[0])) for key, points in journal.metrics.items()}
    s.summary = {**s.summary, **live}  # assigned, not changed in place: the last values follow


def resolve(db: GitDB, text: str, summaries: list[RunSummary] | None = None) -> tuple[str | None, str]:
    """Find a run by id, id prefix, name or git revision; return (ref or None, commit)."""
    text = text.strip()
    refs = run_refs(db)
    by_id = {ref.rsplit("/", 1)[-1]: ref for ref in refs}
    if is_run_id(text) and text in by_id:
        return by_id[text], refs[by_id[text]]
    if could_be_id_prefix(text):
        hits = sorted(r for i, r in by_id.items() if i.startswith(text))
        if len(hits) == 1:
            return hits[0], refs[hits[0]]
        if hits:
            raise _ambiguous(text, "id prefix", hits)
    if summaries is None:
        summaries = RunIndex(db).summaries(refs, fields=())
    named = [s for s in summaries if s.name == text]
    if len(named) == 1:
        return named[0].ref, named[0].commit
    if named:
        raise _ambiguous(text, "name", [s.ref for s in named])
    return _by_revision(db, text, by_id)


def _by_revision(db: GitDB, text: str, by_id: dict[str, str]) -> tuple[str | None, str]:
    commit = db.resolve(text)
    if commit is not None:
        rec = RecordReader(db, commit)
        if rec.is_run:
            run_id = RunInfo.from_yaml(rec.read("run.yaml") or b"").id
            return by_id.get(run_id), commit
    hint = "list runs with 'gitexp ls --all'"
    if len(text) < MIN_PREFIX:
        hint = f"an id prefix needs at least {MIN_PREFIX} characters; " + hint
    raise RunNotFound(f"no run matches {text!r}", hint=hint)


def _ambiguous(text: str, kind: str, refs: list[str]) -> AmbiguousRun:
    shown = ", ".join(r.rsplit("/", 1)[-1] for r in refs[:5]) + (" …" if len(refs) > 5 else "")
    return AmbiguousRun(f"{kind} {text!r} matches {len(refs)} runs: {shown}",
                        hint="give more characters of the id")


@dataclass
class Run:
    """A run as the API returns it: info, params, tags, metric summaries, artifacts."""

    ref: str | None
    commit: str
    info: RunInfo
    params: dict[str, Any]
    tags: dict[str, str]
    history: dict[str, list[Point]] = field(repr=False)
    artifacts: list[Artifact]

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def metrics(self) -> dict[str, float]:
        """Last value of each metric (MLflow's `run.data.metrics`)."""
        return {k: p[-1][1] for k, p in self.history.items() if p}

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        return {k: summarize(p) for k, p in sorted(self.history.items()) if p}

    @property
    def duration(self) -> float | None:
        start, end = ms_from_iso(self.info.start_time), ms_from_iso(self.info.end_time)
        return None if start is None or end is None else (end - start) / 1000

    def metric_history(self, key: str) -> list[Point]:
        """Every (step, value, timestamp) logged for `key`."""
        if key not in self.history:
            raise GitexpError(f"run {self.name} has no metric {key!r}",
                              hint=f"its metrics: {', '.join(sorted(self.history)) or 'none'}")
        return list(self.history[key])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "experiment": self.info.experiment, "ref": self.ref,
            "commit": self.commit, "info": dict(self.info.__dict__), "duration": self.duration,
            "params": self.params, "tags": self.tags, "metrics": self.summary,
            "artifacts": [a.to_dict() for a in sorted(self.artifacts, key=lambda a: a.path)],
        }


def get_run(db: GitDB, text: str) -> Run:
    """Load a whole run (with histories) by any reference `resolve` accepts."""
    recover_dead_runs(db, int(time.time() * 1000))
    ref, commit = resolve(db, text)
    state = load_state(db, commit, ref)
    info = state[0]
    folder = ActiveDir.of(db.local_dir, info.id)
    if info.status == "RUNNING" and folder.path.is_dir():
        params, tags, history, artifacts = merge(state, read_journals(folder.path))
    else:
        params, tags, history, artifacts = state[1], state[2], state[3], state[4]
    return Run(ref, commit, info, params, {k: str(v) for k, v in tags.items()}, history, artifacts)
