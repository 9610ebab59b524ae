"""MLflow's tracking-store interface over a gitexp repository (MLflow 3.x `AbstractStore`).

Reads (runs, histories, experiments) build MLflow's entities from `gitexp.mlflow`'s
(`_backend.Backend`), and searches use MLflow's own `SearchUtils`, so filter strings and
ordering mean exactly what they mean in MLflow. Writes go through gitexp's services
(`writes`): every call is in the run's journal when it returns and the run is committed
when MLflow ends it, from whichever process (MLflow's server has 4 workers). Logged
models live under their source run (`models`). The store keeps no state another process
needs, and constructing it opens nothing.
"""

from __future__ import annotations

import re

from mlflow.entities import (
    Dataset, DatasetInput, Experiment, ExperimentTag, InputTag, LoggedModelStatus, Metric, Param, Run, RunData,
    RunInfo, RunInputs, RunTag, ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE, NOT_IMPLEMENTED, RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

from gitexp import uris
from gitexp.errors import GitexpError
from gitexp.mlflow import entities as E
from gitexp.mlflow._backend import Backend, translate_errors
from gitexp.mlflow_plugin import models, writes

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

STATUS = {1: "RUNNING", 2: "RUNNING", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_CODES = {"RESOURCE_DOES_NOT_EXIST": RESOURCE_DOES_NOT_EXIST, "RESOURCE_ALREADY_EXISTS": RESOURCE_ALREADY_EXISTS,
          "INVALID_PARAMETER_VALUE": INVALID_PARAMETER_VALUE}
# Run tags MLflow sends at a run's creation that gitexp keeps in run.yaml (name, parent, note, user).
# Later, `mlflow.runName` renames the run; a note set later is kept as the tag (it shows as the note).
_RECORD_TAGS = ("mlflow.runName", "mlflow.parentRunId", "mlflow.note.content", "mlflow.user")


def unsupported(what: str) -> MlflowException:
    return MlflowException(f"{what} is not supported by the gitexp store", error_code=NOT_IMPLEMENTED)


def _translate(exc: GitexpError) -> MlflowException:
    from gitexp.mlflow.exceptions import MlflowException as GitexpMlflowException

    code = _CODES.get(GitexpMlflowException.from_gitexp(exc).error_code)
    message = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    return MlflowException(message, error_code=code) if code is not None else MlflowException(message)


_errors = translate_errors(_translate)


def to_mlflow_run(ml: E.Run) -> Run:
    """MLflow's `Run` for `gitexp.mlflow`'s (one attribute at a time; metrics at their last step)."""
    info = RunInfo(run_id=ml.info.run_id, experiment_id=ml.info.experiment_id, user_id=ml.info.user_id,
                   status=ml.info.status, start_time=ml.info.start_time, end_time=ml.info.end_time,
                   lifecycle_stage=ml.info.lifecycle_stage, artifact_uri=ml.info.artifact_uri,
                   run_name=ml.info.run_name)
    data = RunData(metrics=[Metric(k, v, 0, ml.data.steps.get(k, 0)) for k, v in ml.data.metrics.items()],
                   params=[Param(k, v) for k, v in ml.data.params.items()],
                   tags=[RunTag(k, v) for k, v in ml.data.tags.items()])
    inputs = [DatasetInput(Dataset(d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source,
                                   d.dataset.schema, d.dataset.profile), [InputTag(t.key, t.value) for t in d.tags])
              for d in ml.inputs.dataset_inputs]
    return Run(info, data, RunInputs(dataset_inputs=inputs))


class RunSearch(SearchUtils):
    """MLflow's in-memory run search plus `RLIKE` (a regular expression), which MLflow's UI sends
    for the run-name box and only MLflow's SQL store understands."""

    @classmethod
    def _does_run_match_clause(cls, run: Run, sed: dict) -> bool:
        if str(sed.get("comparator", "")).upper() != "RLIKE":
            return super()._does_run_match_clause(run, sed)
        key = cls.translate_key_alias(sed["key"])
        where = {"parameter": run.data.params, "tag": run.data.tags}.get(sed["type"])
        lhs = where.get(key) if where is not None else getattr(run.info, key, None)
        try:
            return lhs is not None and re.search(str(sed["value"]), str(lhs)) is not None
        except re.error as exc:
            raise MlflowException(f"bad regular expression {sed['value']!r}: {exc}",
                                  error_code=INVALID_PARAMETER_VALUE) from None


class GitexpTrackingStore(AbstractStore):
    """`gitexp:<path>`: the repository containing <path> (default: the current folder)."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.store_uri = store_uri or "gitexp:"
        self.path = uris.repo_path_of(self.store_uri)
        self.backend = Backend(self.path)  # cheap: opens nothing

    def _session(self) -> Any:
        return self.backend.session()

    # -- experiments ------------------------------------------------------------------------
    @staticmethod
    def _experiment(exp: E.Experiment) -> Experiment:
        tags = [ExperimentTag(k, v) for k, v in exp.tags.items()]
        return Experiment(exp.experiment_id, exp.name, exp.artifact_location, exp.lifecycle_stage, tags,
                          exp.creation_time, exp.last_update_time)

    @_errors
    def create_experiment(self, name: str, artifact_location: str | None = None, tags: Any = None) -> str:
        from gitexp.services import experiments

        with self._session() as s:
            return experiments.create_experiment(s, name, {t.key: t.value for t in (tags or [])}).experiment_id

    @_errors
    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._experiment(self.backend.get_experiment(str(experiment_id)))

    @_errors
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        from gitexp.services import experiments

        with self._session() as s:
            exp = experiments.get_experiment_by_name(s, experiment_name)
        return None if exp is None else self._experiment(self.backend.experiment(exp))

    @_errors
    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                           filter_string: str | None = None, order_by: Any = None, page_token: Any = None) -> PagedList:
        from gitexp.services import experiments

        if view_type == ViewType.DELETED_ONLY:
            return PagedList([], None)
        with self._session() as s:
            found = experiments.search_experiments(s)
        exps = [self._experiment(e) for e in self.backend.experiments(found)]
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
        from gitexp.services import experiments

        with self._session() as s:
            experiments.set_experiment_tag(s, str(experiment_id), tag.key, tag.value)

    @_errors
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        from gitexp.services import experiments

        with self._session() as s:
            experiments.delete_experiment_tag(s, str(experiment_id), key)

    # -- runs ---------------------------------------------------------------------------------
    @_errors
    def create_run(self, experiment_id: str, user_id: str, start_time: int, tags: Any, run_name: str | None) -> Run:
        from gitexp.services import experiments

        tags = {t.key: t.value for t in (tags or [])}
        name = run_name or tags.get("mlflow.runName")
        with self._session() as s:
            slug = experiments.get_experiment(s, str(experiment_id or "0")).slug
            run_id = writes.create(s, slug, name, _plain_tags(tags), tags.get("mlflow.parentRunId"),
                                   tags.get("mlflow.note.content"))
        return self.get_run(run_id)

    @_errors
    def get_run(self, run_id: str) -> Run:
        return to_mlflow_run(self.backend.get_run(str(run_id)))

    @_errors
    def update_run_info(self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None) -> RunInfo:
        status = STATUS.get(run_status, str(run_status)) if isinstance(run_status, int) else str(run_status)
        with self._session() as s:
            current = self.backend.get_run(str(run_id)).info.status
            if status == "RUNNING" and current != "RUNNING":
                writes.resume(s, str(run_id))
            elif status != "RUNNING":
                writes.end(s, str(run_id), status, end_time)
            if run_name:  # after ending: a running run cannot be renamed (its name is reserved)
                self._rename(s, str(run_id), run_name)
        return self.get_run(run_id).info

    def _rename(self, s: Any, run_id: str, name: str) -> None:
        from gitexp.services.edit.runs import rename_run

        if self.backend.get_run(run_id).info.run_name != name:
            rename_run(s, run_id, name)

    @_errors
    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        tags = list(tags or [])
        for t in tags:
            if t.key == "mlflow.runName":
                with self._session() as s:
                    self._rename(s, str(run_id), t.value)
        writes.log(self._session, str(run_id), list(metrics or []), list(params or []),
                   [t for t in tags if t.key != "mlflow.runName"])

    @_errors
    def delete_tag(self, run_id: str, key: str) -> None:
        from gitexp.services.edit.tags import set_tags

        with self._session() as s:
            set_tags(s, str(run_id), None, [key])

    @_errors
    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: Any = None) -> PagedList:
        history = self.backend.get_metric_history(str(run_id), metric_key)
        points = [Metric(m.key, m.value, m.timestamp, m.step) for m in history]
        return self._page(points, max_results, page_token)

    @_errors
    def _search_runs(self, experiment_ids: Any, filter_string: str, run_view_type: int, max_results: int,
                     order_by: Any, page_token: Any) -> tuple[list[Run], str | None]:
        if run_view_type == ViewType.DELETED_ONLY:
            return [], None
        slugs = self.backend.slugs([str(e) for e in experiment_ids])
        runs = [to_mlflow_run(r) for r in self.backend.search_runs(slugs, "", None, None)]
        runs = RunSearch.filter(runs, filter_string)
        runs = SearchUtils.sort(runs, list(order_by or []))
        return SearchUtils.paginate(runs, page_token, max_results)

    @_errors
    def log_inputs(self, run_id: str, datasets: Any = None, models: Any = None) -> None:
        from gitexp.api_mlflow import dataset_artifact

        with self._session() as s:
            for d in datasets or []:
                entry = {"name": d.dataset.name, "digest": d.dataset.digest, "source_type": d.dataset.source_type,
                         "source": d.dataset.source, "schema": d.dataset.schema, "profile": d.dataset.profile,
                         "tags": {t.key: t.value for t in d.tags or []}}
                writes.write_file(writes.reuse(s), str(run_id), *dataset_artifact(entry))

    def log_outputs(self, run_id: str, models: Any) -> None:
        return None  # a model's record names its source run (`models`)

    # -- logged models (MLflow 3) ---------------------------------------------------------------
    @_errors
    def create_logged_model(self, experiment_id: str, name: str | None = None, source_run_id: str | None = None,
                            tags: Any = None, params: Any = None, model_type: str | None = None) -> Any:
        from gitexp.services import experiments

        with self._session() as s:
            slug = experiments.get_experiment(s, str(experiment_id or "0")).slug
            return models.create(s, self.backend.root(s), slug, name, source_run_id,
                                 {t.key: t.value for t in tags or []}, {p.key: p.value for p in params or []},
                                 model_type)

    @_errors
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> Any:
        with self._session() as s:
            return models.get(s, self.backend.root(s), str(model_id), allow_deleted)

    def _update_model(self, model_id: str, change: Any) -> Any:
        with self._session() as s:
            return models.update(s, self.backend.root(s), str(model_id), change)

    @_errors
    def finalize_logged_model(self, model_id: str, status: Any) -> Any:
        return self._update_model(model_id, lambda m: m.update(status=str(LoggedModelStatus(status))))

    @_errors
    def set_logged_model_tags(self, model_id: str, tags: Any) -> None:
        self._update_model(model_id, lambda m: m.setdefault("tags", {}).update({t.key: t.value for t in tags}))

    @_errors
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._update_model(model_id, lambda m: (m.get("tags") or {}).pop(key, None))

    @_errors
    def log_logged_model_params(self, model_id: str, params: Any) -> None:
        self._update_model(model_id, lambda m: m.setdefault("params", {}).update({p.key: p.value for p in params}))

    @_errors
    def delete_logged_model(self, model_id: str) -> None:
        self._update_model(model_id, lambda m: m.update(deleted=True))

    @_errors
    def search_logged_models(self, experiment_ids: Any, filter_string: Any = None, datasets: Any = None,
                             max_results: Any = None, order_by: Any = None, page_token: Any = None) -> PagedList:
        with self._session() as s:
            return models.search(s, self.backend.root(s), experiment_ids, filter_string, datasets, max_results,
                                 order_by, page_token)

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        return None  # MLflow 2's `mlflow.log-model.history` tag: logged models carry this in MLflow 3

    # -- MLflow 3 surfaces gitexp does not hold --------------------------------------------------
    def _not_supported(name: str) -> Any:  # noqa: N805 (a class-body helper)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise unsupported(name)
        method.__name__ = name
        return method

    for _name in ("list_gateway_endpoints", "search_traces", "query_trace_metrics", "search_datasets",
                  "start_trace", "get_trace", "get_trace_info", "log_spans", "delete_traces", "batch_get_traces",
                  "create_dataset", "get_dataset", "delete_dataset", "create_assessment", "link_traces_to_run",
                  "delete_run", "restore_run", "delete_experiment", "restore_experiment", "rename_experiment",
                  "register_scorer", "list_scorers", "get_scorer", "delete_scorer", "create_webhook"):
        locals()[_name] = _not_supported(_name)
    del _name


def _plain_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags as gitexp keeps them: MLflow's record-like system tags go to run.yaml instead."""
    return {k: v for k, v in tags.items() if k not in _RECORD_TAGS}
