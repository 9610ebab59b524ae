"""Figures for CLI start-up: `gitexp --help`, and `gitexp ls` over 100 runs.

Usage: python benchmarks/bench_cli.py

Also checks with `python -X importtime` that neither path imports matplotlib.
"""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _common import gitexp_cmd, make_repo, wall  # noqa: E402
from gen_runs import generate  # noqa: E402


def imports_matplotlib(args: list[str], cwd: str) -> bool:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitexp", *args], cwd=cwd,
                          capture_output=True, text=True)
    return "matplotlib" in proc.stderr


def main() -> None:
    repo = make_repo()
    generate(repo, runs=100, params=20, metrics=5, steps=100)
    cmd = gitexp_cmd()
    subprocess.run(cmd + ["ls"], cwd=repo, check=True, stdout=subprocess.DEVNULL)  # builds the cache
    helps = wall(cmd + ["--help"], repo, repeat=10)
    ls = wall(cmd + ["ls", "--all"], repo, repeat=10)
    print(f"gitexp --help:              {helps:.3f} s  (bar: <= 0.3 s); imports matplotlib: "
          f"{imports_matplotlib(['--help'], str(repo))}")
    print(f"gitexp ls --all, 100 runs:  {ls:.3f} s  (bar: <= 0.6 s); imports matplotlib: "
          f"{imports_matplotlib(['ls', '--all'], str(repo))}")


if __name__ == "__main__":
    main()
