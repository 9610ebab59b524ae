"""gitexp: a Git-native experiment tracker.

`import gitexp` is cheap: the tracking API loads on first use (PEP 562), so the
CLI can import this package without paying for dulwich.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: git hooks start here
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = [
    "GitexpError", "set_experiment", "set_repository", "start_run", "active_run", "end_run", "log_param", "log_params",
    "log_metric", "log_metrics", "set_tag", "set_tags", "delete_tag", "log_artifact", "log_artifacts",
    "log_text", "log_dict", "log_figure", "get_run", "search_runs", "flush",
    "plot_metrics", "plot_scatter", "plot_parallel", "tag_run", "note_run", "rename_run", "remove_run",
    "register_model", "assign_stage", "transition_model_version_stage", "set_registered_model_alias",
    "get_model_version", "get_model_version_by_alias", "download_artifacts",
    "last_active_run",
]
# MLflow-named calls beyond logging (gitexp/api_mlflow.py), with gitexp's types.
_API_MLFLOW = [
    "create_experiment", "get_experiment", "get_experiment_by_name", "search_experiments", "set_experiment_tag",
    "set_experiment_tags", "get_artifact_uri", "get_tracking_uri", "set_tracking_uri", "log_image", "log_table",
    "log_input",
]
__all__ += _API_MLFLOW + ["MlflowClient"]


def __dir__() -> list[str]:
    """The public API too (notebook tab completion), though it loads on first use."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name in __all__:
        if name == "GitexpError":
            from gitexp import errors as module
        elif name == "MlflowClient":
            from gitexp.mlflow import client as module  # type: ignore[no-redef]
        elif name in _API_MLFLOW:
            from gitexp import api_mlflow as module  # type: ignore[no-redef]
        else:
            from gitexp import api as module  # type: ignore[no-redef]
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in ("errors", "artifacts"):
        import importlib

        return importlib.import_module(f"gitexp.{name}")
    raise AttributeError(f"module 'gitexp' has no attribute {name!r}")
