"""`gitexp run` overhead over the bare command, and `start_run()` in-process (issue 8's rows).

Usage:
    python benchmarks/bench_run.py REPO [--repeat 9] [--clone] [--command true]

Prints, for the gitexp this Python imports (PYTHONPATH=<checkout> to compare
versions, interleaved), the best and the median of `--repeat` runs: wall time
and CPU time (user+sys of gitexp and its children, less sensitive to a busy
host) of `gitexp run -- true` minus those of the bare `true`; the load
average before and after. With --clone it measures in a fresh clone (objects
packed, no cache, no name reservations) with the cache deleted before every
run, as the issue's "fresh clone" row asks. Runs started here are added to
REPO (or to the clone, removed afterwards). With --instructions it also prints the
instructions `gitexp run -- COMMAND` executes (valgrind's callgrind, gitexp's own process,
best of three): a figure a busy host does not change, beside the interpreter's floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import gitexp_cmd, user_env  # noqa: E402
from bench_scaling import _cpu, drop_cache, fresh_clone, start_counts  # noqa: E402


def samples(fn: Callable[[], None], repeat: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each of `repeat` calls of `fn`, after one warm-up call."""
    fn()
    out = []
    for _ in range(repeat):
        c, t = _cpu(), time.perf_counter()
        fn()
        out.append((time.perf_counter() - t, _cpu() - c))
    return out


def show(label: str, got: list[tuple[float, float]], bare: list[tuple[float, float]] | None = None) -> None:
    """One line: best and median wall and CPU in ms (minus the bare command's best and median)."""
    walls, cpus = [w for w, _ in got], [c for _, c in got]
    bw = [w for w, _ in bare] if bare else [0.0]
    bc = [c for _, c in bare] if bare else [0.0]
    print(f"  {label:44s} best {1000 * (min(walls) - min(bw)):6.0f} ms wall {1000 * (min(cpus) - min(bc)):6.0f} ms cpu"
          f" | median {1000 * (statistics.median(walls) - statistics.median(bw)):6.0f} ms wall"
          f" {1000 * (statistics.median(cpus) - statistics.median(bc)):6.0f} ms cpu", flush=True)


def instructions(argv: list[str], cwd: Path, env: dict[str, str], repeat: int = 3) -> int:
    """The fewest instructions `argv`'s own process executed in `repeat` runs (callgrind; children not traced)."""
    counts = []
    for _ in range(repeat):
        err = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], cwd=cwd,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
        counts += [int(line.split()[-1].replace(",", "")) for line in err.splitlines() if "I   refs:" in line]
    return min(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--clone", action="store_true", help="measure in a fresh clone of REPO, cache deleted")
    parser.add_argument("--command", default="true", help="the bare command (default: true)")
    parser.add_argument("--no-inprocess", action="store_true", help="skip the start_run() row")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()
    repo = fresh_clone(args.repo, None) if args.clone else args.repo
    runs = len(subprocess.run(["git", "for-each-ref", "refs/gitexp/runs/"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.splitlines())
    import gitexp

    print(f"gitexp from {os.path.dirname(gitexp.__file__)}; {repo} ({runs} runs"
          f"{', fresh clone' if args.clone else ''}); load {os.getloadavg()[0]:.2f}", flush=True)
    env, cmd = user_env(), [args.command]

    def run() -> None:
        if args.clone:
            drop_cache(repo)
        subprocess.run(gitexp_cmd() + ["run", "--"] + cmd, cwd=repo, check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    bare = samples(lambda: subprocess.run(cmd, check=True), args.repeat)
    show(f"bare {args.command}", bare)
    show("gitexp run overhead" + (", cache deleted" if args.clone else ""), samples(run, args.repeat), bare)
    if not args.no_inprocess:
        wall, cpu, refs, records = start_counts(repo)
        print(f"  {'start_run() in-process, empty run (median)':44s} {wall * 1000:6.1f} ms wall "
              f"{cpu * 1000:6.1f} ms cpu  (refs listed {refs}, records decoded {records})", flush=True)
    if args.instructions:
        floor = instructions([sys.executable, "-c", "pass"], repo, env)
        run_cost = instructions(gitexp_cmd() + ["run", "--"] + cmd, repo, env)
        print(f"  {'instructions: gitexp run -- ' + args.command:44s} {run_cost / 1e6:6.0f} M"
              f"  (python -c pass: {floor / 1e6:.0f} M)", flush=True)
    print(f"  load after {os.getloadavg()[0]:.2f}", flush=True)
    if args.clone:
        shutil.rmtree(repo.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
