"""Download artifacts with MLflow's names: `gitexp.artifacts.download_artifacts(...)`.

    gitexp.artifacts.download_artifacts(run_id="brisk-otter", artifact_path="model", dst_path="out")
    gitexp.artifacts.download_artifacts(artifact_uri="runs:/brisk-otter/model/weights.pt")
    GitexpClient().download_artifacts("brisk-otter", "model", "out")
"""

from __future__ import annotations

import os
import tempfile

from gitexp.errors import GitexpError


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None, dst_path: str | None = None) -> str:
    """Download a run's artifact (a file or a folder) and return the local path, as MLflow does.

    Give either `artifact_uri` (`runs:/<run>/<path>`) or `run_id` with an optional
    `artifact_path`. Without `dst_path` a new temporary folder is used.
    """
    from gitexp import api
    from gitexp.services.session import open_session
    from gitexp.services.sync.artifacts import download

    if artifact_uri is not None:
        if run_id is not None or not artifact_uri.startswith("runs:/"):
            raise GitexpError("give artifact_uri='runs:/<run>/<path>' alone, or run_id and artifact_path")
        run_id, _, artifact_path = artifact_uri[len("runs:/"):].partition("/")
    if not run_id:
        raise GitexpError("download_artifacts needs run_id or artifact_uri")
    dest = dst_path if dst_path is not None else tempfile.mkdtemp(prefix="gitexp-artifacts-")
    with open_session(api._repo_path or ".") as s:
        download(s, run_id, (artifact_path,) if artifact_path else (), dest)
    return os.path.join(dest, artifact_path) if artifact_path else dest


class GitexpClient:
    """The client form of MLflow's `MlflowClient.download_artifacts(run_id, path, dst_path)`."""

    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | None = None) -> str:
        return download_artifacts(run_id=run_id, artifact_path=path or None, dst_path=dst_path)
