"""gitexp as an MLflow plugin: `MLFLOW_TRACKING_URI=gitexp:` (or `gitexp:/path/to/repo`).

Registered by the `mlflow` extra (pyproject entry points, scheme `gitexp`):

| group | object |
|---|---|
| `mlflow.tracking_store` | `tracking_store` (`store.GitexpTrackingStore`) |
| `mlflow.artifact_repository` | `artifacts.GitexpArtifactRepository` |
| `mlflow.model_registry_store` | `registry_store` (`registry.GitexpRegistryStore`) |

Nothing here is imported by `gitexp` itself: MLflow imports it (and itself) only when
a `gitexp:` URI is used.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any



def tracking_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    from gitexp.mlflow_plugin.store import GitexpTrackingStore

    return GitexpTrackingStore(store_uri, artifact_uri)


def registry_store(store_uri: str | None = None, tracking_uri: str | None = None) -> Any:
    from gitexp.mlflow_plugin.registry import GitexpRegistryStore

    return GitexpRegistryStore(store_uri, tracking_uri)


def __getattr__(name: str) -> Any:
    if name == "GitexpArtifactRepository":
        from gitexp.mlflow_plugin.artifacts import GitexpArtifactRepository

        return GitexpArtifactRepository
    raise AttributeError(name)
