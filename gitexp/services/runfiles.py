"""The files of one run as a viewer needs them: an artifact's bytes, the output log, code changes.

Used by the web UI (and its static export); the CLI's `show` lists the same
things. Artifact paths are looked up in the run's `artifacts.yaml` only, so a
path that is not an artifact of the run (`../x`, `/etc/passwd`, a record file)
is never read.
"""

from __future__ import annotations

from gitexp.errors import GitexpError
from gitexp.model import Run
from gitexp.services.compare import ADDED, FileDiff, code_diff, code_files
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir
from gitexp.store.record import Artifact
from gitexp.store.runcommit import RecordReader
from gitexp.store.sidestore import SideStore


class ArtifactNotFound(GitexpError):
    """The run has no artifact at that path."""


def find_artifact(run: Run, path: str) -> Artifact:
    """The artifact of `run` whose path is exactly `path` (no normalisation, no escapes)."""
    for artifact in run.artifacts:
        if artifact.path == path:
            return artifact
    raise ArtifactNotFound(f"run {run.name} has no artifact {path!r}",
                           hint="its artifacts are listed on the run page")


def read_artifact(s: Session, run: Run, path: str) -> tuple[Artifact, bytes]:
    """(the artifact, its bytes): from the run's tree when inline, else from the side store."""
    artifact = find_artifact(run, path)
    if artifact.inline and artifact.blob:
        return artifact, s.db.read_blob(artifact.blob)
    if artifact.inline:  # logged by a run still running here: staged in its folder until it ends
        return artifact, ActiveDir.of(s.db.local_dir, run.id).staged.open_verified(artifact.sha256)
    store = SideStore(s.db.local_dir / "objects")
    return artifact, store.open_verified(artifact.sha256)


def read_output_log(s: Session, run: Run) -> bytes | None:
    """The run's `output.log` (stdout and stderr of `gitexp run`), or None."""
    return RecordReader(s.db, run.commit).read("output.log")


def code_changes(s: Session, run: Run, text: bool = True) -> tuple[list[FileDiff], int, str | None]:
    """(files of the run's code snapshot that differ from its baseline, unchanged count, baseline).

    A run made in a repository without commits has no baseline: every file is added.
    """
    tree, _parents = s.db.commit_info(run.commit)
    baseline = run.info.baseline or None
    if baseline and not s.db.has_object(baseline):
        baseline = None
    if baseline is None:  # nothing to compare with (and a viewer writes no empty tree)
        added = [FileDiff(path, ADDED, None, entry.mode) for path, entry in sorted(code_files(s.db, tree).items())]
        return added, 0, None
    base_tree, _ = s.db.commit_info(baseline)
    files, same = code_diff(s.db, base_tree, tree, text)
    return files, same, baseline
