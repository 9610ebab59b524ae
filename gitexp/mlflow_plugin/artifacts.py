"""MLflow's artifact-repository interface for `gitexp:<repo>/@runs/<run>/artifacts[/<path>]` URIs.

Files logged to a run this process is running become the run's artifacts (inline or
side store, as `gitexp.log_artifact`); reads list and fetch any run's artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import NOT_IMPLEMENTED
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from gitexp import uris


class GitexpArtifactRepository(ArtifactRepository):
    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        self.repo, self.run_id, self.base = uris.parse_artifact_uri(artifact_uri)

    def _client(self) -> Any:
        from gitexp.mlflow.client import MlflowClient

        return MlflowClient(tracking_uri=uris.tracking_uri(self.repo))

    def _join(self, path: str | None) -> str:
        return "/".join(p.strip("/") for p in (self.base, path or "") if p and p.strip("/"))

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        from gitexp.mlflow_plugin.store import _owned

        active = _owned.get(self.run_id)
        if active is None:
            raise MlflowException(f"logging artifacts to run {self.run_id}, which this process is not running, "
                                  "is not supported by the gitexp store", error_code=NOT_IMPLEMENTED)
        target = self._join(artifact_path)
        active.log_artifact_file(local_file, f"{target}/{Path(local_file).name}" if target else Path(local_file).name)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        for dirpath, _dirs, files in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir)
            sub = "/".join(p for p in ((artifact_path or "").strip("/"), "" if rel == "." else rel.replace(os.sep, "/"))
                           if p)
            for name in sorted(files):
                self.log_artifact(os.path.join(dirpath, name), sub or None)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        prefix = self._join(path)
        cut = len(self.base.strip("/")) + 1 if self.base.strip("/") else 0
        try:
            found = self._client().list_artifacts(self.run_id, prefix or None)
        except Exception:
            return []
        return [FileInfo(f.path[cut:], f.is_dir, f.file_size) for f in found]

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="gitexp-dl-")
        try:
            got = self._client().download_artifacts(self.run_id, self._join(remote_file_path), tmp)
            Path(local_path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(got, local_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
