"""What gitexp's git hooks add to a `git commit`, in a repository with many runs.

Usage:
    python benchmarks/gen_runs.py /tmp/bench            # a repo with 10,000 runs (prints its path)
    python benchmarks/bench_hooks.py /tmp/bench/gitexp-bench-*

On a new commit on top of the generated history, three runs are made with
`gitexp run` (so the commit records three trailers). Then `git commit
--allow-empty` is timed with and without the hooks installed (each commit is
undone with `git reset --soft HEAD~1`, so every commit records the same runs),
with the cache index built (the usual case) and without one. The overhead is
the difference of the medians, as wall time and as CPU time of the child
processes (the steadier figure on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import GIT_ENV, gitexp_cmd, user_env  # noqa: E402


def sh(cwd: Path, *cmd: str) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)


def commit_times(repo: Path, repeat: int) -> tuple[float, float]:
    """Median (wall, cpu) seconds of one `git commit --allow-empty`, hooks as installed."""
    walls, cpus = [], []
    for i in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        sh(repo, "git", "commit", "-q", "--allow-empty", "-m", f"bench commit {i}")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sh(repo, "git", "reset", "-q", "--soft", "HEAD~1")
        if i:  # the first one warms the caches
            walls.append(wall)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def trailers(repo: Path) -> int:
    sh(repo, "git", "commit", "-q", "--allow-empty", "-m", "count")
    out = subprocess.run(["git", "log", "-1", "--format=%(trailers:key=Gitexp-Run,valueonly)"], cwd=repo,
                         capture_output=True, text=True, env=ENV).stdout
    sh(repo, "git", "reset", "-q", "--soft", "HEAD~1")
    return len(out.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a repository made by benchmarks/gen_runs.py")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    repo = args.repo
    gitexp = gitexp_cmd()
    runs = len(subprocess.run(["git", "for-each-ref", "--format=x", "refs/gitexp/runs/"], cwd=repo,
                              capture_output=True, text=True).stdout.split())
    (repo / "train.py").write_text("print('train v2')\n")
    sh(repo, "git", "commit", "-qam", "bench: new code")
    for _ in range(3):
        sh(repo, *gitexp, "run", "--", sys.executable, "train.py")
    sh(repo, *gitexp, "ls")  # the cache index, as any user of gitexp has one
    hooks = Path(subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-path", "hooks"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout.strip())
    sh(repo, *gitexp, "hooks", "uninstall")
    plain = commit_times(repo, args.repeat)
    sh(repo, *gitexp, "hooks", "install")
    recorded = trailers(repo)
    hooked = commit_times(repo, args.repeat)
    shutil.move(str(repo / ".git" / "gitexp" / "index.sqlite"), str(repo / "index.sqlite.bak"))
    cold = commit_times(repo, args.repeat)
    shutil.move(str(repo / "index.sqlite.bak"), str(repo / ".git" / "gitexp" / "index.sqlite"))
    sh(repo, *gitexp, "hooks", "uninstall")
    print(f"repository: {runs} runs; hooks folder {hooks}; each commit records {recorded} runs")
    print(f"git commit without hooks:       {plain[0] * 1000:7.1f} ms wall  {plain[1] * 1000:7.1f} ms cpu")
    print(f"git commit with gitexp hooks:   {hooked[0] * 1000:7.1f} ms wall  {hooked[1] * 1000:7.1f} ms cpu")
    print(f"  same, no cache index:         {cold[0] * 1000:7.1f} ms wall  {cold[1] * 1000:7.1f} ms cpu")
    print(f"hook overhead (cache):          {(hooked[0] - plain[0]) * 1000:7.1f} ms wall  "
          f"{(hooked[1] - plain[1]) * 1000:7.1f} ms cpu")
    print(f"hook overhead (no cache):       {(cold[0] - plain[0]) * 1000:7.1f} ms wall  "
          f"{(cold[1] - plain[1]) * 1000:7.1f} ms cpu")


ENV = {**user_env(), **GIT_ENV}

if __name__ == "__main__":
    main()
