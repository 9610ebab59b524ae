"""Two (or more) gitexp builds side by side on one machine: push and pull of N runs, interleaved.

Usage: python benchmarks/ab_sync.py GITEXP... [--runs 200] [--repeat 7]

GITEXP: `gitexp` executables to compare (say, main's venv and a branch's). Each try runs
every executable once, then plain `git push` / `git fetch` of the same refs, in turn, so
a load that changes while the script runs weighs on all of them alike: on a shared
machine this compares builds where `bench_sync.py`, one build at a time, cannot. Prints
best and median wall and CPU time (user + sys of the command and the git it runs) and the
load average. Push goes to a new local bare remote each try; pull into a fresh clone.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import GIT_ENV, make_repo, user_env  # noqa: E402
from gen_runs import generate  # noqa: E402

ENV = {**user_env(), **GIT_ENV}
SPEC = "refs/gitexp/runs/*:refs/gitexp/runs/*"
Timings = dict[str, list[tuple[float, float]]]  # command name: (wall, CPU) of each try


def timed(cwd: Path, args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one command, its children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return took, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True)


def fresh_remote(repo: Path, bare: Path) -> Path:
    """`origin` pointing at a new bare repository holding only main; what was pushed before forgotten."""
    shutil.rmtree(bare, ignore_errors=True)
    git(repo, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "push", "-q", str(bare), "main")
    git(repo, "remote", "set-url", "origin", str(bare))
    lines = subprocess.run(["git", "for-each-ref", "--format=delete %(refname)", "refs/gitexp/remotes/"],
                           cwd=repo, capture_output=True, text=True, check=True).stdout
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, input=lines, text=True, check=True)
    (repo / ".git/gitexp/sync-seen.json").unlink(missing_ok=True)
    return repo


def fresh_clone(source: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    git(source.parent, "clone", "-q", str(source), str(dest))
    return dest


def report(what: str, results: Timings) -> None:
    for name, got in results.items():
        walls, cpus = [w for w, _ in got], [c for _, c in got]
        print(f"{what} {name:<48} wall best {min(walls):.3f} median {statistics.median(walls):.3f} s | "
              f"CPU best {min(cpus):.3f} median {statistics.median(cpus):.3f} s", flush=True)
    print(f"  (load {os.getloadavg()[0]:.1f})", flush=True)


def race(commands: dict[str, list[str]], prepare: Callable[[], Path], repeat: int) -> Timings:
    """Each try runs every command once, in turn, in a folder `prepare` made."""
    results: Timings = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            results[name].append(timed(prepare(), cmd))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gitexp", nargs="+", help="gitexp executables to compare")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitexp-ab-sync-"))
    try:
        repo = make_repo(str(tmp))
        generate(repo, args.runs, params=10, metrics=3, steps=20)
        git(repo, "remote", "add", "origin", str(tmp / "none"))
        push = {exe: [exe, "push", "origin"] for exe in args.gitexp}
        push["git push"] = ["git", "push", "-q", "origin", SPEC]
        report("push", race(push, lambda: fresh_remote(repo, tmp / "remote.git"), args.repeat))
        pull = {exe: [exe, "pull", "origin"] for exe in args.gitexp}
        pull["git fetch"] = ["git", "fetch", "-q", "origin", SPEC]
        report("pull", race(pull, lambda: fresh_clone(tmp / "remote.git", tmp / "clone"), args.repeat))  # all runs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
