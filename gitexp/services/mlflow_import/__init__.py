"""`gitexp import mlflow SOURCE`: bring an MLflow store's history into the repository.

Each MLflow run becomes an ordinary, ended gitexp run (one commit on
`refs/gitexp/runs/<slug>/<id>`, written by `store.runcommit` like every other run):

| MLflow | gitexp |
|---|---|
| experiment (name, tags, description) | experiment record via `services.experiments` (name kept, slug derived) |
| run id | tag `gitexp.import.mlflow_run_id` (a second import skips runs it finds there) |
| `mlflow.runName` / run name | run name (`-2`… added when taken; the original kept in |
|  | `gitexp.import.mlflow_run_name`) |
| `mlflow.parentRunId` | `parent_run` (the parent's gitexp id) |
| `mlflow.note.content` | the run's note (`description`) |
| `mlflow.user` / user_id | `user` |
| `mlflow.source.git.commit` | baseline commit and code snapshot, when that commit is in the repository |
| status, start/end time | status (SCHEDULED reads as RUNNING), times |
| params | params (`"0.01"` becomes the number 0.01 when it prints back the same) |
| metrics | full histories (step, value, timestamp; NaN and inf kept) |
| other tags | tags |
| run artifacts | artifacts: inline up to the threshold, larger ones to the side store |
| logged models (MLflow 3) | artifacts `models/<model-id>/artifacts/…` + `models/<model-id>/meta.yaml` |
|  | of the source run |

Runs deleted in MLflow (and deleted experiments) are not imported. A run that cannot
be read is listed with the reason; the import goes on with the next one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitexp import __version__
from gitexp.errors import GitexpError
from gitexp.names import check_run_name, key_problem, new_run_id, new_run_name
from gitexp.services import experiments as _exp
from gitexp.services.mlflow_import.source import MlModel, MlRun, SourceError, open_source
from gitexp.services.session import Session
from gitexp.store import yamlio
from gitexp.store.record import Artifact, RunInfo, iso_from_ms
from gitexp.store.repo import RUNS_PREFIX
from gitexp.store.runcommit import record_files, write_run_commit
from gitexp.store.sidestore import SideStore, sha256_file

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

IMPORT_TAG = "gitexp.import.mlflow_run_id"
NAME_TAG = "gitexp.import.mlflow_run_name"
MAPPED_TAGS = ("mlflow.runName", "mlflow.parentRunId", "mlflow.note.content", "mlflow.user")
STATUS_MAP = {"RUNNING": "RUNNING", "SCHEDULED": "RUNNING", "FINISHED": "FINISHED", "FAILED": "FAILED",
              "KILLED": "KILLED"}
Progress = Callable[[int, int], None]
BATCH = 250  # runs per pack

__all__ = ["IMPORT_TAG", "ImportReport", "SourceError", "import_mlflow", "imported_ids"]


@dataclass
class ImportReport:
    """What an import did: counts, failures (MLflow run id, reason) and warnings."""

    source: str
    kind: str
    experiments: int = 0  # experiments that received runs or were created
    runs: int = 0
    already: int = 0  # found from an earlier import
    deleted: int = 0  # deleted in MLflow: left out
    points: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # MLflow run id -> gitexp run id (this import)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "experiments": self.experiments, "runs": self.runs,
                "already_imported": self.already, "deleted_skipped": self.deleted, "points": self.points,
                "bytes": self.bytes, "seconds": round(self.seconds, 3),
                "failed": [{"mlflow_run_id": r, "reason": why} for r, why in self.failed],
                "warnings": list(self.warnings), "runs_by_mlflow_id": dict(self.ids)}


def imported_ids(s: Session) -> dict[str, str]:
    """{MLflow run id: gitexp run id} of the runs imported so far (from their tags)."""
    out = {}
    for run in s.cache.summaries(s.cache.refs(RUNS_PREFIX), fields=("info", "tags")):
        if run.error is None:
            ml = run.tags.get(IMPORT_TAG)
            if ml:
                out[str(ml)] = run.id
    return out


def import_mlflow(s: Session, source: str, progress: Progress | None = None,
                  experiments: list[str] | None = None) -> ImportReport:
    """Import every run of the MLflow store at `source` (see the module docstring).

    `experiments` limits the import to MLflow experiments with these names or ids.
    """
    started = time.perf_counter()
    src = open_source(source)
    report = ImportReport(str(source), src.kind)
    try:
        _import(s, src, report, progress, experiments)
    finally:
        src.close()
    report.seconds = time.perf_counter() - started
    return report


def _import(s: Session, src: Any, report: ImportReport, progress: Progress | None,
            only: list[str] | None) -> None:
    from gitexp.services.catalog.listing import run_names

    s.recover()
    done_before = imported_ids(s)
    taken = set(run_names(s))
    threshold = s.settings.artifact_threshold
    side = SideStore(s.db.local_dir / "objects")
    models = _models_by_run(src, report)

    # Plan: every run of the wanted, active experiments, with its start time, so that
    # ids (which sort by creation time) and parents are known before anything is written.
    plan: list[tuple[int, str, str, str]] = []  # (start ms, MLflow run id, experiment id, slug)
    slugs: dict[str, str] = {}
    for exp in src.experiments():
        if only and exp.name not in only and exp.experiment_id not in only:
            continue
        if exp.lifecycle_stage != "active":
            report.deleted += len(src.run_ids(exp.experiment_id))
            continue
        try:
            slugs[exp.experiment_id] = _experiment(s, exp)
            report.experiments += 1
        except GitexpError as exc:
            report.warnings.append(f"experiment {exp.name!r} ({exp.experiment_id}) not imported: {exc.message}")
            continue
        for run_id, start in _headers(src, exp.experiment_id):
            plan.append((start or 0, run_id, exp.experiment_id, slugs[exp.experiment_id]))
    plan.sort()
    new_ids = {ml: new_run_id(max(start, 0)) for start, ml, _, _ in plan if ml not in done_before}
    known = {**done_before, **new_ids}

    total = len(plan)
    for first in range(0, total, BATCH):
        # One pack per batch of runs (not thousands of loose objects); refs after the pack.
        refs: list[tuple[str, str, str, str]] = []
        with s.db.batched():
            for n, (_, ml_id, exp_id, slug) in enumerate(plan[first:first + BATCH], start=first + 1):
                if ml_id in done_before:
                    report.already += 1
                else:
                    try:
                        run = src.load_run(exp_id, ml_id)
                        if run.lifecycle_stage != "active":
                            report.deleted += 1
                        else:
                            ref, commit = _write_run(s, src, run, new_ids[ml_id], slug, known, taken, threshold,
                                                     side, models.get(ml_id, []), report)
                            refs.append((ref, commit, ml_id, new_ids[ml_id]))
                    except (GitexpError, OSError, ValueError, TypeError, UnicodeError) as exc:
                        report.failed.append((ml_id, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"))
                    except Exception as exc:  # sqlite3 errors and anything else a damaged store gives
                        report.failed.append((ml_id, f"{type(exc).__name__}: {exc}"))
                if progress is not None and n < min(first + BATCH, total):
                    progress(n, total)
        for ref, commit, ml_id, gid in refs:
            s.db.set_ref(ref, None, commit, f"import mlflow run {ml_id}")
            report.runs += 1
            report.ids[ml_id] = gid
        if progress is not None:
            progress(min(first + BATCH, total), total)


def _headers(src: Any, experiment_id: str) -> list[tuple[str, int | None]]:
    """(run id, start ms) of an experiment's runs, cheaply (no params or metrics read)."""
    if hasattr(src, "conn"):
        return [(r, s) for r, s in src.conn.execute(
            "SELECT run_uuid, start_time FROM runs WHERE experiment_id = ?", (int(experiment_id),))]
    from gitexp.services.mlflow_import.source import _int_or_none, _read_meta

    out = []
    for run_id in src.run_ids(experiment_id):
        try:
            meta = _read_meta(src.root / experiment_id / run_id / "meta.yaml") or {}
        except SourceError:
            meta = {}
        out.append((run_id, _int_or_none(meta.get("start_time"))))
    return out


def _experiment(s: Session, exp: Any) -> str:
    """The slug of the gitexp experiment for an MLflow experiment (made with its name and tags)."""
    name = "Default" if exp.experiment_id == "0" and exp.name == "Default" else exp.name
    found, created = _exp.ensure_experiment(s, name, now_ms=exp.creation_time)
    tags = dict(exp.tags)
    description = tags.pop(_exp.NOTE_TAG, None)
    tags = {k: v for k, v in tags.items() if not key_problem(k)}
    missing = {k: v for k, v in tags.items() if found.tags.get(k) != v}
    if missing or (description is not None and found.description != description):
        def change(rec: Any) -> None:
            rec.tags.update(missing)
            if description is not None:
                rec.description = description
        _exp.update_experiment(s, found.slug, f"gitexp: import MLflow experiment tags of {name}\n", change)
    return found.slug


def _models_by_run(src: Any, report: ImportReport) -> dict[str, list[MlModel]]:
    out: dict[str, list[MlModel]] = {}
    try:
        models = src.models()
    except (GitexpError, OSError, ValueError) as exc:
        report.warnings.append(f"logged models not read: {getattr(exc, 'message', exc)}")
        return out
    for m in models:
        if m.source_run_id:
            out.setdefault(m.source_run_id, []).append(m)
    return out


def param_value(text: str) -> Any:
    """An MLflow param (text) as a typed value when it prints back identically ("0.01" -> 0.01)."""
    for kind in (int, float):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            continue
        if str(value) == text and not (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
            return value
    return text


def _write_run(s: Session, src: Any, run: MlRun, gid: str, slug: str, known: dict[str, str], taken: set[str],
               threshold: int, side: SideStore, models: list[MlModel], report: ImportReport) -> tuple[str, str]:
    db = s.db
    status = STATUS_MAP.get(run.status.upper())
    if status is None:
        raise SourceError(f"unknown status {run.status!r}")
    tags = dict(run.tags)
    mapped = {k: tags.pop(k) for k in MAPPED_TAGS if k in tags}
    warn = report.warnings.append

    name, original = _run_name(run.name or mapped.get("mlflow.runName"), taken)
    taken.add(name)
    parent = mapped.get("mlflow.parentRunId")
    parent_gid = known.get(parent) if parent else None
    if parent and parent_gid is None:
        tags["mlflow.parentRunId"] = parent  # the parent was not imported: keep MLflow's id visible
        warn(f"run {run.run_id}: parent run {parent} is not in the import; kept as a tag")
    baseline = tags.get("mlflow.source.git.commit")
    code_root = None
    if baseline and db.is_object_id(baseline) and db.has_object(baseline):
        try:
            code_root = db.commit_info(baseline)[0]
        except Exception:
            baseline, code_root = None, None
    else:
        baseline = None

    clean_tags: dict[str, str] = {}
    for key, value in tags.items():
        if key_problem(key, "tag key"):
            warn(f"run {run.run_id}: tag {key!r} left out ({key_problem(key, 'tag key')})")
        else:
            clean_tags[key] = value
    clean_tags[IMPORT_TAG] = run.run_id
    if original is not None:
        clean_tags[NAME_TAG] = original
    params = {}
    for key, value in run.params.items():
        if key_problem(key, "param key"):
            warn(f"run {run.run_id}: param {key!r} left out ({key_problem(key, 'param key')})")
        else:
            params[key] = param_value(value)
    metrics = {}
    for key, points in run.metrics.items():
        if key_problem(key, "metric key"):
            warn(f"run {run.run_id}: metric {key!r} left out ({key_problem(key, 'metric key')})")
        elif points:
            metrics[key] = sorted(points, key=lambda p: (p[0], p[2]))
            report.points += len(points)

    end_ms = run.end_time if status != "RUNNING" else None
    info = RunInfo(id=gid, name=name, experiment=slug, status=status, start_time=iso_from_ms(run.start_time or 0) or "",
                   end_time=iso_from_ms(end_ms) if end_ms is not None else None,
                   user=mapped.get("mlflow.user") or run.user or "",
                   command=[tags["mlflow.source.name"]] if tags.get("mlflow.source.name") else [],
                   baseline=baseline, gitexp_version=__version__, parent_run=parent_gid,
                   description=mapped.get("mlflow.note.content") or None)

    artifacts: list[Artifact] = []
    inline: dict[str, bytes] = {}
    folder = src.artifact_dir(run)
    if folder is not None and folder.is_dir():
        _collect(folder, "", artifacts, inline, threshold, side, report, run.run_id)
    elif run.artifact_uri and folder is None:
        warn(f"run {run.run_id}: artifacts at {run.artifact_uri} are not local; not imported")
    for model in models:
        _add_model(model, known, artifacts, inline, threshold, side, report, run.run_id)

    files = record_files(info, params, clean_tags, metrics, artifacts)
    files.update({f"artifacts/{p}": data for p, data in inline.items()})
    message = (f"gitexp: import MLflow run {name} into {slug}\n\nrun id: {gid}\nmlflow run id: {run.run_id}\n"
               f"mlflow experiment id: {run.experiment_id}\n")
    if code_root is not None and baseline is not None:  # both or neither
        commit = write_run_commit(db, code_root, None, files, [baseline], message)
    else:
        commit = write_run_commit(db, None, {}, files, [], message)
    return f"{RUNS_PREFIX}{slug}/{gid}", commit


def _run_name(wanted: str | None, taken: set[str]) -> tuple[str, str | None]:
    """(gitexp name, the MLflow name when it had to change)."""
    if not wanted:
        return new_run_name(taken), None
    try:
        name = check_run_name(wanted)
    except GitexpError:
        name = " ".join(str(wanted).split())[:200] or "run"
        try:
            name = check_run_name(name)
        except GitexpError:
            name = f"{name}-run"
    if name not in taken and name == wanted:
        return name, None
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    candidate = name if name not in taken else f"{name}-{n}"
    return candidate, (wanted if candidate != wanted else None)


def _collect(folder: Path, prefix: str, artifacts: list[Artifact], inline: dict[str, bytes], threshold: int,
             side: SideStore, report: ImportReport, run_id: str) -> None:
    """Every file under `folder` as artifact `prefix + relative path`."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            path = prefix + full.relative_to(folder).as_posix()
            if full.is_symlink() or not full.is_file():
                continue
            problem = key_problem(path, "artifact path")
            if problem:
                report.warnings.append(f"run {run_id}: artifact {path!r} left out ({problem})")
                continue
            _add_file(full, path, artifacts, inline, threshold, side, report)


def _add_file(full: Path, path: str, artifacts: list[Artifact], inline: dict[str, bytes], threshold: int,
              side: SideStore, report: ImportReport) -> None:
    import hashlib

    size = full.stat().st_size
    if size <= threshold:
        data = full.read_bytes()
        artifacts.append(Artifact(path, len(data), hashlib.sha256(data).hexdigest(), True))
        inline[path] = data
    else:
        sha, size = sha256_file(full)
        side.put(full, sha)
        artifacts.append(Artifact(path, size, sha, False))
    report.bytes += size


def _add_model(model: MlModel, known: dict[str, str], artifacts: list[Artifact], inline: dict[str, bytes],
               threshold: int, side: SideStore, report: ImportReport, run_id: str) -> None:
    """A logged model under its source run: `models/<id>/meta.yaml` and `models/<id>/artifacts/…`."""
    import hashlib

    from gitexp.services.mlflow_import.source import local_path

    base = f"models/{model.model_id}"
    if key_problem(base, "artifact path"):
        report.warnings.append(f"run {run_id}: logged model {model.model_id!r} left out (bad id)")
        return
    source = known.get(model.source_run_id or "", model.source_run_id)
    meta = {"model_id": model.model_id, "name": model.name, "source_run_id": source, "status": model.status,
            "model_type": model.model_type, "creation_timestamp": model.creation_time,
            "tags": dict(model.tags), "params": dict(model.params)}
    data = yamlio.dump(meta)
    artifacts.append(Artifact(f"{base}/meta.yaml", len(data), hashlib.sha256(data).hexdigest(), True))
    inline[f"{base}/meta.yaml"] = data
    folder = local_path(model.artifact_location)
    if folder is not None and folder.is_dir():
        _collect(folder, f"{base}/artifacts/", artifacts, inline, threshold, side, report, run_id)
