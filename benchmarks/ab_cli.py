"""Two (or more) gitexp builds side by side on the warm read commands: `ls`, `show`, `diff` by name and by id.

Usage: python benchmarks/ab_cli.py REPO GITEXP... [--repeat 15]

GITEXP: `gitexp` executables to compare (say, main's and a branch's). Each build works on
its own copy of REPO (two cache schemas would rebuild each other's index), warmed once;
then every try runs each build in turn, so a load that changes while the script runs
weighs on all of them alike (as `ab_sync.py` does for push and pull). Prints best and
median wall and CPU time (user + sys of the command and the git it runs) and the load
average. REPO itself is not written to.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import user_env  # noqa: E402


def timed(exe: str, args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([exe, *args], cwd=cwd, env=user_env(), capture_output=True, check=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cases(exe: str, repo: Path) -> dict[str, list[str]]:
    out = subprocess.run([exe, "ls", "--all", "--json", "-n", "2"], cwd=repo, env=user_env(), capture_output=True,
                         text=True, check=True).stdout
    a, b = json.loads(out)
    return {"ls": ["ls"], "ls --all": ["ls", "--all"], "show": ["show", a["name"]],
            "diff by name": ["diff", a["name"], b["name"]], "diff by id": ["diff", a["id"], b["id"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("builds", nargs="+")
    parser.add_argument("--repeat", type=int, default=15)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitexp-ab-cli-"))
    try:
        copies = {}
        for i, exe in enumerate(opts.builds):
            copies[exe] = tmp / str(i)
            shutil.copytree(opts.repo, copies[exe], symlinks=True)
        commands = cases(opts.builds[0], copies[opts.builds[0]])
        for label, args in commands.items():
            for exe in opts.builds:
                timed(exe, args, copies[exe])  # warm: the cache filled, bytecode written
            results: dict[str, tuple[list[float], list[float]]] = {exe: ([], []) for exe in opts.builds}
            for _ in range(opts.repeat):
                for exe in opts.builds:
                    wall, cpu = timed(exe, args, copies[exe])
                    results[exe][0].append(wall)
                    results[exe][1].append(cpu)
            for exe, (walls, cpus) in results.items():
                print(f"{label:<13} {exe:<40} wall best {min(walls) * 1000:4.0f} median "
                      f"{statistics.median(walls) * 1000:4.0f} ms | CPU best {min(cpus) * 1000:4.0f} median "
                      f"{statistics.median(cpus) * 1000:4.0f} ms  (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
