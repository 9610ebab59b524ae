"""MLflow's fluent tracking API with MLflow's semantics, recorded by gitexp.

    import gitexp.mlflow as mlflow

After this one line, MLflow tracking code behaves as with MLflow: `start_run` takes
`run_id` first, `active_run()` returns an `ActiveRun` whose `info.start_time` is Unix
ms, params come back as text, `log_metric` without a step logs step 0,
`search_runs` returns a pandas DataFrame, errors are `MlflowException`. `import
gitexp` keeps gitexp's own types (typed params, `Run` objects, auto-incremented
steps). See docs/mlflow.md for what maps and what differs. Needs no mlflow package.
"""

from __future__ import annotations

import os
import warnings

from gitexp import api, api_mlflow
from gitexp import uris as _uris
from gitexp.mlflow import data, entities
from gitexp.mlflow._backend import Backend, mlflow_errors, to_frame
from gitexp.mlflow.client import MlflowClient
from gitexp.mlflow.entities import Experiment, Run, RunStatus, ViewType
from gitexp.mlflow.exceptions import MlflowException

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ActiveRun", "Experiment", "MlflowClient", "MlflowException", "Run", "RunStatus", "ViewType",
    "active_run", "autolog", "create_experiment", "data", "delete_experiment_tag", "delete_run", "delete_tag",
    "end_run", "entities", "flush_artifact_async_logging", "flush_async_logging", "get_parent_run", "load_table",
    "get_artifact_uri", "get_experiment", "get_experiment_by_name", "get_run", "get_tracking_uri",
    "is_tracking_uri_set", "last_active_run", "log_artifact", "log_artifacts", "log_dict", "log_figure",
    "log_image", "log_input", "log_metric", "log_metrics", "log_param", "log_params", "log_table", "log_text",
    "search_experiments", "search_runs", "set_experiment", "set_experiment_tag", "set_experiment_tags",
    "set_tag", "set_tags", "set_tracking_uri", "start_run",
]


def _backend() -> Backend:
    return Backend(api._repo_path)


class ActiveRun(Run):
    """What `start_run` and `active_run` return: a `Run` (info and data as at its start) and a
    context manager that ends the run (FINISHED; FAILED on an exception; KILLED on Ctrl-C)."""

    def __init__(self, run: Run, handle: Any) -> None:
        super().__init__(run.info, run.data, run.inputs)
        self._handle = handle

    def __enter__(self) -> "ActiveRun":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> bool:
        self._handle.__exit__(exc_type, exc, tb)
        return exc_type is None


def _active(handle: Any) -> ActiveRun:
    run = handle._run
    root = api_mlflow._repo_root()
    ml = Run(entities.run_info(run.info, _uris.run_artifact_uri(root, run.id)),
             entities.run_data(run.info, run.params, {}, run.tags))
    return ActiveRun(ml, handle)


# -- runs -----------------------------------------------------------------------------------
@mlflow_errors
def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None) -> ActiveRun:
    """MLflow's start_run: a new run, or the ended run `run_id` resumed (a new segment on its ref).

    Without `experiment_id`, the run goes to set_experiment's experiment, else
    MLFLOW_EXPERIMENT_NAME / MLFLOW_EXPERIMENT_ID, else the default experiment ("0").
    `log_system_metrics` is not supported and ignored.
    """
    if experiment_id is None and api._experiment is None and run_id is None:
        if os.environ.get("MLFLOW_EXPERIMENT_NAME"):
            api_mlflow_set = api_mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
            experiment_id = api_mlflow_set.experiment_id
        elif os.environ.get("MLFLOW_EXPERIMENT_ID"):
            experiment_id = os.environ["MLFLOW_EXPERIMENT_ID"]
    if experiment_id is None and nested and run_id is None:  # MLflow: the current experiment, not the parent's
        experiment_id = api_mlflow.current_experiment_id()
    handle = api.start_run(run_name=run_name, tags=tags, nested=nested, run_id=run_id,
                           experiment_id=experiment_id, description=description, parent_run_id=parent_run_id)
    return _active(handle)


@mlflow_errors
def end_run(status: str = "FINISHED") -> None:
    api.end_run(status if isinstance(status, str) else RunStatus.to_string(status))


def active_run() -> ActiveRun | None:
    """The innermost active run (its info and data as at its start, as in MLflow), or None."""
    handle = api.active_run()
    return None if handle is None else _active(handle)


@mlflow_errors
def last_active_run() -> Run | None:
    """The active run, else the last run this process had active, as stored now; else None."""
    run_id = api._stack[-1].id if api._stack else api._last_run_id
    return None if run_id is None else _backend().get_run(run_id)


@mlflow_errors
def get_run(run_id: str) -> Run:
    """The run with `run_id` (any gitexp run reference works): info, data (params as text) and inputs."""
    return _backend().get_run(run_id)


@mlflow_errors
def search_runs(experiment_ids: list[str] | None = None, filter_string: str = "", run_view_type: int = 1,
                max_results: int = 100000, order_by: list[str] | None = None, output_format: str = "pandas",
                search_all_experiments: bool = False, experiment_names: list[str] | None = None) -> Any:
    """MLflow's search_runs: a pandas DataFrame (`output_format="list"`: a list of `Run`).

    Without experiment_ids or experiment_names it searches the current experiment, as
    MLflow does (every experiment with `search_all_experiments=True`).
    """
    if output_format not in ("pandas", "list"):
        raise MlflowException(f"unsupported output_format {output_format!r}; use 'pandas' or 'list'",
                              error_code="INVALID_PARAMETER_VALUE")
    backend = _backend()
    if experiment_ids is None and experiment_names is None:
        slugs = None if search_all_experiments else backend.slugs([api_mlflow.current_experiment_id()])
    else:
        slugs = backend.slugs(experiment_ids, experiment_names)
    runs = backend.search_runs(slugs, filter_string, order_by, max_results)
    return runs if output_format == "list" else to_frame(runs)


# -- logging --------------------------------------------------------------------------------
@mlflow_errors
def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    value = api.log_param(key, value)
    if synchronous:
        api.flush()
    return value


@mlflow_errors
def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    run = api._current() if run_id is None else api._active_by_id(run_id)
    if run is None:  # a run this process does not run
        MlflowClient(api_mlflow.get_tracking_uri()).log_batch(str(run_id), params=[entities.Param(k, v)
                                                                                  for k, v in params.items()])
        return
    for key, value in params.items():
        run.log_param(key, value)
    if synchronous:
        run.flush()


@mlflow_errors
def log_metric(key: str, value: float, step: int | None = None, synchronous: bool | None = None,
               timestamp: int | None = None, run_id: str | None = None, model_id: str | None = None,
               dataset: Any = None) -> None:
    """MLflow's log_metric: `step` defaults to 0 (MLflow's rule; `import gitexp` counts steps up)."""
    api.log_metric(key, value, 0 if step is None else step, timestamp, synchronous, run_id)


@mlflow_errors
def log_metrics(metrics: dict[str, float], step: int | None = None, synchronous: bool | None = None,
                run_id: str | None = None, timestamp: int | None = None, model_id: str | None = None,
                dataset: Any = None) -> None:
    api.log_metrics(metrics, 0 if step is None else step, timestamp, synchronous, run_id)


@mlflow_errors
def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    api.set_tag(key, value)
    if synchronous:
        api.flush()


@mlflow_errors
def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    api.set_tags(tags)
    if synchronous:
        api.flush()


@mlflow_errors
def delete_tag(key: str) -> None:
    api.delete_tag(key)


def flush_async_logging() -> None:
    api.flush()


# -- artifacts --------------------------------------------------------------------------------
def _own(run_id: str | None) -> None:
    if run_id is not None and api._active_by_id(run_id) is None:
        raise MlflowException(f"gitexp logs artifacts only to a run active in this process, not {run_id!r}",
                              error_code="INVALID_PARAMETER_VALUE",
                              hint="resume it first: with mlflow.start_run(run_id=...)")


@mlflow_errors
def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    _own(run_id)
    api.log_artifact(local_path, artifact_path)


@mlflow_errors
def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    _own(run_id)
    api.log_artifacts(local_dir, artifact_path)


@mlflow_errors
def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _own(run_id)
    api.log_text(text, artifact_file)


@mlflow_errors
def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    _own(run_id)
    api.log_dict(dictionary, artifact_file)


@mlflow_errors
def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict | None = None) -> None:
    api.log_figure(figure, artifact_file)


@mlflow_errors
def log_image(image: Any, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, synchronous: bool | None = None) -> None:
    api_mlflow.log_image(image, artifact_file, key, step, timestamp, synchronous)


@mlflow_errors
def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    _own(run_id)
    api_mlflow.log_table(data, artifact_file)


@mlflow_errors
def log_input(dataset: Any, context: str | None = None, tags: dict[str, str] | None = None,
              model: Any = None) -> None:
    api_mlflow.log_input(dataset, context, tags, model)


@mlflow_errors
def get_artifact_uri(artifact_path: str | None = None) -> str:
    return api_mlflow.get_artifact_uri(artifact_path)


# -- tracking URI -------------------------------------------------------------------------------
_uri_set = False


def set_tracking_uri(uri: Any) -> None:
    """A `gitexp:<path>` URI selects that repository; any other URI warns and is ignored."""
    global _uri_set
    api_mlflow.set_tracking_uri(uri)
    _uri_set = _uris.is_gitexp_uri(os.fspath(uri) if isinstance(uri, os.PathLike) else uri)


def get_tracking_uri() -> str:
    return api_mlflow.get_tracking_uri()


def is_tracking_uri_set() -> bool:
    return _uri_set


# -- experiments --------------------------------------------------------------------------------
@mlflow_errors
def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Find or make the experiment (free-text name, or id) and make it current; returns it."""
    exp = api.set_experiment(experiment_name, experiment_id)
    return _backend().experiment(exp)


@mlflow_errors
def create_experiment(name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
    return api_mlflow.create_experiment(name, artifact_location, tags)


@mlflow_errors
def get_experiment(experiment_id: str) -> Experiment:
    return _backend().get_experiment(experiment_id)


@mlflow_errors
def get_experiment_by_name(name: str) -> Experiment | None:
    exp = api_mlflow.get_experiment_by_name(name)
    return None if exp is None else _backend().experiment(exp)


@mlflow_errors
def search_experiments(view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None, order_by: list[str] | None = None) -> list[Experiment]:
    return _backend().experiments(api_mlflow.search_experiments(view_type, max_results, filter_string, order_by))


@mlflow_errors
def set_experiment_tag(key: str, value: Any) -> None:
    api_mlflow.set_experiment_tag(key, value)


@mlflow_errors
def set_experiment_tags(tags: dict[str, Any]) -> None:
    api_mlflow.set_experiment_tags(tags)


def autolog(*args: Any, **kwargs: Any) -> None:
    """Not supported: autologging needs MLflow's flavors (use the MLflow tracking plugin)."""
    warnings.warn("gitexp.mlflow.autolog does nothing: autologging needs the real mlflow package "
                  "(see docs/mlflow.md, 'What needs the tracking backend')", stacklevel=2)


# -- more tracking calls ------------------------------------------------------------------------
@mlflow_errors
def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run, or None."""
    parent = _backend().get_run(run_id).data.tags.get("mlflow.parentRunId")
    return None if parent is None else _backend().get_run(parent)


@mlflow_errors
def delete_run(run_id: str) -> None:
    """Remove the run's ref (as `gitexp rm`; undoable from the reflog with `git update-ref`)."""
    api.remove_run(run_id)


@mlflow_errors
def delete_experiment_tag(key: str) -> None:
    api_mlflow.delete_experiment_tag(key)


def flush_artifact_async_logging() -> None:
    """Artifacts are stored when logged: nothing to wait for."""


@mlflow_errors
def load_table(artifact_file: str, run_ids: list[str] | None = None,
               extra_columns: list[str] | None = None) -> Any:
    """The tables logged as `artifact_file` (log_table) by `run_ids` (default: every run of the
    current experiment that has it), concatenated into one DataFrame; `extra_columns` such as
    ["run_id"] add run info columns."""
    import json as _json

    import pandas as pd

    from gitexp.api_mlflow import read_artifact
    from gitexp.services.catalog.listing import get_run as _get

    backend = _backend()
    if run_ids is None:
        run_ids = [r.info.run_id for r in backend.search_runs(
            backend.slugs([api_mlflow.current_experiment_id()]), None, None, None)]
    frames = []
    with backend.session() as s:
        runs = [_get(s, rid) for rid in run_ids]
    for run in runs:
        if not any(a.path == artifact_file for a in run.artifacts):
            continue
        table = _json.loads(read_artifact(run, artifact_file))
        frame = pd.DataFrame(table.get("data", []), columns=table.get("columns"))
        for col in extra_columns or []:
            frame[col] = {"run_id": run.id, "run_name": run.name, "experiment_id": run.experiment_id,
                          "status": run.status}.get(col)
        frames.append(frame)
    if not frames:
        raise MlflowException(f"no run has the table {artifact_file!r}", error_code="RESOURCE_DOES_NOT_EXIST")
    return pd.concat(frames, ignore_index=True)
