"""Figures for the tracking hot path and for ending a run.

Usage: python benchmarks/bench_logging.py [--mlflow-python PATH]

- log_metric per call (median of 1,000-call batches over 200,000 calls) against
  f.write() of the same line to an open buffered file, in the same process;
- optionally mlflow.log_metric on its local file store, run by another
  interpreter (a venv with mlflow: MLflow is not a dependency of gitexp);
- end_run of a run with 20 params and 5 metrics x 1,000 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import make_repo  # noqa: E402

CALLS = 200_000
BATCH = 1000

MLFLOW_SCRIPT = r"""
import json, os, statistics, sys, tempfile, time, warnings
warnings.filterwarnings("ignore")
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps its file store behind this flag
import mlflow
store = tempfile.mkdtemp()
mlflow.set_tracking_uri("file://" + store)
mlflow.set_experiment("bench")
calls, batch = int(sys.argv[1]), 100
times = []
with mlflow.start_run():
    mlflow.log_metric("loss", 0.5, step=0)
    step = 1
    for _ in range(calls // batch):
        t = time.perf_counter()
        for _ in range(batch):
            mlflow.log_metric("loss", 0.123456789, step=step)
            step += 1
        times.append((time.perf_counter() - t) / batch)
print(json.dumps({"median": statistics.median(times), "version": mlflow.__version__}))
"""


def bench_hot_path() -> dict[str, float]:
    """Median seconds per call of each way of logging, measured in interleaved batches.

    Each round times one batch of every contender back to back, so drift in
    this machine's speed hits them alike; ratios are medians of per-round ratios.
    """
    import gitexp

    line = "train/loss\t12\t0.123456789\t1700000000000\n"
    key, value, ts = "train/loss", 0.123456789, 1700000000000
    repo = make_repo()
    gitexp.set_repository(repo)
    log = gitexp.log_metric
    with tempfile.TemporaryFile("w") as f, gitexp.start_run():
        contenders = {
            "write": lambda n: [f.write(line) for _ in range(n)],
            "write_fmt": lambda n: [f.write(f"{key}\t{i}\t{value!r}\t{ts}\n") for i in range(n)],
            "log": lambda n: [log("train/loss", 0.123456789) for _ in range(n)],
            "log_step": lambda n: [log("val/loss", 0.123456789, step=i) for i in range(n)],
        }
        rounds: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(CALLS // BATCH):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn(BATCH)
                rounds[name].append((time.perf_counter() - start) / BATCH)
        gitexp.flush()
        start = time.perf_counter()  # everything: the calls plus writing the journal
        contenders["log"](CALLS)
        gitexp.flush()
        amortised = (time.perf_counter() - start) / CALLS
    out = {name: statistics.median(times) for name, times in rounds.items()}
    for name in ("log", "log_step"):
        out[f"{name}/write"] = statistics.median(a / b for a, b in zip(rounds[name], rounds["write"]))
        out[f"{name}/write_fmt"] = statistics.median(a / b for a, b in zip(rounds[name], rounds["write_fmt"]))
    out["amortised"] = amortised
    return out


def bench_end_run(repeat: int = 7) -> tuple[float, float]:
    """Median wall and CPU seconds of end_run (CPU: this process, flush thread included)."""
    import gitexp

    repo = make_repo()
    gitexp.set_repository(repo)
    times, cpu = [], []
    for _ in range(repeat):
        gitexp.start_run(params={f"p{i}": i * 0.1 for i in range(20)})
        for step in range(1000):
            for m in range(5):
                gitexp.log_metric(f"metric_{m}", step * 0.001 + m, step=step)
        start, start_cpu = time.perf_counter(), time.process_time()
        gitexp.end_run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu)


def bench_mlflow(python: str) -> dict | None:
    proc = subprocess.run([python, "-c", MLFLOW_SCRIPT, "5000"], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"mlflow benchmark failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-python", help="python of a venv that has mlflow installed")
    args = parser.parse_args()
    r = bench_hot_path()
    print(f"f.write(line)                    {r['write'] * 1e9:8.0f} ns/call")
    print(f"f.write(f-string line)           {r['write_fmt'] * 1e9:8.0f} ns/call  (the line formatted per call)")
    for label, name in (("gitexp.log_metric(k, v)", "log"), ("gitexp.log_metric(k, v, step=i)", "log_step")):
        print(f"{label:32s} {r[name] * 1e9:8.0f} ns/call  = {r[name + '/write']:.2f}x f.write(line), "
              f"{r[name + '/write_fmt']:.2f}x f.write(f-string)  (bar: <= 3x)")
    print(f"{'amortised, incl. journal write':32s} {r['amortised'] * 1e9:8.0f} ns/call  "
          "(calls plus the flush thread writing the journal)")
    ours = r["log"]
    if args.mlflow_python:
        ml = bench_mlflow(args.mlflow_python)
        if ml:
            print(f"mlflow {ml['version']} log_metric (file store) {ml['median'] * 1e6:8.1f} us/call  "
                  f"= {ml['median'] / ours:.0f}x gitexp.log_metric")
    end, end_cpu = bench_end_run()
    print(f"end_run, 20 params + 5 metrics x 1,000 steps: {end * 1000:.1f} ms wall, {end_cpu * 1000:.1f} ms CPU"
          f"  (bar: <= 50 ms; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
