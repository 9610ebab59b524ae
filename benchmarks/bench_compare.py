"""Figures for comparing runs: `gitexp diff A B` and `gitexp plot` of long histories.

Usage: python benchmarks/bench_compare.py

- diff of two runs with 20 params and 5 metrics x 100 steps (bar: <= 0.4 s wall);
- plot of 10 runs x 10,000 steps of one metric to PNG (bar: <= 3 s wall).
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _common import gitexp_cmd, make_repo, wall  # noqa: E402
from gen_runs import generate  # noqa: E402

from gitexp.store.repo import open_repo  # noqa: E402


def run_ids(repo: str) -> list[str]:
    with open_repo(repo) as db:
        return sorted(ref.rsplit("/", 1)[-1] for ref in db.refs_under("refs/gitexp/runs/"))


def main() -> None:
    cmd = gitexp_cmd()
    small = make_repo()
    generate(small, runs=2, params=20, metrics=5, steps=100)
    a, b = run_ids(str(small))
    diff = wall(cmd + ["diff", a, b], small, repeat=7)
    print(f"gitexp diff A B (20 params, 5 metrics x 100 steps): {diff:.3f} s  (bar: <= 0.4 s)")

    big = make_repo()
    generate(big, runs=10, params=5, metrics=2, steps=10_000)
    out = os.path.join(tempfile.mkdtemp(), "plot.png")
    plot = wall(cmd + ["plot", *run_ids(str(big)), "-m", "acc", "-o", out], big, repeat=5)
    print(f"gitexp plot, 10 runs x 10,000 steps -> PNG:        {plot:.3f} s  (bar: <= 3 s)")


if __name__ == "__main__":
    main()
