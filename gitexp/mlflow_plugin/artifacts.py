"""MLflow's artifact-repository interface for `gitexp:<repo>/@runs/<run>/artifacts[/<path>]` URIs.

Files logged to a running run become its artifacts (inline or side store, as
`gitexp.log_artifact`), journaled by whichever process logs them (`writes`); reads list
and fetch any run's artifacts, a running run's included. A logged model's files are
artifacts `models/<id>/artifacts/…` of its run, so the same URIs serve them.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from gitexp import uris
from gitexp.mlflow_plugin import writes

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


class GitexpArtifactRepository(ArtifactRepository):
    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        self.repo, self.run_id, self.base = uris.parse_artifact_uri(artifact_uri)

    def _session(self) -> Any:
        from gitexp.services.session import open_session

        return open_session(self.repo)

    def _join(self, path: str | None) -> str:
        return "/".join(p.strip("/") for p in (self.base, path or "") if p and p.strip("/"))

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        from gitexp.mlflow_plugin.store import _errors

        target = self._join(artifact_path)
        path = f"{target}/{Path(local_file).name}" if target else Path(local_file).name
        _errors(writes.log_artifact)(self._session, self.run_id, local_file, path)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        for dirpath, _dirs, files in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir)
            sub = "/".join(p for p in ((artifact_path or "").strip("/"), "" if rel == "." else rel.replace(os.sep, "/"))
                           if p)
            for name in sorted(files):
                self.log_artifact(os.path.join(dirpath, name), sub or None)

    def _run(self, s: Any) -> Any:
        from gitexp.services.catalog.listing import get_run

        return get_run(s, self.run_id)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        from gitexp.errors import GitexpError
        from gitexp.mlflow._backend import Backend

        cut = len(self.base.strip("/")) + 1 if self.base.strip("/") else 0
        try:
            found = Backend(self.repo).list_artifacts(self.run_id, self._join(path) or None)
        except GitexpError:
            return []
        return [FileInfo(f.path[cut:], f.is_dir, f.file_size) for f in found]

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        from gitexp.mlflow_plugin.store import _errors
        from gitexp.services.runfiles import read_artifact

        with self._session() as s:
            _art, data = _errors(read_artifact)(s, self._run(s), self._join(remote_file_path))
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{local_path}.gitexp-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, local_path)
