"""Large artifacts through a remote store, `artifacts ls/get`, `gc`, and credential-like files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

import gitexp
from tests.helpers import git
from tests.sync_helpers import clone, gx, inside, make_run

# Real processes, servers and remotes: minutes on a loaded machine, so outside the README's
# 90-second selection; .ci/run runs them with -m "slow or interop".
pytestmark = pytest.mark.slow

BIG = os.urandom(3000)  # over the 1000-byte threshold set below
SHA = hashlib.sha256(BIG).hexdigest()


@pytest.fixture
def team(tmp_path: Path, repo: Path) -> tuple[Path, Path, Path]:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    (repo / ".gitexp.yaml").write_text("artifact_threshold: 1000\n")
    git(repo, "add", ".gitexp.yaml")
    git(repo, "commit", "-q", "-m", "settings")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    return origin, repo, tmp_path


def test_push_without_a_store_fails_before_sending_and_names_the_artifact(team) -> None:
    origin, a, _tmp = team
    run_id = make_run(a, "heavy", artifact=BIG)
    out = gx(a, "push")
    assert out.returncode == 1
    assert f"model/weights.bin of run {run_id}" in out.stderr and "nothing was sent" in out.stderr
    assert "gitexp store set origin" in out.stderr and "--no-artifacts" in out.stderr
    assert git(origin, "for-each-ref", "refs/gitexp/") == ""
    records_only = gx(a, "push", "--no-artifacts")
    assert records_only.returncode == 0, records_only.stderr
    assert git(origin, "for-each-ref", "refs/gitexp/") != ""


def test_artifacts_travel_through_a_directory_store_verified(team) -> None:
    _origin, a, tmp = team
    store = tmp / "store"
    store.mkdir()
    run_id = make_run(a, "heavy", artifact=BIG)
    assert gx(a, "store", "set", "origin", f"file://{store}").returncode == 0
    assert "remote_stores" in (a / ".gitexp.yaml").read_text()
    git(a, "commit", "-q", "-am", "store")
    git(a, "push", "-q", "origin", "main")
    pushed = gx(a, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert "1 artifact(s)" in pushed.stderr
    assert (store / SHA[:2] / SHA[2:]).read_bytes() == BIG
    again = gx(a, "push")
    assert "up to date" in again.stderr

    b = clone(_origin, tmp / "b")
    assert gx(b, "pull").returncode == 0
    listed = gx(b, "artifacts", "ls", run_id)
    assert "model" in listed.stdout and "remote" in listed.stdout, listed.stdout
    got = gx(b, "artifacts", "get", run_id, "-o", str(tmp / "out"))
    assert got.returncode == 0, got.stderr
    assert (tmp / "out" / "model" / "weights.bin").read_bytes() == BIG
    # The Python API with MLflow's names.
    with inside(b):
        path = gitexp.artifacts.download_artifacts(run_id=run_id, artifact_path="model/weights.bin",
                                                   dst_path=str(tmp / "py"))
        assert Path(path).read_bytes() == BIG
        client_path = gitexp.artifacts.GitexpClient().download_artifacts(run_id, "model/weights.bin", str(tmp / "cl"))
        assert Path(client_path).read_bytes() == BIG
    # A corrupted remote object is an error and leaves nothing behind.
    obj = store / SHA[:2] / SHA[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered" + BIG[8:])
    bad = gx(b, "artifacts", "get", run_id, "-o", str(tmp / "bad"))
    assert bad.returncode == 1 and "hash mismatch" in bad.stderr
    assert not any(p.is_file() for p in (tmp / "bad").rglob("*"))
    # pull --artifacts fills the local store (from a good copy)
    obj.write_bytes(BIG)
    assert gx(b, "pull", "--artifacts").returncode == 0
    assert (b / ".git" / "gitexp" / "objects" / SHA[:2] / SHA[2:]).read_bytes() == BIG


def test_resumed_upload_completes_and_partial_never_counts(tmp_path: Path) -> None:
    from gitexp.store.remotestore import DirStore

    src = tmp_path / "src.bin"
    src.write_bytes(BIG)
    store = DirStore(tmp_path / "store", str(tmp_path / "store"))
    (tmp_path / "store").mkdir()
    partial = tmp_path / "store" / SHA[:2] / (SHA[2:] + ".partial")
    partial.parent.mkdir()
    partial.write_bytes(BIG[:1000])
    assert not store.has(SHA)
    assert store.upload(src, SHA) == len(BIG) - 1000  # resumed from byte 1000
    assert store.has(SHA) and not partial.exists()


def test_artifact_paths_never_escape_the_output_folder(tmp_path: Path) -> None:
    from gitexp.errors import GitexpError
    from gitexp.services.sync.artifacts import safe_target

    for bad in ("../x", "a/../../x", "/etc/passwd", "a/.git/config", "", "a//b"):
        with pytest.raises(GitexpError):
            safe_target(tmp_path, bad)
    assert safe_target(tmp_path, "a/b.txt") == (tmp_path / "a" / "b.txt").resolve()


def test_gc_removes_only_old_unreachable_objects(team) -> None:
    _origin, a, _tmp = team
    make_run(a, "kept", artifact=BIG)
    objects = a / ".git" / "gitexp" / "objects"
    orphan_old, orphan_new = "a" * 64, "b" * 64
    for sha in (orphan_old, orphan_new):
        (objects / sha[:2]).mkdir(parents=True, exist_ok=True)
        (objects / sha[:2] / sha[2:]).write_bytes(b"x")
    old = time.time() - 30 * 86400
    os.utime(objects / orphan_old[:2] / orphan_old[2:], (old, old))
    os.utime(objects / SHA[:2] / SHA[2:], (old, old))
    dry = gx(a, "gc", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.split() == [orphan_old]
    assert (objects / orphan_old[:2] / orphan_old[2:]).exists()
    done = gx(a, "gc")
    assert done.stdout.split() == [orphan_old]
    assert not (objects / orphan_old[:2] / orphan_old[2:]).exists()
    assert (objects / orphan_new[:2] / orphan_new[2:]).exists()  # younger than the grace period
    assert (objects / SHA[:2] / SHA[2:]).exists()  # reachable from a run


def test_gc_keeps_what_only_a_registry_tag_reaches(team) -> None:
    """The roots are every ref: a registered version keeps its bytes after its run ref is gone."""
    _origin, a, _tmp = team
    run_id = make_run(a, "registered", artifact=BIG)
    assert gx(a, "models", "register", "churn", run_id).returncode == 0
    git(a, "update-ref", "-d", f"refs/gitexp/runs/default/{run_id}")
    kept = a / ".git" / "gitexp" / "objects" / SHA[:2] / SHA[2:]
    old = time.time() - 30 * 86400
    os.utime(kept, (old, old))
    done = gx(a, "gc")
    assert done.returncode == 0 and done.stdout.split() == [], done.stderr
    assert kept.exists()


def test_credential_files_are_not_snapshotted_and_tracked_ones_need_a_yes(team) -> None:
    _origin, a, _tmp = team
    (a / ".env").write_text("TOKEN=1\n")
    (a / "server.pem").write_text("key\n")
    run_id = make_run(a, "careful")
    tree = git(a, "ls-tree", "-r", "--name-only", f"refs/gitexp/runs/default/{run_id}")
    assert ".env" not in tree.split() and "server.pem" not in tree.split()
    skipped = git(a, "show", f"refs/gitexp/runs/default/{run_id}:.gitexp/run.yaml")
    assert "looks like a credential" in skipped
    os.unlink(a / ".env")
    git(a, "add", "server.pem")
    git(a, "commit", "-q", "-m", "oops")
    make_run(a, "leaky")
    refused = gx(a, "push")
    assert refused.returncode == 1 and "server.pem" in refused.stderr and "--yes" in refused.stderr
    assert git(_origin, "for-each-ref", "refs/gitexp/") == ""
    assert gx(a, "push", "--yes").returncode == 0


def test_the_settings_secret_patterns_hold_for_a_push_through_the_python_api(team) -> None:
    from gitexp.services.session import open_session
    from gitexp.services.sync.push import PushOptions, plan_push

    _origin, a, _tmp = team
    (a / ".gitexp.yaml").write_text("snapshot:\n  secrets: ['*.token']\n")
    (a / "deploy.token").write_text("t\n")
    git(a, "add", ".gitexp.yaml", "deploy.token")
    git(a, "commit", "-q", "-m", "tracked, so snapshotted")
    run_id = make_run(a, "careful")
    with open_session(a) as s:
        plan = plan_push(s, PushOptions("origin"))
    assert plan.secrets == [(f"careful ({run_id})", "deploy.token", "*.token")]
