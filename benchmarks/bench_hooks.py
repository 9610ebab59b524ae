"""What gitexp's git hooks add to a `git commit`, in a repository with many runs.

Usage:
    python benchmarks/gen_runs.py /tmp/bench            # a repo with 10,000 runs (prints its path)
    python benchmarks/bench_hooks.py /tmp/bench/gitexp-bench-*  [--repeat 21]

The repository is changed (a commit, three runs, hooks installed): run it on a copy.
On a new commit on top of the generated history, three runs are made with
`gitexp run`. Then `git commit` is timed with the hooks and without them
(`-c core.hooksPath=<an empty folder>`), alternately, so both see the same load;
each commit is undone with `git reset --soft HEAD~1`. Four cases:

- a matching run: the staged code is the runs' code, the commit records the three runs
  (with the cache index, as any user of `gitexp ls` has it, and without one);
- no matching run: runs on HEAD, other code staged (Python looks, records nothing);
- no run since HEAD: the last run ref was written an hour before HEAD was committed
  (the hook scripts stop in sh, before Python starts).

Printed: best and median of wall time and of CPU time (user+sys of git and every hook
process), with and without hooks, and what the hooks add; and the load average.
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
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import GIT_ENV, gitexp_cmd, user_env  # noqa: E402


def sh(cwd: Path, *cmd: str) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True, env=ENV).stdout


def one_commit(repo: Path, args: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one `git commit`, undone afterwards."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["git", *args], cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sh(repo, "git", "reset", "-q", "--soft", "HEAD~1")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def measure(repo: Path, commit_args: list[str], repeat: int, no_hooks: str) -> dict[str, list[tuple[float, float]]]:
    """Commits with and without the hooks, alternately; the first pair warms the caches."""
    times: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    for i in range(repeat + 1):
        hooked = one_commit(repo, ["commit", "-q", *commit_args])
        plain = one_commit(repo, ["-c", f"core.hooksPath={no_hooks}", "commit", "-q", *commit_args])
        if i:
            times["with"].append(hooked)
            times["without"].append(plain)
    return times


def recorded(repo: Path, commit_args: list[str]) -> int:
    sh(repo, "git", "commit", "-q", *commit_args)
    out = sh(repo, "git", "log", "-1", "--format=%(trailers:key=Gitexp-Run,valueonly)")
    sh(repo, "git", "reset", "-q", "--soft", "HEAD~1")
    return len(out.split())


def report(label: str, times: dict[str, list[tuple[float, float]]], trailers: int) -> None:
    print(f"{label} (each commit records {trailers} runs)")
    stats = {}
    for key in ("without", "with"):
        walls, cpus = [t[0] * 1000 for t in times[key]], [t[1] * 1000 for t in times[key]]
        stats[key] = (min(walls), statistics.median(walls), min(cpus), statistics.median(cpus))
        print(f"  {key + ' hooks:':15} wall best {stats[key][0]:6.1f} median {stats[key][1]:6.1f} ms   "
              f"cpu best {stats[key][2]:6.1f} median {stats[key][3]:6.1f} ms")
    added = [w - p for w, p in zip(stats["with"], stats["without"])]
    print(f"  {'hooks add:':15} wall best {added[0]:6.1f} median {added[1]:6.1f} ms   "
          f"cpu best {added[2]:6.1f} median {added[3]:6.1f} ms")


def age_run_refs(repo: Path, seconds: int) -> None:
    """Set the run ref folders (and packed-refs) back in time, as if the last run was long ago."""
    common = repo / ".git"
    when = time.time() - seconds
    for path in [common / "packed-refs", common / "refs/gitexp/runs", *(common / "refs/gitexp/runs").glob("*")]:
        if path.exists():
            os.utime(path, (when, when))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a repository made by benchmarks/gen_runs.py (it is changed)")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    repo, gitexp = args.repo, gitexp_cmd()
    runs = len(sh(repo, "git", "for-each-ref", "--format=x", "refs/gitexp/runs/").split())
    (repo / "train.py").write_text("print('train v2')\n")
    sh(repo, "git", "commit", "-qam", "bench: new code")
    for _ in range(3):
        sh(repo, *gitexp, "run", "--", sys.executable, "train.py")
    sh(repo, *gitexp, "ls")  # the cache index, as any user of gitexp has one
    sh(repo, *gitexp, "hooks", "install", "--force")
    no_hooks = tempfile.mkdtemp(prefix="no-hooks-")
    print(f"repository: {runs} runs; load average before: {os.getloadavg()[0]:.2f}; repeat {args.repeat}")
    empty = ["--allow-empty", "-m", "bench commit"]

    report("a matching run", measure(repo, empty, args.repeat, no_hooks), recorded(repo, empty))
    cache = repo / ".git" / "gitexp" / "index.sqlite"
    shutil.move(str(cache), str(repo / "index.sqlite.bak"))
    report("  same, no cache index", measure(repo, empty, args.repeat, no_hooks), recorded(repo, empty))
    shutil.move(str(repo / "index.sqlite.bak"), str(cache))

    (repo / "train.py").write_text("print('train v3')\n")
    sh(repo, "git", "add", "train.py")
    other = ["-m", "bench commit, other code"]
    report("no matching run (runs on HEAD, other code staged)", measure(repo, other, args.repeat, no_hooks),
           recorded(repo, other))
    sh(repo, "git", "commit", "-qm", "bench: v3")
    age_run_refs(repo, 3600)
    report("no run since HEAD (the hooks stop in sh)", measure(repo, empty, args.repeat, no_hooks),
           recorded(repo, empty))
    sh(repo, *gitexp, "hooks", "uninstall")
    shutil.rmtree(no_hooks)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


ENV = {**user_env(), **GIT_ENV}
ENV["PATH"] = f"{Path(gitexp_cmd()[0]).parent}{os.pathsep}{ENV.get('PATH', '')}"  # the hooks run `gitexp`

if __name__ == "__main__":
    main()
