"""List and download a run's artifacts: from the run tree, the local side store or a remote store.

Every byte is checked against the sha256 in `artifacts.yaml` before the file
takes its name; a mismatch is an error and leaves nothing behind. Artifact
paths come from records other people pushed: one that is absolute, has a `..`
or `.git` segment, or would land outside the destination folder is refused.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gitexp.errors import GitexpError
from gitexp.services.catalog.listing import resolve
from gitexp.services.session import Session
from gitexp.services.sync.common import local_store, remote_store, run_artifacts
from gitexp.store.atomic import write_atomic
from gitexp.store.record import Artifact
from gitexp.store.remotestore import RemoteStore
from gitexp.store.transport import default_remote_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Literal


@dataclass
class ArtifactRow:
    path: str
    size: int
    sha256: str
    where: str  # "run" (inline), "local", "remote", "missing"


def list_artifacts(s: Session, run: str, remote: str | None = None) -> list[ArtifactRow]:
    """Every artifact of a run and where its bytes are now."""
    _ref, commit = resolve(s, run)
    name = remote or default_remote_name(s.db)
    store: RemoteStore | Literal[False] | None = None  # False: no store for this remote
    local = local_store(s)
    rows = []
    for art in run_artifacts(s, commit):
        if art.inline:
            where = "run"
        elif local.has(art.sha256):
            where = "local"
        else:
            if store is None:
                store = remote_store(s, name, required=False) or False
            where = "remote" if store and store.has(art.sha256) else "missing"
        rows.append(ArtifactRow(art.path, art.size, art.sha256, where))
    return sorted(rows, key=lambda r: r.path)


def safe_target(dest: Path, path: str) -> Path:
    """`dest/path`, refusing any path that could escape `dest`."""
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or "\\" in path or any(p in ("..", ".", "") for p in path.split("/")) \
            or any(p.lower() == ".git" for p in parts):
        raise GitexpError(f"artifact path {path!r} is not a safe relative path; refused")
    target = (dest / Path(*parts)).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise GitexpError(f"artifact path {path!r} would be written outside {dest}; refused")
    return target


def _select(arts: list[Artifact], paths: tuple[str, ...]) -> list[Artifact]:
    if not paths:
        return arts
    out = []
    for wanted in paths:
        w = wanted.strip("/")
        hits = [a for a in arts if a.path == w or a.path.startswith(w + "/")]
        if not hits:
            raise GitexpError(f"the run has no artifact {wanted!r}", hint="list them: gitexp artifacts ls RUN")
        out += [a for a in hits if a not in out]
    return out


def download(s: Session, run: str, paths: tuple[str, ...] = (), dest: str | os.PathLike[str] = ".",
             remote: str | None = None) -> list[Path]:
    """Write the run's artifacts (all, or those at/under `paths`) into `dest`, verified."""
    _ref, commit = resolve(s, run)
    out_dir = Path(dest)
    chosen = _select(run_artifacts(s, commit), paths)
    targets = [(a, safe_target(out_dir, a.path)) for a in chosen]  # all checked before any is written
    written = []
    for art, target in targets:
        _fetch_one(s, art, target, remote)
        written.append(target)
    return written


def _fetch_one(s: Session, art: Artifact, target: Path, remote: str | None) -> None:
    if art.inline and art.blob:
        _write_verified(s.db.read_blob(art.blob), art, target)
        return
    local = local_store(s)
    if local.has(art.sha256):
        _write_verified(local.path_of(art.sha256).read_bytes(), art, target)
        return
    name = remote or default_remote_name(s.db)
    store = remote_store(s, name, required=False)
    if store is None:
        raise GitexpError(f"artifact {art.path} is not in the local store and remote {name} has no artifact store",
                          hint=f"gitexp store set {name} LOCATION, or ask for the store's location")
    store.download(art.sha256, target)


def _write_verified(data: bytes, art: Artifact, target: Path) -> None:
    if art.sha256 and hashlib.sha256(data).hexdigest() != art.sha256:
        raise GitexpError(f"artifact {art.path} does not match its sha256; nothing was written")
    write_atomic(target, data, prefix=".gitexp-dl-")
