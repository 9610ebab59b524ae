"""Figures for listing and searching many runs (the cache index).

Usage:
    python benchmarks/gen_runs.py /tmp/bench            # prints the repo path (10,000 runs)
    python benchmarks/bench_search.py REPO [--repeat 5] [--warm-only] [--mlflow-python PATH] [--mlflow-store DIR]

Measures, on REPO (warm figures: the best of --repeat, wall and CPU time (user+sys), with the
load average, since the machine may be shared):
- `gitexp ls --all --filter "metrics.acc > 0.5" --sort metrics.acc:desc --limit 20`
  warm and cold (cache deleted), with the peak memory of the cold run;
- `gitexp.search_runs` of the same query in-process, warm; the first search on a key
  (which fills the index's value table for it) and searches the SQL can only pre-filter;
- `gitexp ls` of the default table, warm;
- with --mlflow-python: `mlflow.search_runs` of the same query over the same number of
  runs in MLflow's file store (generated once into --mlflow-store with log_batch).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import gitexp_cmd, user_env  # noqa: E402

QUERY = ["ls", "--all", "--filter", "metrics.acc > 0.5", "--sort", "metrics.acc:desc", "--limit", "20"]

MLFLOW_SCRIPT = r"""
import json, os, random, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow
from mlflow.entities import Metric, Param, RunTag
store, runs = sys.argv[1], int(sys.argv[2])
mlflow.set_tracking_uri("file://" + store)
exp = mlflow.set_experiment("bench")
client = mlflow.MlflowClient()
have = len(client.search_runs([exp.experiment_id], max_results=50000))
rng = random.Random(0)
for n in range(have, runs):
    run = client.create_run(exp.experiment_id)
    ts = int(time.time() * 1000)
    params = [Param(f"p{i}", str(round(rng.random(), 4))) for i in range(19)] + [Param("lr", "0.01")]
    metrics = [Metric(k, rng.random(), ts + s, s) for k in ("acc", "loss", "m0", "m1", "m2") for s in range(100)]
    client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("stage", "dev")])
    client.set_terminated(run.info.run_id)
times = []
for _ in range(5):
    t = time.perf_counter()
    df = mlflow.search_runs([exp.experiment_id], filter_string="metrics.acc > 0.5",
                            order_by=["metrics.acc DESC"], max_results=20)
    times.append(time.perf_counter() - t)
print(json.dumps({"median": statistics.median(times), "rows": len(df), "version": mlflow.__version__}))
"""


def peak_run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of the process and its worker processes together)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=user_env())
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return elapsed, peak / 1024


def _tree_rss(pid: int) -> int:
    """RSS in KiB of `pid` and its children, from /proc (Linux); shared pages count twice."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        with open(f"/proc/{pid}/status") as f:
            own = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return 0
    return own + sum(_tree_rss(c) for c in children)


def best_cli(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    """(best wall, best CPU of user+sys) seconds of a command, after one warm-up run."""
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=user_env())
    walls, cpus = [], []
    for _ in range(repeat):
        before, start = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=user_env())
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - before)
    return min(walls), min(cpus)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_call(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall, best CPU seconds, last result) of `fn()`, in this process."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), result


IN_PROCESS = [  # (label, filter, order_by)
    ("metrics.acc > 0.5, by acc desc", "metrics.acc > 0.5", ["metrics.acc DESC"]),
    ("params.lr = 0.01 and tags.stage = 'best', by start", "params.lr = 0.01 and tags.stage = 'best'", []),
    ("metrics.acc > 0.5 and run_name LIKE '%a%', by loss", "metrics.acc > 0.5 and run_name LIKE '%a%'",
     ["metrics.loss"]),
    ("params.lr > 0.005 or status = 'FAILED', by p0 desc", "params.lr > 0.005 or status = 'FAILED'",
     ["params.p0 DESC"]),
]


def in_process(repo: Path, repeat: int) -> int:
    """Print the in-process search figures; return the number of runs."""
    import gitexp

    gitexp.set_repository(repo)
    total = len(gitexp.search_runs())  # the cache is warm
    for label, text, order in IN_PROCESS:
        query = functools.partial(gitexp.search_runs, text, order, max_results=20)
        first, first_cpu, _ = best_call(query, 1)
        w, c, rows = best_call(query, repeat)
        print(f"gitexp.search_runs in-process, warm, {label:52s} {w * 1000:6.1f} ms wall {c * 1000:6.1f} ms cpu "
              f"({len(rows)} rows; first call {first * 1000:.0f} ms wall {first_cpu * 1000:.0f} ms cpu)",  # type: ignore[arg-type]
              flush=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--mlflow-python")
    parser.add_argument("--mlflow-store", type=Path, default=Path("/tmp/gitexp-bench-mlflow"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warm-only", action="store_true", help="keep the cache: skip the cold listing")
    args = parser.parse_args()
    cmd = gitexp_cmd() + QUERY
    index = args.repo / ".git" / "gitexp" / "index.sqlite"
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    if not args.warm_only:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{index}{suffix}").unlink(missing_ok=True)
        cold, peak = peak_run(cmd, args.repo)
        print(f"gitexp ls --filter/--sort/--limit 20, cold (no cache): {cold:6.2f} s, "
              f"peak RSS {peak:5.0f} MB with workers  (bar: <= 20 s, <= 300 MB)", flush=True)
    warm, warm_cpu = best_cli(cmd, args.repo, args.repeat)
    _, warm_peak = peak_run(cmd, args.repo)
    print(f"gitexp ls --filter/--sort/--limit 20, warm:            {warm:6.2f} s wall {warm_cpu:5.2f} s cpu, "
          f"peak RSS {warm_peak:5.0f} MB  (bar: <= 0.5 s)", flush=True)
    plain, plain_cpu = best_cli(gitexp_cmd() + ["ls", "--all"], args.repo, args.repeat)
    print(f"gitexp ls --all (default table, 50 rows), warm:        {plain:6.2f} s wall {plain_cpu:5.2f} s cpu",
          flush=True)
    total = in_process(args.repo, args.repeat)
    import gitexp

    ours, _, _ = best_call(functools.partial(gitexp.search_runs, "metrics.acc > 0.5", ["metrics.acc DESC"],
                                             max_results=20), args.repeat)
    print(f"runs in repo: {total}; load average {os.getloadavg()[0]:.1f} at the end  (search_runs bar: <= 0.1 s)")
    if args.mlflow_python:
        args.mlflow_store.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([args.mlflow_python, "-c", MLFLOW_SCRIPT, str(args.mlflow_store), str(total)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print("mlflow benchmark failed:", proc.stderr.strip().splitlines()[-1:])
            return
        ml = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"mlflow {ml['version']} search_runs (file store), same query: {ml['median']:6.3f} s "
              f"= {ml['median'] / ours:.1f}x gitexp.search_runs")


if __name__ == "__main__":
    main()
