"""`gitexp ls --all` with no cache (a fresh clone): wall, CPU, peak memory; versions interleaved.

Usage:
    python benchmarks/bench_coldls.py REPO [--clone] [--repeat 5] [--compare /path/to/other/checkout]

REPO is not written to except for its cache file (use a copy). Each repeat deletes
the cache and lists every run (`ls --all --limit 20`), as after a clone. Prints,
per version, the best and median of: wall time, CPU time (user+sys of gitexp and
its git and worker processes), peak RSS of that process tree (pages of packs that
several processes map count once per process) and its private (anonymous) part,
and the load average when the repeat started. --compare runs the gitexp found in
another checkout (PYTHONPATH) in turn with this one, for a before/after table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from bench_scaling import drop_cache, fresh_clone, peak_rss_mb  # noqa: E402

import gitexp  # noqa: E402

ARGS = ["ls", "--all", "--limit", "20"]


def one(repo: Path, checkout: str | None) -> tuple[float, float, float, float, float]:
    """(wall, CPU, peak RSS MB, private MB, load) of one cold listing with the gitexp of `checkout`."""
    load = os.getloadavg()[0]
    drop_cache(repo)
    old = os.environ.get("PYTHONPATH")
    if checkout:
        os.environ["PYTHONPATH"] = checkout
    try:
        wall, cpu, peak, anon = peak_rss_mb(ARGS, repo)
    finally:
        if checkout:
            os.environ.pop("PYTHONPATH") if old is None else os.environ.update(PYTHONPATH=old)
    return wall, cpu, peak, anon, load


def show(label: str, rows: list[tuple[float, float, float, float, float]]) -> None:
    cols = list(zip(*rows))
    best = [min(c) for c in cols[:4]]
    med = [statistics.median(c) for c in cols[:4]]
    print(f"  {label:28s} best {best[0]:5.2f} s wall {best[1]:5.2f} s cpu {best[2]:4.0f} MB RSS ({best[3]:.0f} private)"
          f" | median {med[0]:5.2f} s wall {med[1]:5.2f} s cpu {med[2]:4.0f} MB"
          f" | load {min(cols[4]):.1f}-{max(cols[4]):.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--clone", action="store_true", help="measure in a fresh clone of REPO")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", help="another checkout of gitexp, run in turn with this one")
    args = parser.parse_args()
    repo = fresh_clone(args.repo, None) if args.clone else args.repo
    runs = subprocess.run(["git", "for-each-ref", "refs/gitexp/runs/"], cwd=repo, capture_output=True,
                          text=True).stdout.count("\n")
    print(f"cold `gitexp {' '.join(ARGS)}` in {repo} ({'fresh clone, ' if args.clone else ''}"
          f"{runs} runs; {os.cpu_count()} CPUs)", flush=True)
    here = os.path.dirname(os.path.dirname(os.path.abspath(gitexp.__file__)))
    versions = [(here, None)] + ([(args.compare, args.compare)] if args.compare else [])
    results: dict[str, list] = {label: [] for label, _ in versions}
    for _ in range(args.repeat):
        for label, checkout in versions:
            results[label].append(one(repo, checkout))
    for label, rows in results.items():
        show(label, rows)
    if args.clone:
        shutil.rmtree(repo.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
