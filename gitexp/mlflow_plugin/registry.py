"""The model-registry store for `gitexp:` URIs: gitexp's registry tags, read as MLflow's registry.

| MLflow | gitexp (GTO-style tags, `gitexp models`) |
|---|---|
| registered model | a model name with at least one version tag |
| model version (`version`, `run_id`, `source`) | a version tag `NAME@vX.Y.Z` (its run, `runs:/<run>/<artifact>`) |
| alias | a stage the version holds (`NAME#prod#N`) |
| `current_stage` | "None" (MLflow's stages are deprecated; aliases carry gitexp's stages) |

Reads only: MLflow's UI asks `search_model_versions` on every run page and the registered
models on model pages. Registering through MLflow raises NOT_IMPLEMENTED: use `gitexp models
register` (the tags then travel with `gitexp push`).
"""

from __future__ import annotations


from mlflow.entities.model_registry import ModelVersion, RegisteredModel, RegisteredModelAlias
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import NOT_IMPLEMENTED, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils

from gitexp import uris

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


class GitexpRegistryStore(AbstractStore):
    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self.path = uris.repo_path_of(store_uri or "gitexp:")

    def _models(self) -> list[Any]:
        from gitexp.services.registry.state import load_registry
        from gitexp.services.session import open_session

        with open_session(self.path) as s:
            return [m for m in load_registry(s.db).models.values() if _live(m)]

    def search_model_versions(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                              page_token: Any = None) -> PagedList:
        versions = [_version(v) for m in self._models() for v in _live(m)]
        versions = SearchModelVersionUtils.filter(versions, filter_string)
        versions = SearchModelVersionUtils.sort(versions, list(order_by or ["name ASC", "version_number DESC"]))
        return _page(versions, max_results, page_token)

    def search_registered_models(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                                 page_token: Any = None) -> PagedList:
        models = SearchModelUtils.filter([_model(m) for m in self._models()], filter_string)
        return _page(SearchModelUtils.sort(models, list(order_by or ["name ASC"])), max_results, page_token)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _model(self._one(name))

    def get_latest_versions(self, name: str, stages: Any = None) -> list[ModelVersion]:
        live = _live(self._one(name))
        return [_version(live[-1])] if live else []

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        found = [v for v in _live(self._one(name)) if str(version) in (v.version, v.version.lstrip("v"))]
        if not found:
            raise MlflowException(f"model {name!r} has no version {version!r}", error_code=RESOURCE_DOES_NOT_EXIST)
        return _version(found[0])

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        for v in _live(self._one(name)):
            if alias in v.stages:
                return _version(v)
        raise MlflowException(f"model {name!r} has no version in stage {alias!r}", error_code=RESOURCE_DOES_NOT_EXIST)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        return self.get_model_version(name, version).source

    def _one(self, name: str) -> Any:
        for m in self._models():
            if m.name == name:
                return m
        raise MlflowException(f"registered model {name!r} not found (gitexp models lists them)",
                              error_code=RESOURCE_DOES_NOT_EXIST)

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise MlflowException("changing the model registry through MLflow is not supported by the gitexp store "
                              "(use gitexp models register / assign)", error_code=NOT_IMPLEMENTED)

    create_registered_model = update_registered_model = rename_registered_model = _unsupported
    delete_registered_model = set_registered_model_tag = delete_registered_model_tag = _unsupported
    create_model_version = update_model_version = transition_model_version_stage = _unsupported
    delete_model_version = set_model_version_tag = delete_model_version_tag = _unsupported
    set_registered_model_alias = delete_registered_model_alias = _unsupported


def _live(model: Any) -> list[Any]:
    """The versions not deregistered, oldest first."""
    return [v for v in model.versions.values() if not v.deregistered]


def _version(v: Any) -> ModelVersion:
    ms = int(v.registered_at) * 1000
    return ModelVersion(v.model, v.version, ms, ms, v.text or None, v.registered_by, "None", v.source or "",
                        v.run_id, "READY", aliases=list(v.stages))


def _model(m: Any) -> RegisteredModel:
    live = _live(m)
    times = [int(v.registered_at) * 1000 for v in live]
    aliases = [RegisteredModelAlias(stage, version) for stage, version in m.stages.items()]
    return RegisteredModel(m.name, min(times, default=None), max(times, default=None),
                           latest_versions=[_version(live[-1])] if live else [], aliases=aliases)


def _page(items: list, max_results: Any, page_token: Any) -> PagedList:
    page, token = SearchUtils.paginate(items, page_token, int(max_results or len(items) or 1))
    return PagedList(page, token)
