"""`.git` size after N real runs (issue 8's row: <= 30 MB for 2,000 runs, without the user running `git gc`).

Usage:
    python benchmarks/bench_gitsize.py [--runs 2000] [--keep]

Makes a fresh repository and N runs through the Python API, each as a small training
script logs (3 params, 20 metric points, a tag), so gitexp's own housekeeping (packing
past `gitexp.packThreshold`) runs as it would for a user. Prints the disk use of `.git`
(du: what the disk holds, 4 KiB blocks included) and of its parts, and git's object counts.
The generated benchmark repositories (gen_runs.py) write runs in bulk and never pack,
so they overstate this figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import make_repo  # noqa: E402


def disk_use(path: Path) -> int:
    """Bytes on disk under `path` (du's block count, as `du -s` gives it)."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) * 1024


def make_runs(repo: Path, runs: int) -> float:
    """Seconds to make `runs` runs in `repo` through the Python API, in a child process."""
    script = (
        "import gitexp, sys\n"
        "for i in range(int(sys.argv[1])):\n"
        "    with gitexp.start_run():\n"
        "        gitexp.log_params({'lr': 0.01 * i, 'depth': i % 7, 'opt': 'adam'})\n"
        "        for s in range(20):\n"
        "            gitexp.log_metric('loss', 1.0 / (s + 1 + i))\n"
        "        gitexp.set_tag('team', 'a')\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(runs)], cwd=repo, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the repository (its path is printed)")
    args = parser.parse_args()
    repo = make_repo()
    seconds = make_runs(repo, args.runs)
    git = repo / ".git"
    refs = len(subprocess.run(["git", "for-each-ref", "refs/gitexp/runs/"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.splitlines())
    counts = dict(line.split(": ") for line in subprocess.run(["git", "count-objects", "-v"], cwd=repo,
                  capture_output=True, text=True, check=True).stdout.splitlines())
    print(f"{refs} runs made in {seconds:.0f} s; load {os.getloadavg()[0]:.2f}")
    print(f"  .git on disk                 {disk_use(git) / 2**20:6.1f} MB  (bar: <= 30 MB for 2,000 runs)")
    for part in ("objects", "logs", "refs", "gitexp"):
        if (git / part).exists():
            print(f"  .git/{part:22s} {disk_use(git / part) / 2**20:6.1f} MB")
    print(f"  loose objects {counts['count']}, packed {counts['in-pack']} in {counts['packs']} packs")
    fsck = subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    print(f"  git fsck: exit code {fsck.returncode}")
    if args.keep:
        print(f"  kept: {repo}")
    else:
        shutil.rmtree(repo)


if __name__ == "__main__":
    main()
