"""Sync against real servers and under stress: git daemon, four concurrent pushers, kill -9, S3 (moto)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import git
from tests.sync_helpers import by_id, clone, free_port, git_daemon, gx, has_git_daemon, ls_json, make_run

pytestmark = pytest.mark.slow


@pytest.fixture
def origin(tmp_path: Path, repo: Path) -> Path:
    bare = tmp_path / "srv" / "origin.git"
    bare.parent.mkdir()
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return bare


@pytest.mark.skipif(not has_git_daemon(), reason="git daemon is not installed (git-daemon-sysvinit/git package)")
@pytest.mark.parametrize("transport", ["git", "dulwich"])
def test_push_and_pull_through_a_real_git_daemon(origin: Path, repo: Path, tmp_path: Path, transport: str) -> None:
    env = {"GITEXP_TRANSPORT": transport}
    with git_daemon(origin.parent) as base:
        git(repo, "remote", "set-url", "origin", f"{base}/origin.git")
        ids = [make_run(repo, f"d{i}", acc=i / 10) for i in range(3)]
        out = gx(repo, "push", env=env)
        assert out.returncode == 0, out.stderr
        listed = git(repo, "ls-remote", f"{base}/origin.git", "refs/gitexp/*")
        assert sorted(line.rsplit("/", 1)[-1] for line in listed.splitlines()) == sorted(ids)
        fresh = tmp_path / "fresh"
        git(tmp_path, "clone", "-q", f"{base}/origin.git", str(fresh))
        assert gx(fresh, "pull", env=env).returncode == 0
        assert by_id(ls_json(fresh)).keys() == set(ids)
        assert gx(repo, "push", env=env).stderr.count("up to date") == 1
    down = gx(repo, "push", env=env)  # the daemon is gone
    assert down.returncode == 1 and "cannot reach remote origin" in down.stderr, down.stderr


def test_four_clones_pushing_at_once_lose_nothing(origin: Path, repo: Path, tmp_path: Path) -> None:
    clones = [clone(origin, tmp_path / f"c{n}") for n in range(4)]
    made = {run for n, c in enumerate(clones) for run in (make_run(c, f"c{n}-{i}") for i in range(5))}
    procs = [subprocess.Popen([sys.executable, "-m", "gitexp", "push"], cwd=c, stderr=subprocess.PIPE, text=True)
             for c in clones]
    for proc in procs:
        proc.wait(timeout=120)
    for c in clones:  # losers of a race (none here: disjoint runs) just push again
        assert gx(c, "push").returncode == 0
    remote = git(origin, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split()
    assert {r.rsplit("/", 1)[-1] for r in remote} == made
    git(origin, "fsck", "--no-dangling")


def test_racing_edits_of_one_run_never_clobber(origin: Path, repo: Path, tmp_path: Path) -> None:
    run_id = make_run(repo, "shared")
    assert gx(repo, "push").returncode == 0
    clones = [clone(origin, tmp_path / f"e{n}") for n in range(4)]
    for n, c in enumerate(clones):
        assert gx(c, "pull").returncode == 0
        assert gx(c, "tag", run_id, f"by{n}=yes").returncode == 0
    procs = [subprocess.Popen([sys.executable, "-m", "gitexp", "push"], cwd=c, stderr=subprocess.PIPE, text=True)
             for c in clones]
    codes = [p.wait(timeout=120) for p in procs]
    assert codes.count(0) >= 1  # one wins; the others are rejected, not forced
    for c in clones:  # each loser merges and pushes again until everyone's edit is in
        for _ in range(4):
            if gx(c, "push").returncode == 0:
                break
            assert gx(c, "pull").returncode == 0
    final = clone(origin, tmp_path / "final")
    assert gx(final, "pull").returncode == 0
    tags = gx(final, "tag", run_id).stdout.split()
    assert {f"by{n}=yes" for n in range(4)} <= set(tags), tags


def test_push_and_pull_killed_half_way_complete_when_run_again(origin: Path, repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (repo / ".gitexp.yaml").write_text(f"artifact_threshold: 1000\nremote_stores:\n  origin: {store}\n")
    ids = {make_run(repo, f"k{i}", artifact=os.urandom(200_000) if i % 5 == 0 else None) for i in range(40)}
    for delay in (0.3, 0.6, 1.0):
        proc = subprocess.Popen([sys.executable, "-m", "gitexp", "push"], cwd=repo,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        git(origin, "fsck", "--no-dangling")  # the remote is consistent whatever was cut off
        for ref in git(origin, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split():
            art = git(origin, "show", f"{ref}:.gitexp/artifacts.yaml")
            for line in art.splitlines():  # every pushed run's large artifacts are already in the store
                if "sha256:" in line and "side-store" in art:
                    sha = line.split(":", 1)[1].strip()
                    assert (store / sha[:2] / sha[2:]).exists()
    assert gx(repo, "push").returncode == 0
    remote = git(origin, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split()
    assert {r.rsplit("/", 1)[-1] for r in remote} == ids
    fresh = clone(origin, tmp_path / "fresh")
    proc = subprocess.Popen([sys.executable, "-m", "gitexp", "pull"], cwd=fresh,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.4)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert gx(fresh, "pull").returncode == 0
    assert by_id(ls_json(fresh)).keys() == ids
    git(fresh, "fsck", "--no-dangling")


def _moto_missing() -> str | None:
    try:
        import moto  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        return f"needs moto[server] and s3fs (pip install 'moto[server]' s3fs): {exc}"
    return None


@pytest.fixture
def s3_server(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=0.5)
                break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.interop
@pytest.mark.skipif(_moto_missing() is not None, reason=str(_moto_missing()))
def test_artifacts_through_an_s3_store(s3_server: str, origin: Path, repo: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import s3fs

    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": s3_server, "FSSPEC_S3_ENDPOINT_URL": s3_server}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem(endpoint_url=s3_server, key="test", secret="test").mkdir("team-bucket")
    (repo / ".gitexp.yaml").write_text("artifact_threshold: 1000\n")
    data = os.urandom(5000)
    run_id = make_run(repo, "cloudy", artifact=data)
    assert gx(repo, "store", "set", "origin", "s3://team-bucket/gitexp").returncode == 0
    out = gx(repo, "push")
    assert out.returncode == 0 and "1 artifact(s)" in out.stderr, out.stderr
    (repo / ".gitexp.yaml").rename(tmp_path / "settings.yaml")
    fresh = clone(origin, tmp_path / "fresh")
    (tmp_path / "settings.yaml").rename(fresh / ".gitexp.yaml")
    assert gx(fresh, "pull").returncode == 0
    assert "remote" in gx(fresh, "artifacts", "ls", run_id).stdout
    got = gx(fresh, "artifacts", "get", run_id, "-o", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out" / "model" / "weights.bin").read_bytes() == data
