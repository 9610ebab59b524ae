"""`MlflowClient` with MLflow's run-level calls, on a gitexp repository.

Runs active in this process are logged to in memory (as the fluent calls do); other
runs get a journal entry (running elsewhere on this machine) or a new commit on their
ref (ended runs). Results have MLflow's shapes (`gitexp.mlflow.entities`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

from gitexp import uris
from gitexp.mlflow import entities as E
from gitexp.mlflow._backend import Backend, mlflow_errors
from gitexp.mlflow.exceptions import MlflowException
from gitexp.services import experiments as _exp

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


class MlflowClient:
    """`MlflowClient(tracking_uri=None)`: a `gitexp:<path>` URI picks the repository
    (default: the one the fluent API uses); any other URI warns and is ignored."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        from gitexp import api

        self._path: str | None = None
        if tracking_uri is not None:
            if uris.is_gitexp_uri(str(tracking_uri)):
                self._path = uris.repo_path_of(str(tracking_uri))
            else:
                warnings.warn(f"gitexp ignores the tracking URI {tracking_uri!r}; using {api._repo_path!r}",
                              stacklevel=2)

    @property
    def _backend(self) -> Backend:
        from gitexp import api

        return Backend(self._path if self._path is not None else api._repo_path)

    def _session(self) -> Any:
        return self._backend.session()

    @staticmethod
    def _own(run_id: str) -> Any:
        """The run object of this process's run `run_id`, or None."""
        from gitexp import api

        return api._active_by_id(str(run_id))

    # -- reading ----------------------------------------------------------------------------
    @mlflow_errors
    def get_run(self, run_id: str) -> E.Run:
        return self._backend.get_run(run_id)

    @mlflow_errors
    def search_runs(self, experiment_ids: Sequence[str] | str, filter_string: str = "", run_view_type: int = 1,
                    max_results: int | None = 1000, order_by: Sequence[str] | None = None,
                    page_token: str | None = None) -> E.PagedList:
        backend = self._backend
        slugs = backend.slugs([experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids))
        return E.PagedList(backend.search_runs(slugs, filter_string, order_by, max_results))

    @mlflow_errors
    def get_metric_history(self, run_id: str, key: str) -> list[E.Metric]:
        return self._backend.get_metric_history(run_id, key)

    @mlflow_errors
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[E.FileInfo]:
        return self._backend.list_artifacts(run_id, path)

    @mlflow_errors
    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        return self._backend.download_artifacts(run_id, path, dst_path)

    # -- logging ----------------------------------------------------------------------------
    @mlflow_errors
    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None, dataset_name: str | None = None,
                   dataset_digest: str | None = None, model_id: str | None = None) -> None:
        ts = int(time.time() * 1000) if timestamp is None else int(timestamp)
        self.log_batch(run_id, metrics=[E.Metric(key, value, ts, 0 if step is None else step)],
                       synchronous=synchronous)

    @mlflow_errors
    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        self.log_batch(run_id, params=[E.Param(key, value)], synchronous=synchronous)
        return value

    @mlflow_errors
    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self.log_batch(run_id, tags=[E.RunTag(key, str(value))], synchronous=synchronous)

    @mlflow_errors
    def delete_tag(self, run_id: str, key: str) -> None:
        own = self._own(run_id)
        if own is not None:
            own.delete_tag(key)
            return
        from gitexp.services.edit import set_tags

        with self._session() as s:
            set_tags(s, str(run_id), None, [key])

    @mlflow_errors
    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Any] = (),
                  tags: Sequence[Any] = (), synchronous: bool | None = None) -> None:
        """Metrics (`Metric(key, value, timestamp, step)`), params and tags in one call; MLflow's
        entities and gitexp.mlflow.entities both work."""
        own = self._own(run_id)
        if own is not None:
            for p in params:
                own.log_param(p.key, p.value)
            for t in tags:
                own.set_tag(t.key, t.value)
            for m in metrics:
                own.log_metric(m.key, m.value, m.step, m.timestamp)
            if synchronous:
                own.flush()
            return
        from gitexp.services.edit.log import log_to_run

        with self._session() as s:
            log_to_run(s, str(run_id), [(m.key, m.value, m.step, m.timestamp) for m in metrics],
                       {p.key: p.value for p in params}, {t.key: t.value for t in tags})

    @mlflow_errors
    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """End a run: one active in this process is ended (its final commit); an ended one gets
        the status and end time in a new commit."""
        from gitexp import api

        status = status or "FINISHED"
        own = self._own(run_id)
        if own is not None:
            api._end(own, status)
            return
        from gitexp.services.edit.log import set_status

        with self._session() as s:
            set_status(s, str(run_id), status, end_time)

    # -- experiments ----------------------------------------------------------------------------
    @mlflow_errors
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, Any] | None = None) -> str:
        if artifact_location is not None and not uris.is_gitexp_uri(artifact_location):
            warnings.warn(f"gitexp ignores artifact_location {artifact_location!r}", stacklevel=2)
        with self._session() as s:
            return _exp.create_experiment(s, name, tags).experiment_id

    @mlflow_errors
    def get_experiment(self, experiment_id: str) -> E.Experiment:
        return self._backend.get_experiment(experiment_id)

    @mlflow_errors
    def get_experiment_by_name(self, name: str) -> E.Experiment | None:
        with self._session() as s:
            exp = _exp.get_experiment_by_name(s, name)
        return None if exp is None else self._backend.experiment(exp)

    @mlflow_errors
    def search_experiments(self, view_type: int = 1, max_results: int | None = None,
                           filter_string: str | None = None, order_by: list[str] | None = None,
                           page_token: str | None = None) -> E.PagedList:
        with self._session() as s:
            found = _exp.search_experiments(s, filter_string, order_by, max_results)
        return E.PagedList(self._backend.experiments(found))

    @mlflow_errors
    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        with self._session() as s:
            _exp.set_experiment_tag(s, str(experiment_id), key, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise MlflowException(f"MlflowClient.{name} is not supported by gitexp", error_code="NOT_IMPLEMENTED",
                              hint="see docs/mlflow.md for the supported calls; the MLflow tracking plugin "
                                   "covers the rest")


__all__ = ["MlflowClient", "MlflowException"]
