"""Pieces push, pull and the artifact commands share: remotes, stores, a run's large artifacts."""

from __future__ import annotations


from gitexp.errors import GitexpError
from gitexp.services.session import Session
from gitexp.slots import Value
from gitexp.store.sidestore import SideStore
from gitexp.store.transport import Remote, default_remote_name, find_remote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:  # records and remote stores are opened only when a run lists artifacts
    from gitexp.store.record import Artifact
    from gitexp.store.remotestore import RemoteStore
    from gitexp.store.runcommit import RecordReader

EMPTY_LISTS = (b"", b"[]\n", b"[]")


class LargeArtifact(Value):
    """A side-store artifact of a run: where it is in the run, its size and hash."""

    run_id: str
    path: str
    size: int
    sha256: str


def pick_remote(s: Session, name: str | None) -> Remote:
    return find_remote(s.db, name or default_remote_name(s.db))


def local_store(s: Session) -> SideStore:
    return SideStore(s.db.local_dir / "objects")


def store_location(s: Session, remote: str) -> str | None:
    return s.settings.remote_stores.get(remote)


def remote_store(s: Session, remote: str, required: bool = True) -> RemoteStore | None:
    """The artifact store set for `remote` in `.gitexp.yaml`."""
    location = store_location(s, remote)
    if location is None:
        if required:
            raise GitexpError(f"remote {remote} has no artifact store",
                              hint=f"set one: gitexp store set {remote} /shared/disk/path  (or s3://bucket/prefix)")
        return None
    from gitexp.store.remotestore import open_store

    return open_store(location, s.db.root)


def run_artifacts(s: Session, commit: str) -> list[Artifact]:
    from gitexp.store.runcommit import RecordReader, read_artifacts

    rec = RecordReader(s.db, commit)
    return read_artifacts(rec)


def large_artifacts(s: Session, run_id: str, commit: str, rec: RecordReader | None = None) -> list[LargeArtifact]:
    """The side-store artifacts a run commit lists (cheap when it lists none); `rec`: its reader, if open."""
    from gitexp.store.runcommit import RecordReader, read_artifacts

    rec = rec if rec is not None and rec.commit == commit else RecordReader(s.db, commit)
    data = rec.read("artifacts.yaml")
    if data is None or data.strip() in EMPTY_LISTS:
        return []
    return [LargeArtifact(run_id, a.path, a.size, a.sha256) for a in read_artifacts(rec) if not a.inline]
