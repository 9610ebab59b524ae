"""Time `gitexp push` / `pull` against plain `git push` / `git fetch` of the same refs.

Usage: python benchmarks/bench_sync.py [--small 200] [--large 1000] [--big-artifacts 10] [--repeat 5]

Prints, for whole commands as fresh processes (Python start-up included), the best wall
time and the best CPU time (user + sys of the command and its children: the git it
runs) over `--repeat` tries, beside the real git command moving the same refs, and the
load average: on a shared machine CPU time is the steadier figure.
  - N runs pushed to a new local bare remote, and pulled into a fresh clone;
  - M runs, K of them with a 2 MiB side-store artifact: first push, and a no-op push.
Targets (issue 10): 200 runs push <= 0.5 s, pull <= 0.5 s; 1,000 runs first push <= 3x
`git push`; no-op push <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import GIT_ENV, gitexp_cmd, make_repo, user_env  # noqa: E402
from gen_runs import generate  # noqa: E402

ENV = {**user_env(), **GIT_ENV}
SPEC = "refs/gitexp/runs/*:refs/gitexp/runs/*"


def timed(cwd: Path, *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one command; CPU is user + sys of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(args), cwd=cwd, env=ENV, capture_output=True, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return took, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def best(repeat: int, prepare: Callable[[int], Path], *args: str) -> tuple[float, float]:
    """Best wall and best CPU of `repeat` tries; `prepare(i)` sets up try i (untimed), returns its folder."""
    walls, cpus = [], []
    for i in range(repeat):
        wall, cpu = timed(prepare(i), *args)
        walls.append(wall)
        cpus.append(cpu)
    return min(walls), min(cpus)


def gx(*args: str) -> list[str]:
    return [*gitexp_cmd(), *args]


def run(cwd: Path, *args: str) -> None:
    subprocess.run(list(args), cwd=cwd, check=True, env=ENV, capture_output=True)


def bare(path: Path, src: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    run(src, "git", "init", "-q", "--bare", "-b", "main", str(path))
    run(src, "git", "push", "-q", str(path), "main")
    return path


def fresh_remote(repo: Path, remote: str, path: Path) -> Path:
    """Point `remote` at a new bare repository holding only main; forget what was pushed before."""
    bare(path, repo)
    run(repo, "git", "remote", "set-url", remote, str(path))
    lines = subprocess.run(["git", "for-each-ref", "--format=delete %(refname)", f"refs/gitexp/remotes/{remote}/"],
                           cwd=repo, capture_output=True, text=True, check=True).stdout
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, input=lines, text=True, check=True)
    return repo


def add_big_runs(repo: Path, count: int) -> None:
    code = ("import os, gitexp\n"
            "gitexp.set_repository('.')\n"
            f"for i in range({count}):\n"
            "    with gitexp.start_run(run_name=f'big-{i}'):\n"
            "        open('weights.bin', 'wb').write(os.urandom(2 << 20))\n"
            "        gitexp.log_artifact('weights.bin', 'model')\n"
            "os.unlink('weights.bin')\n")
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, env=ENV, capture_output=True)


def line(what: str, ours: tuple[float, float], theirs: tuple[float, float], target: str) -> None:
    print(f"{what:<44} gitexp {ours[0]:.2f} s wall, {ours[1]:.2f} s CPU | git {theirs[0]:.2f} s wall, "
          f"{theirs[1]:.2f} s CPU   ({target}; load {os.getloadavg()[0]:.1f})", flush=True)


def setup(tmp: Path, runs: int, big: int) -> Path:
    repo = make_repo(str(tmp))
    generate(repo, runs - big, params=10, metrics=3, steps=20)
    if big:
        add_big_runs(repo, big)
    run(repo, "git", "remote", "add", "origin", str(tmp / "none"))
    run(repo, "git", "remote", "add", "plain", str(tmp / "none"))
    return repo


def small(tmp: Path, runs: int, repeat: int) -> None:
    repo = setup(tmp, runs, 0)
    push = best(repeat, lambda i: fresh_remote(repo, "origin", tmp / f"small-{i}.git"), *gx("push", "origin"))
    git_push = best(repeat, lambda i: fresh_remote(repo, "plain", tmp / f"small-plain-{i}.git"),
                    "git", "push", "-q", "plain", SPEC)
    line(f"{runs} runs, push to a local bare remote", push, git_push, "target <= 0.5 s")

    def clone(i: int) -> Path:
        dest = tmp / f"clone-{i}"
        shutil.rmtree(dest, ignore_errors=True)
        run(tmp, "git", "clone", "-q", str(tmp / "small-0.git"), str(dest))
        return dest

    pull = best(repeat, clone, *gx("pull", "origin"))
    git_fetch = best(repeat, clone, "git", "fetch", "-q", "origin", SPEC)
    line(f"{runs} runs, pull into a fresh clone", pull, git_fetch, "target <= 0.5 s")


def large(tmp: Path, runs: int, big: int, repeat: int) -> None:
    repo = setup(tmp, runs, big)
    store = tmp / "store"

    def first(i: int) -> Path:
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir()
        return fresh_remote(repo, "origin", tmp / f"large-{i}.git")

    run(repo, *gx("store", "set", "origin", str(store)))
    push = best(repeat, first, *gx("push", "origin"))
    git_push = best(repeat, lambda i: fresh_remote(repo, "plain", tmp / f"large-plain-{i}.git"),
                    "git", "push", "-q", "plain", SPEC)
    line(f"{runs} runs ({big} with 2 MiB), first push", push, git_push,
         f"target <= 3x git push: {push[0] / git_push[0]:.1f}x wall, {push[1] / git_push[1]:.1f}x CPU; "
         f"gitexp also copies {big * 2} MiB to the store")
    noop = best(repeat, lambda i: repo, *gx("push", "origin"))
    git_noop = best(repeat, lambda i: repo, "git", "push", "-q", "plain", SPEC)
    line(f"{runs} runs, no-op push", noop, git_noop, "target <= 0.3 s")
    start = best(repeat, lambda i: repo, *gx("--version"))
    print(f"{'Python start-up, gitexp --version':<44} {start[0]:.2f} s wall, {start[1]:.2f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--big-artifacts", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitexp-bench-sync-"))
    try:
        small(tmp, args.small, args.repeat)
        large(tmp, args.large, args.big_artifacts, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
