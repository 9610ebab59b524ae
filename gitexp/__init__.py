"""gitexp: a Git-native experiment tracker.

`import gitexp` is cheap: the tracking API loads on first use (PEP 562), so the
CLI can import this package without paying for dulwich.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "GitexpError", "set_experiment", "set_repository", "start_run", "active_run", "end_run", "log_param", "log_params",
    "log_metric", "log_metrics", "set_tag", "set_tags", "delete_tag", "log_artifact", "log_artifacts",
    "log_text", "log_dict", "log_figure", "get_run", "search_runs", "flush",
    "plot_metrics", "plot_scatter", "plot_parallel", "tag_run", "note_run", "rename_run", "remove_run",
]


def __dir__() -> list[str]:
    """The public API too (notebook tab completion), though it loads on first use."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name in __all__:
        if name == "GitexpError":
            from gitexp.errors import GitexpError as value
        else:
            from gitexp import api

            value = getattr(api, name)
        globals()[name] = value
        return value
    if name in ("errors",):
        import importlib

        return importlib.import_module(f"gitexp.{name}")
    raise AttributeError(f"module 'gitexp' has no attribute {name!r}")
