"""Every figure of the scaling issue (#8) on one repository: do costs grow with the number of runs?

Usage:
    python benchmarks/gen_runs.py DIR --runs 2000          # prints the repo path
    python benchmarks/bench_scaling.py REPO [--clone DIR] [--repeat 5] [--label after]

The gitexp measured is the one this Python imports (run it again with
PYTHONPATH=<another checkout> to compare versions, interleaved). Prints one
line per row of the issue's table: wall time (median) and CPU time (user+sys of
the process and its children, much less sensitive to a busy host), plus counts
that do not depend on load: refs listed and run records decoded by a run start,
loose objects and the size of `.git`.

--clone makes a fresh clone first (`git clone --no-local`, then the run refs
fetched: objects in packs, no cache, no name reservations) and measures in it.
Runs started by the benchmark are added to REPO.
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
from _common import gitexp_cmd, user_env  # noqa: E402


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median wall, median CPU) seconds of `fn()`."""
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = _cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def run_cli(args: list[str], repo: Path) -> None:
    subprocess.run(gitexp_cmd() + args, cwd=repo, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=user_env())


def drop_cache(repo: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{repo}/.git/gitexp/index.sqlite{suffix}").unlink(missing_ok=True)


def peak_rss_mb(args: list[str], repo: Path) -> tuple[float, float, float, float]:
    """(wall, CPU, peak RSS MB, peak private (anonymous) RSS MB of the process tree) of one command.

    RSS counts file pages mapped from packs once per worker process; RssAnon is the
    memory the processes themselves allocated.
    """
    c, t = _cpu(), time.perf_counter()
    proc = subprocess.Popen(gitexp_cmd() + args, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=user_env())
    peak = anon = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        anon = max(anon, _tree_rss(proc.pid, "RssAnon:"))
        time.sleep(0.02)
    return time.perf_counter() - t, _cpu() - c, peak / 1024, anon / 1024


def _tree_rss(pid: int, field: str = "VmRSS:") -> int:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        with open(f"/proc/{pid}/status") as f:
            own = next(int(line.split()[1]) for line in f if line.startswith(field))
    except (OSError, StopIteration, ValueError):
        return 0
    return own + sum(_tree_rss(c, field) for c in children)


def start_counts(repo: Path) -> tuple[float, float, int, int]:
    """start_run in-process: (median wall, median CPU, refs listed, records decoded) per start."""
    import gitexp
    from gitexp.services.catalog import cache
    from gitexp.store.repo import GitDB

    counts = {"refs": 0, "records": 0}
    listed, decoded = GitDB.refs_under, cache.load_summary

    def refs_under(self, *a, **k):  # type: ignore[no-untyped-def]
        out = listed(self, *a, **k)
        counts["refs"] += len(out)
        return out

    def load_summary(*a, **k):  # type: ignore[no-untyped-def]
        counts["records"] += 1
        return decoded(*a, **k)

    GitDB.refs_under, cache.load_summary = refs_under, load_summary
    gitexp.set_repository(repo)
    walls, cpus = [], []
    try:
        for n in range(6):
            c, t = time.process_time(), time.perf_counter()
            gitexp.start_run()
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            gitexp.end_run()
            if n == 0:  # the first start may fill a cache or the name reservations once
                walls, cpus, counts["refs"], counts["records"] = [], [], 0, 0
    finally:
        GitDB.refs_under, cache.load_summary = listed, decoded
    return statistics.median(walls), statistics.median(cpus), counts["refs"] // 5, counts["records"] // 5


def search_warm(repo: Path, repeat: int) -> tuple[float, float]:
    import gitexp

    gitexp.set_repository(repo)
    query = lambda: gitexp.search_runs("metrics.acc > 0.5", ["metrics.acc DESC"], max_results=20)  # noqa: E731
    query()
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        query()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def git_size(repo: Path) -> tuple[float, int, int]:
    """(du MB of .git, loose objects, packs)."""
    du = subprocess.run(["du", "-sk", str(repo / ".git")], capture_output=True, text=True).stdout.split()[0]
    out = subprocess.run(["git", "count-objects", "-v"], cwd=repo, capture_output=True, text=True).stdout
    kv = dict(line.split(": ") for line in out.splitlines())
    return int(du) / 1024, int(kv["count"]), int(kv["packs"])


def fresh_clone(src: Path, parent: str | None) -> Path:
    dst = Path(tempfile.mkdtemp(prefix="gitexp-clone-", dir=parent)) / "clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(src), str(dst)], check=True)
    subprocess.run(["git", "fetch", "-q", "origin", "+refs/gitexp/runs/*:refs/gitexp/runs/*"], cwd=dst, check=True)
    return dst


def run_ids(repo: Path) -> list[tuple[str, str]]:
    from gitexp.services.catalog.listing import list_runs
    from gitexp.services.session import Session

    with Session.open(repo) as s:
        return [(r.id, r.name) for r in list_runs(s)[:2]]


def row(label: str, wall: float, cpu: float, extra: str = "") -> None:
    print(f"  {label:50s} {wall * 1000:9.0f} ms wall {cpu * 1000:9.0f} ms cpu  {extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--clone", action="store_true", help="measure in a fresh clone of REPO")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    repo = fresh_clone(args.repo, None) if args.clone else args.repo
    import gitexp

    total = len(subprocess.run(["git", "for-each-ref", "refs/gitexp/runs/"], cwd=repo, capture_output=True,
                               text=True).stdout.splitlines())  # loose and packed
    print(f"{args.label} gitexp from {os.path.dirname(gitexp.__file__)}; repo {repo} "
          f"({'fresh clone, ' if args.clone else ''}load {os.getloadavg()[0]:.1f})", flush=True)
    size, loose, packs = git_size(repo)
    print(f"  .git {size:.0f} MB, {loose} loose objects, {packs} packs; {total} run refs", flush=True)
    rep = args.repeat

    # Cold first (a fresh clone has no cache), then everything warm.
    bare = timed(lambda: subprocess.run(["true"], check=True), rep)
    if args.clone:
        def cold_run() -> None:
            drop_cache(repo)
            run_cli(["run", "--", "true"], repo)
        wall, cpu = timed(cold_run, max(1, rep // 2))
        row("gitexp run overhead, cache deleted", wall - bare[0], cpu - bare[1])
    drop_cache(repo)
    wall, cpu, peak, anon = peak_rss_mb(["ls", "--all", "--limit", "20"], repo)
    row("gitexp ls --all cold (cache deleted)", wall, cpu, f"peak RSS {peak:.0f} MB (private {anon:.0f} MB)")
    wall, cpu = timed(lambda: run_cli(["ls"], repo), rep)
    row("gitexp ls warm, fresh process", wall, cpu)
    wall, cpu = timed(lambda: run_cli(["run", "--", "true"], repo), rep)
    row("gitexp run overhead over the bare command", wall - bare[0], cpu - bare[1])
    wall, cpu, refs, records = start_counts(repo)
    row("start_run() in-process, empty run", wall, cpu, f"refs listed {refs}, records decoded {records} per start")
    wall, cpu = search_warm(repo, rep)
    row("search_runs filtered, in-process, warm", wall, cpu)
    (a_id, a_name), (b_id, b_name) = run_ids(repo)
    wall, cpu = timed(lambda: run_cli(["diff", a_name, b_name], repo), rep)
    row("gitexp diff by name", wall, cpu)
    wall, cpu = timed(lambda: run_cli(["diff", a_id, b_id], repo), rep)
    row("gitexp diff by id", wall, cpu)
    size, loose, packs = git_size(repo)
    print(f"  .git after: {size:.0f} MB, {loose} loose objects, {packs} packs", flush=True)
    if args.clone:
        shutil.rmtree(repo.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
