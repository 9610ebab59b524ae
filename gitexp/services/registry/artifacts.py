"""The model artifact of a version: which files it is, their digest, and fetching them verified.

A model artifact is one artifact file of the run, or a folder of them (an MLflow
model directory). Its digest is the file's sha256, or for a folder the sha256 of
its sorted `path NUL sha256 LF` lines, so one value in the register tag pins the
whole model. Files come from the run tree (inline), the local side store, or the
remote's artifact store (copied into the local store first, verified), and every
byte is hashed before it is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitexp.errors import GitexpError
from gitexp.store.atomic import write_atomic
from gitexp.store.record import Artifact
from gitexp.store.remotestore import RemoteStore
from gitexp.store.repo import GitDB
from gitexp.store.runcommit import RecordReader, read_artifacts
from gitexp.store.sidestore import SideStore


class ArtifactMismatch(GitexpError):
    """A fetched file does not match the hash recorded for it."""


@dataclass
class Fetched:
    """Where a model (or run artifact) was written, and what it was."""

    path: Path
    files: int
    sha256: str
    source: str  # artifact path inside the run


def select(arts: list[Artifact], path: str) -> list[tuple[str, Artifact]]:
    """The artifacts a path names: itself (a file) or everything below it (a folder)."""
    path = path.strip("/")
    exact = [a for a in arts if a.path == path]
    if exact:
        return [(Path(path).name, exact[0])]
    prefix = path + "/" if path else ""
    return sorted(((a.path[len(prefix):], a) for a in arts if a.path.startswith(prefix)), key=lambda x: x[0])


def artifact_digest(arts: list[Artifact], path: str) -> tuple[str, str] | None:
    """(sha256, "file" | "folder") of the artifact at `path`, or None if there is none."""
    files = select(arts, path)
    if not files:
        return None
    if len(files) == 1 and files[0][1].path == path.strip("/"):
        return files[0][1].sha256, "file"
    return folder_digest([(rel, a.sha256) for rel, a in files]), "folder"


def folder_digest(files: list[tuple[str, str]]) -> str:
    lines = "".join(f"{rel}\0{sha}\n" for rel, sha in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def run_artifacts(db: GitDB, commit: str) -> list[Artifact]:
    return read_artifacts(RecordReader(db, commit))


def fetch(db: GitDB, commit: str, path: str, dest: Path, expect: str | None = None,
          remote: Callable[[], RemoteStore | None] | None = None) -> Fetched:
    """Write the artifact `path` of the run commit to `dest` (a file, or a folder for a folder).

    `expect` is the digest recorded at registration: a model whose bytes differ
    is refused and nothing is left at `dest`. `remote` gives the remote artifact
    store (asked only when a file is in neither the run nor the local store).
    """
    arts = run_artifacts(db, commit)
    files = select(arts, path)
    if not files:
        raise GitexpError(f"the run at {commit[:12]} has no artifact {path!r}",
                          hint="see its artifacts: gitexp show " + commit[:12])
    single = len(files) == 1 and files[0][1].path == path.strip("/")
    digest = files[0][1].sha256 if single else folder_digest([(r, a.sha256) for r, a in files])
    if expect and digest != expect:
        raise ArtifactMismatch(f"artifact {path!r} of {commit[:12]} has sha256 {digest[:12]}, "
                               f"but {expect[:12]} was registered", hint="the run was changed after registration")
    store = SideStore(db.local_dir / "objects")
    targets = [(dest, files[0][1])] if single else [(dest / rel, a) for rel, a in files]
    for _target, art in targets:  # bytes missing here come from the remote store first: all or nothing
        if not (art.inline and art.blob) and not store.has(art.sha256) and remote is not None:
            _from_remote(store, art, remote)
    for target, art in targets:
        data = db.read_blob(art.blob) if art.inline and art.blob else store.open_verified(art.sha256)
        if hashlib.sha256(data).hexdigest() != art.sha256:
            raise ArtifactMismatch(f"artifact {art.path!r} does not match its recorded sha256",
                                   hint="the repository or the side store is damaged")
        write_atomic(target, data)
    return Fetched(dest, len(targets), digest, path)


def _from_remote(store: SideStore, art: Artifact, remote: Callable[[], RemoteStore | None]) -> None:
    """Copy one object from the remote store into the local one (hash checked before it is named)."""
    source = remote()
    if source is None:
        raise GitexpError(f"artifact {art.path!r} is not in the local store and the remote has no artifact store",
                          hint="set the team's store: gitexp store set REMOTE LOCATION")
    source.download(art.sha256, store.path_of(art.sha256))

