"""Shared helpers for the benchmark scripts (run by hand, they print figures)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def make_repo(parent: str | None = None) -> Path:
    """A fresh git repository with one committed file."""
    path = Path(tempfile.mkdtemp(prefix="gitexp-bench-", dir=parent))
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    (path / "train.py").write_text("print('train')\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)
    return path


def median_per_call(fn: Callable[[int], None], calls: int, batch: int = 1000) -> float:
    """Median seconds per call, timing batches of `batch` calls (`fn(n)` makes n calls)."""
    times = []
    for _ in range(calls // batch):
        start = time.perf_counter()
        fn(batch)
        times.append((time.perf_counter() - start) / batch)
    return statistics.median(times)


def user_env() -> dict[str, str]:
    """This environment as a user's shell has it: bytecode caching on.

    The sandbox sets PYTHONDONTWRITEBYTECODE, which makes every command
    recompile gitexp (~0.1 s) where an installed package would not.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], cwd: Path, repeat: int = 5, env: dict | None = None) -> float:
    """Median wall time of a command, in seconds (after one warm-up run)."""
    env = env or user_env()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gitexp_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("gitexp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gitexp"]
