"""Figures for CLI start-up and the read commands: `--help`, warm `ls`, `show`, `diff` by name and by id.

Usage: python benchmarks/bench_cli.py [REPO] [--repeat 10] [--only ls --only "ls --all"]

Without REPO, makes one with 200 runs (benchmarks/gen_runs.py). Each command runs in a
fresh process with a warm cache; printed are the best and median wall time and CPU time
(user+sys of the process and its children, e.g. `git config`), and the load average, since
the machine is shared. Also checks with `python -X importtime` which commands import
dulwich or matplotlib. Nothing is written to REPO except the cache a first `ls` fills.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import gitexp_cmd, make_repo, user_env  # noqa: E402
from gen_runs import generate  # noqa: E402

# ls at 10,000 runs: 250 ms (issue 8). The filtered ls reads every match to count them: its bar is
# the filtered listing's (bench_search.py), 0.5 s.
BARS_MS = {"--help": 100, "ls": 150, "ls --all": 150, "ls filtered": 500, "show": 150, "diff by name": 150,
           "diff by id": 150}


def _cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def measure(args: list[str], repo: Path, repeat: int) -> tuple[list[float], list[float]]:
    """(walls, cpus) in seconds of `gitexp args` run `repeat` times after one warm-up."""
    run = [*gitexp_cmd(), *args]
    env = user_env()
    subprocess.run(run, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = _cpu(), time.perf_counter()
        subprocess.run(run, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return walls, cpus


def imports(args: list[str], repo: Path) -> str:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitexp", *args], cwd=repo, env=user_env(),
                          capture_output=True, text=True)
    found = [m for m in ("dulwich", "matplotlib", "tabulate") if f" {m}\n" in proc.stderr]
    return ", ".join(found) or "none of dulwich, matplotlib, tabulate"


def two_runs(repo: Path) -> list[dict]:
    out = subprocess.run([*gitexp_cmd(), "ls", "--json", "-n", "2"], cwd=repo, env=user_env(),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, nargs="?")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--only", action="append", choices=list(BARS_MS), help="measure only these (repeatable)")
    opts = parser.parse_args()
    repo = opts.repo
    if repo is None:
        repo = make_repo()
        generate(repo, runs=200, params=20, metrics=5, steps=100)
    a, b = two_runs(repo)  # also fills the cache
    cases = {"--help": ["--help"], "ls": ["ls"], "ls --all": ["ls", "--all"],
             "ls filtered": ["ls", "-f", "metrics.acc > 0.5"], "show": ["show", a["name"]],
             "diff by name": ["diff", a["name"], b["name"]], "diff by id": ["diff", a["id"], b["id"]]}
    cases = {label: args for label, args in cases.items() if not opts.only or label in opts.only}
    print(f"gitexp {' '.join(gitexp_cmd())}; repo {repo}; load {os.getloadavg()[0]:.1f} at start", flush=True)
    for label, args in cases.items():
        walls, cpus = measure(args, repo, opts.repeat)
        print(f"  {label:13s} wall best {min(walls) * 1000:4.0f} ms  median {statistics.median(walls) * 1000:4.0f}"
              f"   cpu best {min(cpus) * 1000:4.0f} ms  median {statistics.median(cpus) * 1000:4.0f}"
              f"   (bar {BARS_MS[label]} ms; load {os.getloadavg()[0]:.1f}; imports {imports(args, repo)})",
              flush=True)


if __name__ == "__main__":
    main()
