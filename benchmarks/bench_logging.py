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
from _common import make_repo, median_per_call  # noqa: E402

CALLS = 200_000

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


def bench_write() -> tuple[float, float]:
    line = "train/loss\t12\t0.123456789\t1700000000000\n"
    key, value, ts = "train/loss", 0.123456789, 1700000000000
    with tempfile.TemporaryFile("w") as f:
        def plain(n: int) -> None:
            for _ in range(n):
                f.write(line)

        def formatted(n: int) -> None:
            for i in range(n):
                f.write(f"{key}\t{i}\t{value!r}\t{ts}\n")

        return median_per_call(plain, CALLS), median_per_call(formatted, CALLS)


def bench_log_metric() -> tuple[float, float, float]:
    import gitexp

    repo = make_repo()
    gitexp.set_repository(repo)
    with gitexp.start_run():
        log = gitexp.log_metric

        def auto(n: int) -> None:
            for _ in range(n):
                log("train/loss", 0.123456789)

        def stepped(n: int) -> None:
            for i in range(n):
                log("val/loss", 0.123456789, step=i)

        first, second = median_per_call(auto, CALLS), median_per_call(stepped, CALLS)
        gitexp.flush()
        start = time.perf_counter()  # everything: the calls plus formatting and writing the journal
        auto(CALLS)
        gitexp.flush()
        amortised = (time.perf_counter() - start) / CALLS
    return first, second, amortised


def bench_end_run(repeat: int = 7) -> float:
    import gitexp

    repo = make_repo()
    gitexp.set_repository(repo)
    times = []
    for _ in range(repeat):
        gitexp.start_run(params={f"p{i}": i * 0.1 for i in range(20)})
        for step in range(1000):
            for m in range(5):
                gitexp.log_metric(f"metric_{m}", step * 0.001 + m, step=step)
        start = time.perf_counter()
        gitexp.end_run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    plain, formatted = bench_write()
    ours, stepped, amortised = bench_log_metric()
    print(f"f.write(line)                    {plain * 1e9:8.0f} ns/call")
    print(f"f.write(f-string line)           {formatted * 1e9:8.0f} ns/call")
    for label, t in (("gitexp.log_metric(k, v)", ours), ("gitexp.log_metric(k, v, step=i)", stepped)):
        print(f"{label:32s} {t * 1e9:8.0f} ns/call  = {t / plain:.2f}x f.write(line), "
              f"{t / formatted:.2f}x f.write(f-string)  (bar: <= 3x)")
    print(f"{'amortised, incl. journal write':32s} {amortised * 1e9:8.0f} ns/call  "
          "(the flush thread formats and writes queued points once a second)")
    if args.mlflow_python:
        ml = bench_mlflow(args.mlflow_python)
        if ml:
            print(f"mlflow {ml['version']} log_metric (file store) {ml['median'] * 1e6:8.1f} us/call  "
                  f"= {ml['median'] / ours:.0f}x gitexp.log_metric")
    end = bench_end_run()
    print(f"end_run, 20 params + 5 metrics x 1,000 steps: {end * 1000:.1f} ms  (bar: <= 50 ms)")


if __name__ == "__main__":
    main()
