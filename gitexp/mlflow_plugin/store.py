"""MLflow's tracking-store interface over a gitexp repository (MLflow 3.x `AbstractStore`).

Writes go through gitexp's own services: a run created here is an `ActiveRun` owned by
this process (journal, final commit at `update_run_info`, recovered as KILLED if the
process dies), as with `gitexp.start_run`; logging to a run owned by another live
process on this machine appends to that run's journal under its lock (durable per
call); logging to an ended run is one new commit. Reads (runs, histories, experiments)
build MLflow's entities from gitexp's, and searches use MLflow's own `SearchUtils`,
so filter strings and ordering mean exactly what they mean in MLflow. The store keeps
no state another process needs; the only in-memory state is this process's own runs.
"""

from __future__ import annotations

import threading
from typing import Any

from mlflow.entities import (
    Experiment, ExperimentTag, Metric, Param, Run, RunData, RunInfo, RunInputs, RunTag, ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, NOT_IMPLEMENTED, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

from gitexp import uris
from gitexp.errors import AmbiguousRun, GitexpError, InvalidName, InvalidValue, RunNotFound

_owned: dict[str, Any] = {}  # run id -> ActiveRun created by this process
_owned_lock = threading.Lock()
STATUS = {1: "RUNNING", 2: "RUNNING", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def unsupported(what: str) -> MlflowException:
    return MlflowException(f"{what} is not supported by the gitexp store", error_code=NOT_IMPLEMENTED)


def _translate(exc: GitexpError) -> MlflowException:
    code = RESOURCE_DOES_NOT_EXIST if isinstance(exc, RunNotFound) or type(exc).__name__ == "ExperimentNotFound" \
        else INVALID_PARAMETER_VALUE if isinstance(exc, (InvalidName, InvalidValue, AmbiguousRun)) else None
    message = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    return MlflowException(message, error_code=code) if code is not None else MlflowException(message)


def _errors(fn: Any) -> Any:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlflowException:
            raise
        except GitexpError as exc:
            raise _translate(exc) from exc
    return wrapper


class GitexpTrackingStore(AbstractStore):
    """`gitexp:<path>`: the repository containing <path> (default: the current folder)."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        from gitexp.mlflow.client import MlflowClient as GitexpClient

        self.store_uri = store_uri or "gitexp:"
        self.path = uris.repo_path_of(self.store_uri)
        self.client = GitexpClient(tracking_uri=f"gitexp:{self.path}")  # cheap: opens nothing

    def _session(self) -> Any:
        from gitexp.services.session import open_session

        return open_session(self.path)

    # -- experiments ------------------------------------------------------------------------
    def _experiment(self, exp: Any) -> Experiment:
        tags = [ExperimentTag(k, v) for k, v in exp.tags.items()]
        return Experiment(exp.experiment_id, exp.name, exp.artifact_location, exp.lifecycle_stage, tags,
                          exp.creation_time, exp.last_update_time)

    @_errors
    def create_experiment(self, name: str, artifact_location: str | None = None, tags: Any = None) -> str:
        return self.client.create_experiment(name, tags={t.key: t.value for t in (tags or [])})

    @_errors
    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._experiment(self.client.get_experiment(str(experiment_id)))

    @_errors
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        exp = self.client.get_experiment_by_name(experiment_name)
        return None if exp is None else self._experiment(exp)

    @_errors
    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                           filter_string: str | None = None, order_by: Any = None, page_token: Any = None) -> PagedList:
        if view_type == ViewType.DELETED_ONLY:
            return PagedList([], None)
        exps = [self._experiment(e) for e in self.client.search_experiments()]
        exps = SearchExperimentsUtils.filter(exps, filter_string)
        exps = SearchExperimentsUtils.sort(exps, list(order_by or ["last_update_time DESC", "experiment_id"]))
        return self._page(exps, max_results, page_token)

    @staticmethod
    def _page(items: list, max_results: int | None, page_token: Any) -> PagedList:
        start = SearchUtils.parse_start_offset_from_page_token(page_token)
        end = start + max_results if max_results else len(items)
        token = SearchUtils.create_page_token(end) if end < len(items) else None
        return PagedList(items[start:end], token)

    @_errors
    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        self.client.set_experiment_tag(str(experiment_id), tag.key, tag.value)

    # -- runs ---------------------------------------------------------------------------------
    def _run(self, ml: Any) -> Run:
        info = RunInfo(run_id=ml.info.run_id, experiment_id=ml.info.experiment_id, user_id=ml.info.user_id,
                       status=ml.info.status, start_time=ml.info.start_time, end_time=ml.info.end_time,
                       lifecycle_stage="active", artifact_uri=ml.info.artifact_uri, run_name=ml.info.run_name)
        data = RunData(metrics=[Metric(k, v, 0, 0) for k, v in ml.data.metrics.items()],
                       params=[Param(k, v) for k, v in ml.data.params.items()],
                       tags=[RunTag(k, v) for k, v in ml.data.tags.items()])
        return Run(info, data, RunInputs(dataset_inputs=[]))

    @_errors
    def create_run(self, experiment_id: str, user_id: str, start_time: int, tags: Any, run_name: str | None) -> Run:
        from gitexp.services import experiments
        from gitexp.services.tracking import run as tracking

        tags = {t.key: t.value for t in (tags or [])}
        parent = tags.pop("mlflow.parentRunId", None)
        name = run_name or tags.get("mlflow.runName")
        tags.pop("mlflow.runName", None)
        note = tags.pop("mlflow.note.content", None)
        tags.pop("mlflow.user", None)
        with self._session() as s:
            slug = experiments.get_experiment(s, str(experiment_id or "0")).slug
            active = tracking.create_run(s, slug, name, None, tags, None, parent)
        if note:
            active.info.description = note
        with _owned_lock:
            _owned[active.id] = active
        return self.get_run(active.id)

    @_errors
    def get_run(self, run_id: str) -> Run:
        active = _owned.get(str(run_id))
        if active is not None:
            active.flush()  # this process's queued points, so the read sees them
        return self._run(self.client.get_run(str(run_id)))

    @_errors
    def update_run_info(self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None) -> RunInfo:
        status = STATUS.get(run_status, str(run_status)) if isinstance(run_status, int) else str(run_status)
        with _owned_lock:
            active = _owned.pop(str(run_id), None)
        if active is not None and status != "RUNNING":
            active.end(status)
        elif status != "RUNNING":
            self.client.set_terminated(str(run_id), status, end_time)
        if run_name:
            from gitexp.services.edit.runs import rename_run

            with self._session() as s:
                if self.client.get_run(str(run_id)).info.run_name != run_name:
                    rename_run(s, str(run_id), run_name)
        return self.get_run(run_id).info

    @_errors
    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        active = _owned.get(str(run_id))
        tags = list(tags or [])
        if active is not None:
            for p in params or []:
                active.log_param(p.key, p.value)
            for t in tags:
                if t.key == "mlflow.runName":
                    continue
                active.set_tag(t.key, t.value)
            for m in metrics or []:
                active.log_metric(m.key, m.value, m.step, m.timestamp)
            return
        self.client.log_batch(str(run_id), list(metrics or []), list(params or []), tags)

    @_errors
    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: Any = None) -> PagedList:
        active = _owned.get(str(run_id))
        if active is not None:
            active.flush()
        history = self.client.get_metric_history(str(run_id), metric_key)
        points = [Metric(m.key, m.value, m.timestamp, m.step) for m in history]
        return self._page(points, max_results, page_token)

    @_errors
    def _search_runs(self, experiment_ids: Any, filter_string: str, run_view_type: int, max_results: int,
                     order_by: Any, page_token: Any) -> tuple[list[Run], str | None]:
        if run_view_type == ViewType.DELETED_ONLY:
            return [], None
        ids = [str(e) for e in experiment_ids]
        runs = [self._run(r) for r in self.client.search_runs(ids, "", max_results=None)]
        runs = SearchUtils.filter(runs, filter_string)
        runs = SearchUtils.sort(runs, list(order_by or []))
        return SearchUtils.paginate(runs, page_token, max_results)

    def log_inputs(self, run_id: str, datasets: Any = None, models: Any = None) -> None:
        return None  # datasets are recorded by gitexp.mlflow's log_input; here they are accepted and dropped

    def log_outputs(self, run_id: str, models: Any) -> None:
        return None

    # -- MLflow 3 surfaces gitexp does not hold --------------------------------------------------
    def _not_supported(name: str) -> Any:  # noqa: N805 (a class-body helper)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise unsupported(name)
        method.__name__ = name
        return method

    def search_logged_models(self, experiment_ids: Any, filter_string: Any = None, datasets: Any = None,
                             max_results: Any = None, order_by: Any = None, page_token: Any = None) -> PagedList:
        return PagedList([], None)  # no logged models yet: the UI's pages still render

    for _name in ("create_logged_model", "get_logged_model", "finalize_logged_model",
                  "list_gateway_endpoints", "search_traces", "query_trace_metrics", "search_datasets",
                  "start_trace", "get_trace", "get_trace_info", "log_spans", "delete_traces",
                  "create_dataset", "get_dataset", "delete_dataset", "create_assessment", "link_traces_to_run",
                  "delete_run", "restore_run", "delete_experiment", "restore_experiment", "rename_experiment"):
        locals()[_name] = _not_supported(_name)
    del _name
