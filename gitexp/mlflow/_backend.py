"""What `gitexp.mlflow` and `MlflowClient` share: MLflow-shaped reads of one repository."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gitexp import uris
from gitexp.errors import GitexpError
from gitexp.mlflow import entities as E
from gitexp.mlflow.exceptions import MlflowException
from gitexp.services import experiments as _exp
from gitexp.services.session import open_session

F = TypeVar("F", bound=Callable[..., Any])

# MLflow's run attributes in filters and order_by (lower case -> row key).
RUN_ATTRIBUTES = {
    "run_id": "run_id", "run_uuid": "run_id", "id": "run_id", "run_name": "run_name", "name": "run_name",
    "status": "status", "start_time": "start_time", "end_time": "end_time", "user_id": "user_id",
    "user": "user_id", "artifact_uri": "artifact_uri", "experiment_id": "experiment_id",
    "lifecycle_stage": "lifecycle_stage", "duration": "duration", "experiment": "experiment",
}
FRAME_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def mlflow_errors(fn: F) -> F:
    """Raise gitexp's errors as MlflowException (still a GitexpError), as MLflow callers expect."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlflowException:
            raise
        except GitexpError as exc:
            raise MlflowException.from_gitexp(exc) from exc
    return wrapper  # type: ignore[return-value]


class Backend:
    """MLflow-shaped reads of the repository at `path`."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = None if path is None else str(path)  # None: the repository git would use

    def session(self) -> Any:
        return open_session(self.path)

    def root(self, s: Any) -> str:
        return str(s.db.root or s.db.common_dir)

    # -- runs -----------------------------------------------------------------------------
    def get_run(self, run_id: str) -> E.Run:
        from gitexp.api_mlflow import dataset_entries
        from gitexp.services.catalog.listing import get_run

        with self.session() as s:
            run = get_run(s, str(run_id))
            root = self.root(s)
        return E.from_run(run, uris.run_artifact_uri(root, run.id), self._datasets(run, dataset_entries))

    def _datasets(self, run: Any, reader: Callable[[Any], list]) -> list:
        if not any(a.path.startswith("inputs/") for a in run.artifacts):
            return []
        from gitexp import api

        saved, api._repo_path = api._repo_path, self.path
        try:
            return reader(run)
        finally:
            api._repo_path = saved

    def get_metric_history(self, run_id: str, key: str) -> list[E.Metric]:
        from gitexp.services.catalog.listing import get_run

        with self.session() as s:
            run = get_run(s, str(run_id))
        return [E.Metric(key, float(v), int(ts), int(step)) for step, v, ts in run.history.get(key, [])]

    def search_runs(self, slugs: list[str] | None, filter_string: str | None, order_by: Sequence[str] | None,
                    max_results: int | None) -> list[E.Run]:
        from gitexp.services.catalog.filterexpr import parse_filter, parse_sort, sort_rows
        from gitexp.services.catalog.listing import list_runs

        predicate = parse_filter(filter_string, RUN_ATTRIBUTES)
        keys = [parse_sort(k, RUN_ATTRIBUTES) for k in ([order_by] if isinstance(order_by, str) else order_by or [])]
        with self.session() as s:
            root = self.root(s)
            if slugs is None:
                runs = list_runs(s, None)
            elif len(slugs) == 1:
                runs = list_runs(s, slugs[0])
            else:
                wanted = set(slugs)
                runs = [r for r in list_runs(s, None) if r.experiment in wanted]
            pairs = []
            for run in runs:
                if run.error:
                    continue
                ml = E.from_run(run, uris.run_artifact_uri(root, run.id))
                row = {"params": ml.data.params, "metrics": ml.data.metrics, "tags": ml.data.tags,
                       "attributes": {**ml.info.__dict__, "duration": run.duration, "experiment": run.experiment}}
                if predicate(row):
                    pairs.append((ml, row))
        if keys:
            by_row = {id(row): ml for ml, row in pairs}
            pairs = [(by_row[id(row)], row) for row in sort_rows([row for _, row in pairs], keys, RUN_ATTRIBUTES)]
        out = [ml for ml, _ in pairs]
        return out[:max_results] if max_results is not None else out

    # -- artifacts --------------------------------------------------------------------------
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[E.FileInfo]:
        from gitexp.services.catalog.listing import get_run

        with self.session() as s:
            run = get_run(s, str(run_id))
        prefix = (path or "").strip("/")
        prefix = prefix + "/" if prefix else ""
        seen: dict[str, E.FileInfo] = {}
        for art in run.artifacts:
            if not art.path.startswith(prefix):
                continue
            head, sep, _rest = art.path[len(prefix):].partition("/")
            full = prefix + head
            seen[full] = E.FileInfo(full, True, None) if sep else E.FileInfo(full, False, art.size)
        return sorted(seen.values(), key=lambda f: f.path)

    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | None = None) -> str:
        """Copy an artifact file (or every file under a folder) to `dst_path`; return the local path."""
        from gitexp.api_mlflow import read_artifact
        from gitexp.services.catalog.listing import get_run

        with self.session() as s:
            run = get_run(s, str(run_id))
        want = (path or "").strip("/")
        files = [a for a in run.artifacts if not want or a.path == want or a.path.startswith(want + "/")]
        if not files:
            raise MlflowException(f"run {run.name} ({run.id}) has no artifact {want!r}",
                                  error_code="RESOURCE_DOES_NOT_EXIST")
        dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="gitexp-artifacts-"))
        dst.mkdir(parents=True, exist_ok=True)
        from gitexp import api

        saved, api._repo_path = api._repo_path, self.path
        try:
            for art in files:
                target = dst / art.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(read_artifact(run, art.path))
        finally:
            api._repo_path = saved
        return str(dst / want) if want else str(dst)

    # -- experiments -------------------------------------------------------------------------
    def experiment(self, exp: Any) -> E.Experiment:
        with self.session() as s:
            root = self.root(s)
        return E.from_experiment(exp, uris.experiment_artifact_location(root, exp.experiment_id))

    def experiments(self, exps: list[Any]) -> list[E.Experiment]:
        if not exps:
            return []
        with self.session() as s:
            root = self.root(s)
        return [E.from_experiment(e, uris.experiment_artifact_location(root, e.experiment_id)) for e in exps]

    def slugs(self, experiment_ids: Any = None, experiment_names: Any = None) -> list[str] | None:
        from gitexp.api_mlflow import experiment_slugs

        with self.session() as s:
            return experiment_slugs(s, None, experiment_ids, experiment_names)

    def get_experiment(self, experiment_id: str) -> E.Experiment:
        with self.session() as s:
            exp = _exp.get_experiment(s, str(experiment_id))
        return self.experiment(exp)


def to_frame(runs: list[E.Run]) -> Any:
    """MLflow's search_runs DataFrame: run_id, experiment_id, status, artifact_uri, start_time,
    end_time (pandas UTC timestamps), then metrics.*, params.*, tags.* columns."""
    try:
        import pandas as pd
    except ImportError:
        raise MlflowException("search_runs returns a pandas DataFrame: install pandas",
                              error_code="INVALID_PARAMETER_VALUE") from None
    if not runs:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    rows = []
    for r in runs:
        row: dict[str, Any] = {"run_id": r.info.run_id, "experiment_id": r.info.experiment_id,
                               "status": r.info.status, "artifact_uri": r.info.artifact_uri,
                               "start_time": r.info.start_time, "end_time": r.info.end_time}
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
        rows.append(row)
    df = pd.DataFrame.from_records(rows)
    metrics = sorted(c for c in df.columns if c.startswith("metrics."))
    params = sorted(c for c in df.columns if c.startswith("params."))
    tags = sorted(c for c in df.columns if c.startswith("tags."))
    df = df[FRAME_COLUMNS + metrics + params + tags]
    for col in ("start_time", "end_time"):
        df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
    return df
