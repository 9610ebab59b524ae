"""MLflow 3 logged models (`models:/m-…`), kept under their source run's record so they travel with it.

| MLflow | gitexp |
|---|---|
| model id | `m-<source run id><16 hex>`: the run is found from the id alone |
| name, status, type, tags, params, times | artifact `models/<id>/meta.yaml` of the run (as `gitexp import mlflow`) |
| the model's files (`artifact_location`) | artifacts `models/<id>/artifacts/…` of the run |
| which runs hold models | run tag `mlflow.gitexp.model.<id>` (the model's name): a search reads only those runs |

A model logged outside any run gets a run of its own, named after the model and ended
when the model is finalized. Models whose id does not name their run (imported from
MLflow) are found by `get` through a scan of the runs, and not by `search`.
"""

from __future__ import annotations

import secrets
import time

from mlflow.entities import LoggedModel, LoggedModelStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchLoggedModelsUtils

from gitexp import uris
from gitexp.mlflow_plugin import writes
from gitexp.names import ID_LENGTH, is_run_id
from gitexp.services.session import Session
from gitexp.store import yamlio

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

TAG = "mlflow.gitexp.model."
HOLDER_TAG = "mlflow.gitexp.modelHolder"  # on a run made to hold a model logged outside any run


def _meta_path(model_id: str) -> str:
    return f"models/{model_id}/meta.yaml"


def create(s: Session, root: str, experiment: str, name: str | None, run_id: str | None,
           tags: dict[str, str], params: dict[str, str], model_type: str | None) -> LoggedModel:
    """A PENDING model under run `run_id` (or under a new run of experiment slug `experiment`)."""
    name = name or "model"
    holder = run_id is None
    if run_id is None:
        run_id = writes.create(s, experiment, None, {HOLDER_TAG: name}, None)
    model_id = f"m-{run_id}{secrets.token_hex(8)}"
    now = int(time.time() * 1000)
    meta = {"model_id": model_id, "name": name, "source_run_id": None if holder else run_id,
            "status": str(LoggedModelStatus.PENDING), "model_type": model_type, "creation_timestamp": now,
            "last_updated_timestamp": now, "tags": dict(tags), "params": dict(params), "holder_run_id": run_id}
    writes.write_file(writes.reuse(s), run_id, _meta_path(model_id), yamlio.dump(meta))
    writes.log(writes.reuse(s), run_id, [], [], [RunTag(TAG + model_id, name)])
    return _entity(root, _run(s, run_id), meta)


def get(s: Session, root: str, model_id: str, allow_deleted: bool = False) -> LoggedModel:
    run, meta = _find(s, model_id)
    if meta.get("deleted") and not allow_deleted:
        raise _missing(model_id)
    return _entity(root, run, meta)


def update(s: Session, root: str, model_id: str, change: Any) -> LoggedModel:
    """Apply `change(meta)` to a model's metadata and write it back (a journal entry or a commit)."""
    run, meta = _find(s, model_id)
    change(meta)
    meta["last_updated_timestamp"] = int(time.time() * 1000)
    run_id = meta.get("holder_run_id") or run.id
    writes.write_file(writes.reuse(s), run_id, _meta_path(model_id), yamlio.dump(meta))
    if meta.get("source_run_id") is None and LoggedModelStatus.is_finalized(meta.get("status")):
        _end_holder(s, run_id, meta["status"])
    return _entity(root, _run(s, run_id), meta)


def _end_holder(s: Session, run_id: str, status: str) -> None:
    """The run made for a model logged outside any run ends with the model."""
    run = _run(s, run_id)
    if run.status == "RUNNING" and run.tags.get(HOLDER_TAG) is not None:
        writes.end(s, run_id, "FINISHED" if status == str(LoggedModelStatus.READY) else "FAILED", None)


def search(s: Session, root: str, experiment_ids: Any, filter_string: str | None, datasets: Any,
           max_results: int | None, order_by: Any, page_token: Any) -> PagedList:
    """MLflow's model search (its own filter, order and paging) over the models of those experiments."""
    from gitexp.services.catalog.listing import list_runs

    wanted = {str(e) for e in experiment_ids or []}
    models = []
    for run in list_runs(s, None):
        if run.error or not any(k.startswith(TAG) for k in run.tags) or run.info.experiment_id not in wanted:
            continue
        for key in sorted(k for k in run.tags if k.startswith(TAG)):
            meta = _meta(s, run, key[len(TAG):])
            if meta is not None and not meta.get("deleted"):
                models.append(_entity(root, run, meta))
    found = SearchLoggedModelsUtils.filter_logged_models(models, filter_string, datasets)
    found = SearchLoggedModelsUtils.sort(found, list(order_by or []))
    page, token = SearchLoggedModelsUtils.paginate(found, page_token, max_results or 100)
    return PagedList(page, token)


def _run(s: Session, run_id: str) -> Any:
    from gitexp.services.catalog.listing import get_run

    return get_run(s, run_id)


def _meta(s: Session, run: Any, model_id: str) -> dict | None:
    from gitexp.services.runfiles import ArtifactNotFound, read_artifact

    try:
        meta = yamlio.load(read_artifact(s, run, _meta_path(model_id))[1])
    except ArtifactNotFound:
        return None
    return meta if isinstance(meta, dict) and meta.get("model_id") == model_id else None


def _find(s: Session, model_id: str) -> tuple[Any, dict]:
    """(the run holding model `model_id`, its metadata)."""
    from gitexp.errors import RunNotFound
    from gitexp.services.catalog.listing import list_runs

    run_id = model_id[2:2 + ID_LENGTH]
    if model_id.startswith("m-") and is_run_id(run_id):
        try:
            candidates = [_run(s, run_id)]
        except RunNotFound:
            candidates = []
    else:  # an imported model: its id says nothing about its run
        candidates = [r for r in list_runs(s, None) if not r.error]
    for run in candidates:
        meta = _meta(s, run, model_id) if any(a.path == _meta_path(model_id) for a in run.artifacts) else None
        if meta is not None:
            return run, meta
    raise _missing(model_id)


def _missing(model_id: str) -> MlflowException:
    return MlflowException(f"logged model {model_id!r} not found in this repository",
                           error_code=RESOURCE_DOES_NOT_EXIST)


def _entity(root: str, run: Any, meta: dict) -> LoggedModel:
    model_id = str(meta["model_id"])
    holder = str(meta.get("holder_run_id") or run.id)
    return LoggedModel(
        experiment_id=run.info.experiment_id, model_id=model_id, name=str(meta.get("name") or "model"),
        artifact_location=uris.run_artifact_uri(root, holder, f"models/{model_id}/artifacts"),
        creation_timestamp=int(meta.get("creation_timestamp") or 0),
        last_updated_timestamp=int(meta.get("last_updated_timestamp") or meta.get("creation_timestamp") or 0),
        model_type=meta.get("model_type"), source_run_id=meta.get("source_run_id"),
        status=LoggedModelStatus(str(meta.get("status") or "READY")),
        tags={str(k): str(v) for k, v in (meta.get("tags") or {}).items()},
        params={str(k): str(v) for k, v in (meta.get("params") or {}).items()})
