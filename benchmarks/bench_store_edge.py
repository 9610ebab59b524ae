"""Figures for the store's reads (the typed dulwich edge): listing that reads every record.

Usage:
    python benchmarks/bench_store_edge.py REPO [--src DIR ...] [--repeat N]

REPO is copied first (the cache is deleted for the cold runs; nothing else is written).
Each --src is a checkout of gitexp to compare (e.g. `git archive main | tar -x -C DIR`);
without one, the gitexp this Python imports. For each, the best of N runs of:
- `gitexp ls --all --limit 20` cold: the cache deleted, so every run's record is read
  through the store (refs, commits, trees, blobs);
- the same warm (cache kept);
- `gitexp --help` (start-up);
- in process, the store reads of N records (`RecordReader`: commit, record tree, run.yaml,
  summary.yaml), CPU seconds, the sources interleaved run by run (`--records N`, 0 skips it).
Each line gives wall and CPU (user+sys) seconds; the load average is printed first.
`--no-cold` skips the cold listing (about 30 CPU seconds a run on 10,000 runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import user_env  # noqa: E402


RECORDS = """
import sys, time
from gitexp.store.repo import open_repo
from gitexp.store.runcommit import RecordReader
db = open_repo(".")
tips = sorted(db.refs_under("refs/gitexp/runs/").values())[:int(sys.argv[1])]
start = time.process_time()
for tip in tips:
    rec = RecordReader(db, tip)
    rec.top(), rec.read("run.yaml"), rec.read("summary.yaml")
print(time.process_time() - start)
"""


def timed(cmd: list[str], cwd: Path, env: dict[str, str], before: None | Path = None) -> tuple[float, float]:
    """(wall, user+sys CPU) seconds of one run; `before` (the cache file) is deleted first."""
    if before is not None and before.exists():
        before.unlink()
    start_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    end_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (end_cpu.ru_utime - start_cpu.ru_utime) + (end_cpu.ru_stime - start_cpu.ru_stime)


def best(cmd: list[str], cwd: Path, env: dict[str, str], repeat: int, cache: Path | None = None) -> tuple[float, float]:
    """Best wall and best CPU over `repeat` runs (after one warm-up)."""
    timed(cmd, cwd, env, cache)
    runs = [timed(cmd, cwd, env, cache) for _ in range(repeat)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--src", action="append", default=[], help="a gitexp checkout to compare (repeatable)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--no-cold", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitexp-edge-"))
    repo = work / "repo"
    shutil.copytree(args.repo, repo, symlinks=True)
    cache = repo / ".git" / "gitexp" / "index.sqlite"
    runs = sum(1 for _ in (repo / ".git" / "refs" / "gitexp" / "runs").rglob("*") if _.is_file())
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; {runs} loose run refs")
    envs = {src or "installed": _env(src) for src in args.src or [""]}
    gitexp = [sys.executable, "-m", "gitexp"]
    for name, env in envs.items():
        for label, cmd, drop in (("ls cold", [*gitexp, "ls", "--all", "--limit", "20"], cache),
                                 ("ls warm", [*gitexp, "ls", "--all", "--limit", "20"], None),
                                 ("--help", [*gitexp, "--help"], None)):
            if label == "ls cold" and args.no_cold:
                continue
            w, c = best(cmd, repo, env, args.repeat, drop)
            print(f"{name:<40} {label:<8} wall {w:6.3f} s  cpu {c:6.3f} s")
    if args.records:
        cpu: dict[str, list[float]] = {name: [] for name in envs}
        for _ in range(args.repeat + 1):  # interleaved, so load changes hit every source alike
            for name, env in envs.items():
                out = subprocess.run([sys.executable, "-c", RECORDS, str(args.records)], cwd=repo, env=env,
                                     check=True, capture_output=True, text=True).stdout
                cpu[name].append(float(out))
        for name, times in cpu.items():
            best_cpu = min(times[1:])
            print(f"{name:<40} records  cpu {best_cpu:6.3f} s for {args.records} "
                  f"({best_cpu / args.records * 1e6:.0f} us each)")
    shutil.rmtree(work)


def _env(src: str) -> dict[str, str]:
    env = user_env()
    if src:
        env["PYTHONPATH"] = os.path.abspath(src)
    return env


if __name__ == "__main__":
    main()
