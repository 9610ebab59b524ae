"""`gitexp:` URIs: the tracking URI of a repository and the artifact URIs of its runs.

- tracking URI: ``gitexp:<absolute path of the repository's working tree or git dir>``,
  e.g. ``gitexp:/home/ann/churn``; ``gitexp:`` alone, ``gitexp:.`` and relative paths
  mean a path from the current folder; ``gitexp://`` + an absolute path is also read.
- run artifact URI: ``<tracking URI>/@runs/<run-id>/artifacts`` and, for one artifact,
  ``…/artifacts/<artifact path>``. ``@`` is never part of an artifact path (keys do not
  allow it), so the last ``/@runs/`` always separates repository and run.
- experiment artifact location: ``<tracking URI>/@experiments/<experiment-id>``.

A later MLflow plugin registers the scheme ``gitexp`` with exactly these shapes.
"""

from __future__ import annotations

import os
import re

SCHEME = "gitexp"
_ARTIFACT = re.compile(r"(?P<repo>.*)/@runs/(?P<run>[^/]+)/artifacts(?:/(?P<path>.*))?\Z", re.DOTALL)


def is_gitexp_uri(uri: object) -> bool:
    return isinstance(uri, str) and uri.startswith(SCHEME + ":")


def tracking_uri(repo_path: str | os.PathLike[str]) -> str:
    return f"{SCHEME}:{os.path.abspath(repo_path)}"


def repo_path_of(uri: str) -> str:
    """The repository path a tracking URI names (relative paths from the current folder)."""
    if not is_gitexp_uri(uri):
        raise ValueError(f"not a {SCHEME}: URI: {uri!r}")
    path = uri[len(SCHEME) + 1:]
    if path.startswith("//"):
        path = path[2:]
        if path.startswith("localhost/"):
            path = path[len("localhost"):]
    return path or "."


def run_artifact_uri(repo_path: str | os.PathLike[str], run_id: str, artifact_path: str | None = None) -> str:
    base = f"{tracking_uri(repo_path)}/@runs/{run_id}/artifacts"
    return f"{base}/{artifact_path.strip('/')}" if artifact_path else base


def experiment_artifact_location(repo_path: str | os.PathLike[str], experiment_id: str) -> str:
    return f"{tracking_uri(repo_path)}/@experiments/{experiment_id}"


def parse_artifact_uri(uri: str) -> tuple[str, str, str]:
    """(repository path, run id, artifact path or "") of a run artifact URI."""
    m = _ARTIFACT.match(repo_path_of(uri))
    if m is None:
        raise ValueError(f"not a gitexp run artifact URI: {uri!r}")
    return m.group("repo") or "/", m.group("run"), m.group("path") or ""
