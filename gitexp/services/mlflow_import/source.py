"""Read an MLflow tracking store without MLflow: a file store folder or a SQLite database.

Both readers hand out the same plain objects (`MlExperiment`, `MlRun`, `MlModel`), so
the importer never sees which store it reads. Only the stores' on-disk formats are
used (the file store's `meta.yaml` and one file per param/tag/metric; the SQLite
schema's tables), never the `mlflow` package. Everything read is untrusted input:
a run that cannot be read raises `SourceError` with the reason, and the caller
goes on with the next one.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from gitexp.errors import GitexpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

Point = tuple[int, float, int]  # step, value, timestamp (Unix ms)
STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
MAX_META_BYTES = 1 << 20  # a meta.yaml or a param/tag file larger than this is not MLflow's
MAX_VALUE_BYTES = 8 << 20  # MLflow caps tags at 8000 chars (params 6000): generous


class SourceError(GitexpError):
    """An MLflow store, or one of its runs, cannot be read."""


@dataclass
class MlExperiment:
    experiment_id: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    lifecycle_stage: str = "active"
    creation_time: int | None = None
    artifact_location: str | None = None


@dataclass
class MlRun:
    run_id: str
    experiment_id: str
    name: str | None
    status: str
    start_time: int | None
    end_time: int | None
    user: str
    lifecycle_stage: str
    artifact_uri: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[Point]] = field(default_factory=dict)


@dataclass
class MlModel:
    """An MLflow 3 logged model (`models:/m-…`): metadata and where its files are."""

    model_id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    artifact_location: str | None
    status: str = "READY"
    model_type: str | None = None
    creation_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def open_source(source: str) -> "FileStoreSource | SqliteSource":
    """The reader for `source`: `sqlite:///path.db`, a `.db` file, or a file store folder."""
    text = str(source)
    if text.startswith("sqlite:"):
        db_path = text[len("sqlite:"):]
        db_path = db_path[3:] if db_path.startswith("///") else db_path.lstrip("/") if db_path.startswith("//") \
            else db_path
        return SqliteSource(Path(unquote(db_path)))
    if "://" in text and not text.startswith("file:"):
        raise SourceError(f"cannot import from {text!r}: only a file store folder and sqlite:/// are supported",
                          hint="export the database to SQLite, or point at the mlruns/ folder")
    path = Path(local_path(text) or text)
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(16) == b"SQLite format 3\x00":
                return SqliteSource(path)
        raise SourceError(f"{path} is neither an MLflow file store folder nor a SQLite database")
    if not path.is_dir():
        raise SourceError(f"no MLflow store at {text}", hint="give the mlruns/ folder or sqlite:///mlflow.db")
    return FileStoreSource(path)


def local_path(uri: str | None, base: Path | None = None) -> Path | None:
    """The local path of an artifact location (`file:` URI or a plain path), else None."""
    if not uri:
        return None
    if uri.startswith("file:"):
        parsed = urlparse(uri)
        path = unquote(parsed.path)
        if parsed.netloc and parsed.netloc != "localhost":
            return None
        return Path(path)
    if "://" in uri or (":" in uri.split("/", 1)[0] and len(uri.split(":", 1)[0]) > 1):
        return None  # s3://, mlflow-artifacts:/, dbfs:/ …
    p = Path(uri)
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


# -- file store -------------------------------------------------------------------------------
class FileStoreSource:
    """An MLflow file store: `<root>/<experiment id>/<run id>/…` (MLflow 1.x to 3.x)."""

    kind = "file store"

    def __init__(self, root: Path) -> None:
        self.root = root
        if not any((d / "meta.yaml").is_file() for d in self._experiment_dirs()):
            raise SourceError(f"{root} is not an MLflow file store (no <experiment>/meta.yaml)",
                              hint="give the mlruns/ folder itself")

    def _experiment_dirs(self) -> list[Path]:
        out = []
        for d in sorted(self.root.iterdir(), key=lambda p: p.name):
            if d.is_dir() and not d.name.startswith(".") and d.name not in ("models",):
                out.append(d)
        return out

    def experiments(self) -> list[MlExperiment]:
        out = []
        for d in self._experiment_dirs():
            meta = _read_meta(d / "meta.yaml")
            if meta is None:
                continue
            out.append(MlExperiment(str(meta.get("experiment_id", d.name)), str(meta.get("name") or d.name),
                                    _read_kv_dir(d / "tags"), str(meta.get("lifecycle_stage") or "active"),
                                    _int_or_none(meta.get("creation_time")),
                                    _str_or_none(meta.get("artifact_location"))))
        return out

    def run_ids(self, experiment_id: str) -> list[str]:
        d = self.root / experiment_id
        return sorted(r.name for r in d.iterdir()
                      if r.is_dir() and r.name not in ("tags", "models", "datasets", "traces")
                      and not r.name.startswith(".") and (r / "meta.yaml").exists())

    def load_run(self, experiment_id: str, run_id: str) -> MlRun:
        d = self.root / experiment_id / run_id
        meta = _read_meta(d / "meta.yaml")
        if meta is None:
            raise SourceError("meta.yaml is missing or empty")
        status = meta.get("status", 3)
        status = STATUS_NAMES.get(status, status) if isinstance(status, int) else str(status)
        run = MlRun(str(meta.get("run_id") or meta.get("run_uuid") or run_id),
                    str(meta.get("experiment_id", experiment_id)),
                    _str_or_none(meta.get("run_name")), str(status), _int_or_none(meta.get("start_time")),
                    _int_or_none(meta.get("end_time")), str(meta.get("user_id") or ""),
                    str(meta.get("lifecycle_stage") or "active"), _str_or_none(meta.get("artifact_uri")))
        run.params = _read_kv_dir(d / "params")
        run.tags = _read_kv_dir(d / "tags")
        metrics_dir = d / "metrics"
        for path in _files_under(metrics_dir):
            key = path.relative_to(metrics_dir).as_posix()
            run.metrics[key] = _parse_metric_file(path, key)
        return run

    def artifact_dir(self, run: MlRun) -> Path | None:
        path = local_path(run.artifact_uri, self.root.parent)
        if path is not None and not path.exists():  # a moved mlruns/: the run's own folder
            moved = self.root / run.experiment_id / run.run_id / "artifacts"
            return moved if moved.exists() else path
        return path

    def models(self) -> list[MlModel]:
        out = []
        for exp in self._experiment_dirs():
            models = exp / "models"
            if not models.is_dir():
                continue
            for d in sorted(models.iterdir()):
                meta = _read_meta(d / "meta.yaml") if d.is_dir() else None
                if meta is None:
                    continue
                status = meta.get("status")
                out.append(MlModel(
                    str(meta.get("model_id") or d.name), str(meta.get("experiment_id") or exp.name),
                    str(meta.get("name") or ""), _str_or_none(meta.get("source_run_id")),
                    str(d / "artifacts") if (d / "artifacts").exists() else _str_or_none(meta.get("artifact_location")),
                    _model_status(status), _str_or_none(meta.get("model_type")),
                    _int_or_none(meta.get("creation_timestamp")), _read_kv_dir(d / "tags"), _read_kv_dir(d / "params")))
        return out

    def close(self) -> None:
        pass


def _model_status(status: Any) -> str:
    names = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}
    if isinstance(status, int):
        return names.get(status, "READY")
    text = str(status or "READY").upper()
    return text.rsplit("_", 1)[-1] if text.startswith("LOGGED_MODEL_") else text


def _read_meta(path: Path) -> dict[str, Any] | None:
    from gitexp.store import yamlio

    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise SourceError(f"{path.name} is larger than {MAX_META_BYTES} bytes")
        raw = yamlio.load(path.read_bytes(), str(path))
    except FileNotFoundError:
        return None
    except GitexpError as exc:
        raise SourceError(f"unreadable {path.name}: {exc.message}") from None
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SourceError(f"malformed {path.name}: not a mapping")
    return raw


def _files_under(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _read_kv_dir(root: Path) -> dict[str, str]:
    """A folder with one file per key (nested folders for keys with '/'): {key: text}."""
    out = {}
    for path in _files_under(root):
        if path.stat().st_size > MAX_VALUE_BYTES:
            raise SourceError(f"{path.relative_to(root).as_posix()}: value larger than {MAX_VALUE_BYTES} bytes")
        out[path.relative_to(root).as_posix()] = path.read_bytes().decode("utf-8", "replace")
    return out


def _parse_metric_file(path: Path, key: str) -> list[Point]:
    """`timestamp value [step]` per line, as MLflow's FileStore writes them."""
    points = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                ts, value = int(parts[0]), float(parts[1])
                step = int(parts[2]) if len(parts) > 2 else 0
            except (ValueError, IndexError):
                raise SourceError(f"metric {key!r}: bad line {n}: {line[:60]!r}") from None
            points.append((step, value, ts))
    return points


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# -- SQLite ---------------------------------------------------------------------------------
class SqliteSource:
    """MLflow's SQLAlchemy store in a SQLite file (the default `mlflow.db` since MLflow 3.7)."""

    kind = "SQLite database"

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise SourceError(f"no database at {path}")
        try:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path} is not a readable SQLite database: {exc}") from None
        if not {"experiments", "runs", "metrics", "params", "tags"} <= tables:
            self.conn.close()
            raise SourceError(f"{path} is not an MLflow database (no experiments/runs/metrics tables)")
        self.tables = tables
        self.run_columns = {r[1] for r in self.conn.execute("PRAGMA table_info(runs)")}
        indexed = [r[0] for r in self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='metrics' AND sql IS NOT NULL")]
        self._metric_index = any("run_uuid" in (sql or "").split("(", 1)[-1].split(",")[0] for sql in indexed)
        self._bulk: dict[str, dict[str, list[Point]]] | None = None

    def experiments(self) -> list[MlExperiment]:
        tags: dict[str, dict[str, str]] = {}
        if "experiment_tags" in self.tables:
            for key, value, exp in self.conn.execute("SELECT key, value, experiment_id FROM experiment_tags"):
                tags.setdefault(str(exp), {})[key] = value or ""
        out = []
        for eid, name, stage, created, loc in self.conn.execute(
                "SELECT experiment_id, name, lifecycle_stage, creation_time, artifact_location FROM experiments "
                "ORDER BY experiment_id"):
            out.append(MlExperiment(str(eid), str(name), tags.get(str(eid), {}), stage or "active",
                                    _int_or_none(created), loc))
        return out

    def run_ids(self, experiment_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT run_uuid FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid", (int(experiment_id),))]

    def load_run(self, experiment_id: str, run_id: str) -> MlRun:
        name_col = "name" if "name" in self.run_columns else "NULL"
        row = self.conn.execute(
            f"SELECT run_uuid, experiment_id, {name_col}, status, start_time, end_time, user_id, lifecycle_stage, "
            "artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        if row is None:
            raise SourceError("the run disappeared from the database")
        run = MlRun(row[0], str(row[1]), row[2], str(row[3] or "FINISHED"), _int_or_none(row[4]),
                    _int_or_none(row[5]), row[6] or "", row[7] or "active", row[8])
        run.params = {k: v or "" for k, v in self.conn.execute("SELECT key, value FROM params WHERE run_uuid = ?",
                                                                 (run_id,))}
        run.tags = {k: v or "" for k, v in self.conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?",
                                                               (run_id,))}
        run.metrics = self._metrics(run_id)
        return run

    def _metrics(self, run_id: str) -> dict[str, list[Point]]:
        if not self._metric_index:
            # No index leads with run_uuid: one pass over the table beats a scan per run.
            if self._bulk is None:
                self._bulk = {}
                for row in self.conn.execute("SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics"):
                    self._bulk.setdefault(row[0], {}).setdefault(row[1], []).append(_point(row[2:]))
            return self._bulk.pop(run_id, {})
        out: dict[str, list[Point]] = {}
        for key, *rest in self.conn.execute(
                "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ?", (run_id,)):
            out.setdefault(key, []).append(_point(rest))
        return out

    def artifact_dir(self, run: MlRun) -> Path | None:
        return local_path(run.artifact_uri, self.path.parent)

    def models(self) -> list[MlModel]:
        if "logged_models" not in self.tables:
            return []
        tags: dict[str, dict[str, str]] = {}
        params: dict[str, dict[str, str]] = {}
        if "logged_model_tags" in self.tables:
            for mid, key, value in self.conn.execute("SELECT model_id, tag_key, tag_value FROM logged_model_tags"):
                tags.setdefault(mid, {})[key] = value or ""
        if "logged_model_params" in self.tables:
            for mid, key, value in self.conn.execute(
                    "SELECT model_id, param_key, param_value FROM logged_model_params"):
                params.setdefault(mid, {})[key] = value or ""
        out = []
        for mid, eid, name, loc, status, mtype, run_id, created, stage in self.conn.execute(
                "SELECT model_id, experiment_id, name, artifact_location, status, model_type, source_run_id, "
                "creation_timestamp_ms, lifecycle_stage FROM logged_models"):
            if (stage or "active") != "active":
                continue
            out.append(MlModel(mid, str(eid), name or "", run_id, loc, _model_status(status), mtype,
                               _int_or_none(created), tags.get(mid, {}), params.get(mid, {})))
        return out

    def close(self) -> None:
        self.conn.close()


def _point(row: Any) -> Point:
    """(step, value, timestamp) of a metrics row (value, timestamp, step, is_nan)."""
    value, ts, step, is_nan = row
    value = math.nan if is_nan else float(value)
    return int(step or 0), value, int(ts or 0)
