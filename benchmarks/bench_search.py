"""Figures for listing and searching many runs (the cache index).

Usage:
    python benchmarks/gen_runs.py /tmp/bench            # prints the repo path (10,000 runs)
    python benchmarks/bench_search.py REPO [--mlflow-python PATH] [--mlflow-store DIR]

Measures, on REPO:
- `gitexp ls --all --filter "metrics.acc > 0.5" --sort metrics.acc:desc --limit 20`
  warm (median of 5) and cold (cache deleted), with the peak memory of the cold run;
- `gitexp.search_runs` of the same query in-process, warm (median of 5);
- `gitexp ls` of the default table, warm;
- with --mlflow-python: `mlflow.search_runs` of the same query over the same number of
  runs in MLflow's file store (generated once into --mlflow-store with log_batch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import gitexp_cmd, user_env, wall  # noqa: E402

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


def in_process(repo: Path) -> tuple[float, int, int]:
    import gitexp

    gitexp.set_repository(repo)
    gitexp.search_runs("metrics.acc > 0.5", ["metrics.acc DESC"], max_results=20)  # warm
    times = []
    for _ in range(5):
        start = time.perf_counter()
        rows = gitexp.search_runs("metrics.acc > 0.5", ["metrics.acc DESC"], max_results=20)
        times.append(time.perf_counter() - start)
    total = len(gitexp.search_runs())
    return statistics.median(times), len(rows), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--mlflow-python")
    parser.add_argument("--mlflow-store", type=Path, default=Path("/tmp/gitexp-bench-mlflow"))
    args = parser.parse_args()
    cmd = gitexp_cmd() + QUERY
    index = args.repo / ".git" / "gitexp" / "index.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    cold, peak = peak_run(cmd, args.repo)
    warm = wall(cmd, args.repo)
    _, warm_peak = peak_run(cmd, args.repo)
    plain = wall(gitexp_cmd() + ["ls", "--all"], args.repo)
    ours, rows, total = in_process(args.repo)
    print(f"runs in repo: {total}")
    print(f"gitexp ls --filter/--sort/--limit 20, cold (no cache): {cold:6.2f} s, "
          f"peak RSS {peak:5.0f} MB with workers  (bar: <= 20 s, <= 300 MB)")
    print(f"gitexp ls --filter/--sort/--limit 20, warm:            {warm:6.2f} s, "
          f"peak RSS {warm_peak:5.0f} MB  (bar: <= 0.5 s)")
    print(f"gitexp ls --all (default table, 50 rows), warm:        {plain:6.2f} s")
    print(f"gitexp.search_runs in-process, warm:                   {ours:6.3f} s ({rows} rows)  (bar: <= 0.2 s)")
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
