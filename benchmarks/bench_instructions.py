"""Instructions executed by warm read commands (`--help`, `ls`, `diff` by name and by id): a figure
that does not depend on the load of a shared machine, for comparing two versions.

Usage: python benchmarks/bench_instructions.py REPO [REPO ...]

Runs each command once to warm the cache, then once under valgrind's callgrind and prints
its instruction count (the Python process only: a `git config` it starts is not counted).
Compare versions by running it with PYTHONPATH=<another checkout>, each on its own copy of
REPO (two cache schemas would rebuild each other's file). Needs valgrind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import user_env  # noqa: E402


def instructions(args: list[str], cwd: Path) -> int:
    """Instructions callgrind counts for `python -m gitexp ARGS` in `cwd` (after one warm-up run)."""
    command = [sys.executable, "-m", "gitexp", *args]
    subprocess.run(command, cwd=cwd, env=user_env(), capture_output=True, check=True)
    grind = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command], cwd=cwd,
                           env=user_env(), capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", grind.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind: {grind.stderr[-300:]}")
    return int(found.group(1).replace(",", ""))


def two_runs(repo: Path) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "gitexp", "ls", "--all", "--json", "-n", "2"], cwd=repo,
                         env=user_env(), capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", type=Path, nargs="+")
    opts = parser.parse_args()
    print(f"--help: {instructions(['--help'], opts.repos[0]):,}")
    for repo in opts.repos:
        a, b = two_runs(repo)
        runs = len(subprocess.run(["git", "for-each-ref", "refs/gitexp/runs/"], cwd=repo, capture_output=True,
                                  text=True, check=True).stdout.splitlines())
        for label, args in {"ls": ["ls"], "diff by name": ["diff", a["name"], b["name"]],
                            "diff by id": ["diff", a["id"], b["id"]]}.items():
            print(f"{runs:6d} runs  {label:13s} {instructions(args, repo):>13,}", flush=True)


if __name__ == "__main__":
    main()
