"""The model-registry store for `gitexp:` URIs: enough for MLflow's UI (run pages call
`search_model_versions`); registering models goes through gitexp's registry tags later."""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import NOT_IMPLEMENTED
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore


class GitexpRegistryStore(AbstractStore):
    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)

    def search_model_versions(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                              page_token: Any = None) -> PagedList:
        return PagedList([], None)

    def search_registered_models(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                                 page_token: Any = None) -> PagedList:
        return PagedList([], None)

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise MlflowException("the model registry through MLflow is not supported by the gitexp store "
                              "(use gitexp's registry tags)", error_code=NOT_IMPLEMENTED)

    create_registered_model = update_registered_model = rename_registered_model = _unsupported
    delete_registered_model = get_registered_model = get_latest_versions = _unsupported
    set_registered_model_tag = delete_registered_model_tag = create_model_version = _unsupported
    update_model_version = transition_model_version_stage = delete_model_version = _unsupported
    get_model_version = get_model_version_download_uri = set_model_version_tag = _unsupported
    delete_model_version_tag = set_registered_model_alias = delete_registered_model_alias = _unsupported
    get_model_version_by_alias = _unsupported
