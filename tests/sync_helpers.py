"""Helpers for the sync tests: clones of one bare remote, runs made in each, a git daemon."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import gitexp
import gitexp.api as api
from tests.helpers import cli, git


def add_origin(tmp_path: Path, repo: Path) -> Path:
    """A bare `origin` in `tmp_path` holding `repo`'s main branch; its path."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    return origin


@contextlib.contextmanager
def inside(path: Path) -> Iterator[None]:
    """Make `path` the current folder and the Python API's repository for a while."""
    old_cwd, old_repo = os.getcwd(), api._repo_path
    os.chdir(path)
    api._repo_path = str(path)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        api._repo_path = old_repo


def make_run(path: Path, name: str, lr: float = 0.1, acc: float = 0.5, artifact: bytes | None = None,
             experiment: str | None = None) -> str:
    """An ended run in the repository at `path`; returns its id."""
    with inside(path), gitexp.start_run(run_name=name, experiment=experiment) as run:
        gitexp.log_param("lr", lr)
        gitexp.log_metric("acc", acc)
        if artifact is not None:
            (path / "weights.bin").write_bytes(artifact)
            gitexp.log_artifact(str(path / "weights.bin"), "model")
            (path / "weights.bin").unlink()
        return run.id


def clone(origin: Path, dest: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(dest))
    return dest


def gx(path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return cli(*args, cwd=path, env=env)


def ls_json(path: Path) -> list[dict]:
    proc = gx(path, "ls", "--all", "--json", "-n", "0")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """A real `git daemon` serving `base` on a free port (receive-pack on); yields git://… of base."""
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--enable=receive-pack", "--export-all", "--reuseaddr",
                             f"--base-path={base}", f"--port={port}", "--listen=127.0.0.1", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def has_git_daemon() -> bool:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
    return shutil.which("git") is not None and Path(exec_path, "git-daemon").exists()
