"""Experiments: MLflow's free-text names, tags and descriptions over ref-safe slugs.

An experiment is known by three spellings, all accepted wherever one is expected:
its display name (free text, e.g. "Wine Quality" or "/Users/me/churn"), its slug (the
ref-safe name in `refs/gitexp/runs/<slug>/…`, e.g. `wine-quality`) and its id (digits,
"0" for `default`, a pure function of the slug). Experiments with a record
(`refs/gitexp/experiments/<slug>`, see `gitexp.store.experiments`) keep name, tags
and description there; an experiment that only has runs reads as one named by its
slug. The default experiment always exists, named "Default" as in MLflow.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gitexp.errors import ConcurrentUpdate, GitexpError, InvalidName
from gitexp.names import (
    DEFAULT_EXPERIMENT, check_experiment, check_experiment_name, check_key, experiment_id, slugify,
)
from gitexp.services.session import Session
from gitexp.store.experiments import (
    EXPERIMENTS_PREFIX, ExperimentRecord, experiment_refs, read_experiment, write_experiment,
)
from gitexp.store.repo import RUNS_PREFIX

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NAME = "Default"  # MLflow's name for experiment "0"
MAX_ATTEMPTS = 8
NOTE_TAG = "mlflow.note.content"  # MLflow keeps an experiment's description in this tag


class ExperimentNotFound(GitexpError):
    """No experiment has that name, slug or id."""


class ExperimentExists(GitexpError):
    """create_experiment with a name that is taken."""


@dataclass
class Experiment:
    """One experiment, with MLflow's attribute names plus gitexp's slug.

    Attributes:
        experiment_id: digits; "0" for the default experiment.
        name: the display name (free text); the slug when the experiment has no record.
        slug: the ref-safe name used in run refs.
        tags: the experiment's tags (the description is kept apart, in `description`).
        creation_time, last_update_time: Unix ms (from the record, else from its runs), or None.
        has_record: whether `refs/gitexp/experiments/<slug>` exists.
    """

    experiment_id: str
    name: str
    slug: str
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    lifecycle_stage: str = "active"
    creation_time: int | None = None
    last_update_time: int | None = None
    has_record: bool = False

    def row(self) -> dict[str, Any]:
        """The shape the filter language evaluates (attributes and tags)."""
        tags = dict(self.tags)
        if self.description is not None:
            tags.setdefault(NOTE_TAG, self.description)
        return {"params": {}, "metrics": {}, "tags": tags, "attributes": {
            "name": self.name, "experiment_id": self.experiment_id, "slug": self.slug,
            "creation_time": self.creation_time, "last_update_time": self.last_update_time,
            "lifecycle_stage": self.lifecycle_stage}}


# Attribute names a search_experiments filter may use (MLflow's, plus slug).
FILTER_ATTRIBUTES = {"name": "name", "experiment_name": "name", "experiment_id": "experiment_id", "id": "experiment_id",
                     "slug": "slug", "creation_time": "creation_time", "last_update_time": "last_update_time",
                     "lifecycle_stage": "lifecycle_stage"}


def _from_record(rec: ExperimentRecord) -> Experiment:
    return Experiment(rec.id, rec.name, rec.slug, dict(rec.tags), rec.description, rec.lifecycle_stage,
                      rec.created_ms, rec.updated_ms, True)


def _virtual(slug: str, times: tuple[int | None, int | None] = (None, None)) -> Experiment:
    name = DEFAULT_NAME if slug == DEFAULT_EXPERIMENT else slug
    return Experiment(experiment_id(slug), name, slug, creation_time=times[0], last_update_time=times[1])


def list_experiments(s: Session) -> list[Experiment]:
    """Every experiment: those with a record, those that only have runs, and the default one.

    Newest update first (MLflow's order), then by id. A record that cannot be read
    is skipped here (its runs still list the experiment by its slug).
    """
    found = _records(s)
    times = _run_times(s)
    for slug, span in times.items():
        if slug not in found:
            found[slug] = _virtual(slug, span)
    found.setdefault(DEFAULT_EXPERIMENT, _virtual(DEFAULT_EXPERIMENT, times.get(DEFAULT_EXPERIMENT, (None, None))))
    return sorted(found.values(), key=lambda e: (-(e.last_update_time or 0), e.experiment_id))


def _run_times(s: Session) -> dict[str, tuple[int | None, int | None]]:
    """{slug: (first run start, last run start or end)} of experiments that have runs."""
    refs = s.cache.refs(RUNS_PREFIX)
    out: dict[str, tuple[int | None, int | None]] = {}
    slugs = {ref[len(RUNS_PREFIX):].split("/", 1)[0] for ref in refs}
    if not slugs:
        return out
    for run in s.cache.summaries(refs, fields=()):
        first, last = out.get(run.experiment, (None, None))
        start, end = run.start_ms, run.end_ms or run.start_ms
        first = start if first is None or (start is not None and start < first) else first
        last = end if last is None or (end is not None and end > last) else last
        out[run.experiment] = (first, last)
    for slug in slugs:
        out.setdefault(slug, (None, None))
    return out


def get_experiment(s: Session, ident: str) -> Experiment:
    """An experiment by id, slug or display name; ExperimentNotFound if none."""
    found = find_experiment(s, ident)
    if found is None:
        raise ExperimentNotFound(f"no experiment has the id, name or slug {ident!r}",
                                 hint="list experiments with gitexp.search_experiments()")
    return found


def find_experiment(s: Session, ident: str, by: Sequence[str] = ("name", "id", "slug")) -> Experiment | None:
    """An experiment whose display name, id or slug (tried in `by`'s order) is `ident`, or None.

    Reads the experiment records and lists run refs; never the runs themselves, so it
    costs the same with 10 or 10,000 runs.
    """
    if not isinstance(ident, str) or not ident:
        return None
    records: dict[str, Experiment] | None = None

    def all_records() -> dict[str, Experiment]:
        nonlocal records
        if records is None:
            records = _records(s)
        return records

    for kind in by:
        if kind == "slug" and _is_slug(ident):
            found = _by_slug(s, ident)
            if found is not None:
                return found
        elif kind == "name":  # two clones may have made one name under two slugs (a pull keeps both): oldest
            hits = sorted((e for e in all_records().values() if e.name == ident),
                          key=lambda e: (e.creation_time is None, e.creation_time or 0, e.slug))
            if hits:
                return hits[0]
            if ident == DEFAULT_NAME and DEFAULT_EXPERIMENT not in all_records():
                return _virtual(DEFAULT_EXPERIMENT)
        elif kind == "id" and ident.isdigit():
            if ident == "0":
                return all_records().get(DEFAULT_EXPERIMENT) or _virtual(DEFAULT_EXPERIMENT)
            for slug in sorted(set(all_records()) | _run_slugs(s)):
                if experiment_id(slug) == ident:
                    return all_records().get(slug) or _virtual(slug)
    return None


def _records(s: Session) -> dict[str, Experiment]:
    """{slug: Experiment} of every readable experiment record."""
    found: dict[str, Experiment] = {}
    for ref, tip in experiment_refs(s.db).items():
        slug = ref[len(EXPERIMENTS_PREFIX):]
        try:
            got = read_experiment(s.db, slug, tip)
        except GitexpError:
            continue
        if got is not None:
            found[slug] = _from_record(got[0])
    return found


def _run_slugs(s: Session) -> set[str]:
    """The experiments that have runs (from the run refs' names alone)."""
    return {ref[len(RUNS_PREFIX):].split("/", 1)[0] for ref in s.cache.refs(RUNS_PREFIX)}


def get_experiment_by_name(s: Session, name: str) -> Experiment | None:
    """MLflow's lookup: the experiment whose display name is `name` (its slug also works), or None."""
    return find_experiment(s, name, ("name", "slug"))


def _is_slug(text: str) -> bool:
    try:
        check_experiment(text)
        return True
    except InvalidName:
        return False


def _by_slug(s: Session, slug: str) -> Experiment | None:
    got = read_experiment(s.db, slug)
    if got is not None:
        return _from_record(got[0])
    if slug == DEFAULT_EXPERIMENT or s.cache.refs(f"{RUNS_PREFIX}{slug}/"):
        return _virtual(slug)
    return None


def slug_of(s: Session, ident: str) -> str:
    """The slug of an existing experiment named by id, name or slug; a new valid slug as is.

    What every "experiment" argument goes through: run refs always use the slug.
    """
    found = find_experiment(s, ident, ("slug", "name", "id"))
    if found is not None:
        return found.slug
    return check_experiment(ident)


def ensure_experiment(s: Session, name: str, now_ms: int | None = None) -> tuple[Experiment, bool]:
    """MLflow's set_experiment: the experiment named `name` (or with that slug or id), made if absent.

    Returns (experiment, created). A new experiment gets a record holding the display
    name; its slug is `name` when that is a valid slug, else derived from it
    (`Wine Quality` -> `wine-quality`, `-2` added when a different experiment has it).
    """
    name = check_experiment_name(name)
    found = find_experiment(s, name, ("name", "slug", "id"))
    if found is not None:
        return found, False
    return create_experiment(s, name, now_ms=now_ms), True


def create_experiment(s: Session, name: str, tags: dict[str, Any] | None = None, description: str | None = None,
                      now_ms: int | None = None) -> Experiment:
    """Make a new experiment record; ExperimentExists when the name is taken.

    An experiment that so far only had runs under the chosen slug is adopted: the
    record gives it the display name.
    """
    name = check_experiment_name(name)
    tags = {check_key(str(k), "experiment tag key"): str(v) for k, v in (tags or {}).items()}
    if NOTE_TAG in tags:
        description = tags.pop(NOTE_TAG)
    existing = find_experiment(s, name, ("name",))
    if existing is not None:
        raise ExperimentExists(f"experiment {name!r} already exists (id {existing.experiment_id}, "
                               f"slug {existing.slug})", hint="use set_experiment to make it the active one")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    for slug in _candidate_slugs(name):
        got = read_experiment(s.db, slug)
        if got is not None:
            if got[0].name == name:  # made meanwhile by another process
                return _from_record(got[0])
            continue
        if slug == DEFAULT_EXPERIMENT and name != DEFAULT_NAME and name != DEFAULT_EXPERIMENT:
            continue
        _check_id_free(s, slug)
        record = ExperimentRecord(slug, name, description, tags)
        try:
            write_experiment(s.db, record, None, f"gitexp: create experiment {name}\n\nslug: {slug}\nid: {record.id}\n",
                             now)
        except ConcurrentUpdate:
            got = read_experiment(s.db, slug)
            if got is not None and got[0].name == name:
                return _from_record(got[0])
            continue
        return _from_record(record)
    raise ConcurrentUpdate(f"could not find a free slug for experiment {name!r}", hint="retry, or pick another name")


def _candidate_slugs(name: str) -> list[str]:
    base = name if _is_slug(name) else slugify(name)
    if base == DEFAULT_EXPERIMENT and name.strip().lower() not in (DEFAULT_EXPERIMENT, DEFAULT_NAME.lower()):
        # nothing ASCII to keep ("日本"): a short hash of the name instead of "default"
        base = "exp-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    out = [base]
    for n in range(2, 100):
        suffix = f"-{n}"
        out.append(base[: 100 - len(suffix)].rstrip("-._") + suffix)
    return out


def _check_id_free(s: Session, slug: str) -> None:
    """Ids are derived from slugs: refuse the (astronomically unlikely) collision loudly."""
    wanted = experiment_id(slug)
    for other in list_experiments(s):
        if other.experiment_id == wanted and other.slug != slug:
            raise InvalidName(f"experiment slug {slug!r} would have the id {wanted} of experiment {other.slug!r}",
                              hint="pick another name")


def update_experiment(s: Session, ident: str, message: str, change: Any, now_ms: int | None = None) -> Experiment:
    """Apply `change(record)` to an experiment's record (made from its slug if it has none), CAS with retries."""
    exp = get_experiment(s, ident)
    for _ in range(MAX_ATTEMPTS):
        got = read_experiment(s.db, exp.slug)
        if got is None:
            record, tip = ExperimentRecord(exp.slug, exp.name), None
        else:
            record, tip = got
        change(record)
        try:
            write_experiment(s.db, record, tip, message, int(time.time() * 1000) if now_ms is None else now_ms)
        except ConcurrentUpdate:
            time.sleep(0.01)
            continue
        return _from_record(record)
    raise ConcurrentUpdate(f"experiment {exp.name!r} kept changing while gitexp updated it", hint="retry")


def set_experiment_tag(s: Session, ident: str, key: str, value: Any) -> Experiment:
    """Set one tag of an experiment (MLflow's `mlflow.note.content` sets its description)."""
    key = check_key(str(key), "experiment tag key")
    value = str(value)

    def change(rec: ExperimentRecord) -> None:
        if key == NOTE_TAG:
            rec.description = value
        else:
            rec.tags[key] = value

    return update_experiment(s, ident, f"gitexp: experiment tag {key}={value[:40]}\n", change)


def delete_experiment_tag(s: Session, ident: str, key: str) -> Experiment:
    def change(rec: ExperimentRecord) -> None:
        if key == NOTE_TAG:
            rec.description = None
        elif key in rec.tags:
            del rec.tags[key]
        else:
            raise GitexpError(f"experiment {rec.name!r} has no tag {key!r}")

    return update_experiment(s, ident, f"gitexp: delete experiment tag {key}\n", change)


def search_experiments(s: Session, filter_string: str | None = None, order_by: Sequence[str] | str | None = None,
                       max_results: int | None = None) -> list[Experiment]:
    """Experiments matching an MLflow-style filter (``name LIKE 'wine%'``, ``tags.team = 'nlp'``).

    Attributes: name, experiment_id, slug, creation_time, last_update_time, lifecycle_stage.
    Default order: last update, newest first.
    """
    from gitexp.services.catalog.filterexpr import parse_filter, parse_sort, sort_rows

    predicate = parse_filter(filter_string, FILTER_ATTRIBUTES)
    keys = [parse_sort(k, FILTER_ATTRIBUTES) for k in ([order_by] if isinstance(order_by, str) else order_by or [])]
    pairs = [(e, e.row()) for e in list_experiments(s)]
    pairs = [(e, row) for e, row in pairs if predicate(row)]
    if keys:
        by_row = {id(row): e for e, row in pairs}
        pairs = [(by_row[id(row)], row) for row in sort_rows([row for _, row in pairs], keys, FILTER_ATTRIBUTES)]
    out = [e for e, _ in pairs]
    return out[:max_results] if max_results is not None else out
