"""Runs imported per second by `gitexp import mlflow` (figure for docs/mlflow.md).

Writes an MLflow file store by hand in MLflow's on-disk format (no MLflow needed):
N runs (default 2,000) in 4 experiments, each with 10 params, 5 tags, 3 metrics of
100 points and one small artifact; then times the import into a fresh repository
(in process, as `gitexp import mlflow` runs it). With --sqlite, MLflow (installed)
also writes the same runs to a SQLite database, which is imported too.

    python benchmarks/bench_import.py [--runs 2000] [--sqlite]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import make_repo  # noqa: E402

POINTS, METRICS, PARAMS, TAGS, EXPERIMENTS = 100, 3, 10, 5, 4


def write_file_store(root: Path, runs: int) -> None:
    t0 = 1_700_000_000_000
    for e in range(1, EXPERIMENTS + 1):
        exp = root / str(e)
        (exp / "tags").mkdir(parents=True)
        (exp / "meta.yaml").write_text(f"artifact_location: file://{exp}\ncreation_time: {t0}\nexperiment_id: '{e}'\n"
                                       f"last_update_time: {t0}\nlifecycle_stage: active\nname: Experiment {e}\n")
    for n in range(runs):
        e = n % EXPERIMENTS + 1
        rid = uuid.uuid4().hex
        run = root / str(e) / rid
        for sub in ("metrics", "params", "tags", "artifacts"):
            (run / sub).mkdir(parents=True)
        start = t0 + n * 1000
        (run / "meta.yaml").write_text(
            f"artifact_uri: file://{run}/artifacts\nend_time: {start + 900}\nentry_point_name: ''\n"
            f"experiment_id: '{e}'\nlifecycle_stage: active\nrun_id: {rid}\nrun_name: run-{n}\nrun_uuid: {rid}\n"
            f"source_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {start}\nstatus: 3\ntags: []\n"
            "user_id: bench\n")
        for k in range(METRICS):
            (run / "metrics" / f"m{k}").write_text(
                "".join(f"{start + i} {1.0 / (i + 1 + k)!r} {i}\n" for i in range(POINTS)))
        for k in range(PARAMS):
            (run / "params" / f"p{k}").write_text(str(k * 0.1))
        for k in range(TAGS):
            (run / "tags" / f"t{k}").write_text(f"value {k}")
        (run / "tags" / "mlflow.runName").write_text(f"run-{n}")
        (run / "artifacts" / "config.json").write_text('{"n": %d}' % n)


def write_sqlite(uri: str, runs: int) -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    exps = [client.create_experiment(f"Experiment {e}") for e in range(1, EXPERIMENTS + 1)]
    for n in range(runs):
        run = client.create_run(exps[n % EXPERIMENTS], run_name=f"run-{n}")
        rid = run.info.run_id
        client.log_batch(rid, metrics=[Metric(f"m{k}", 1.0 / (i + 1 + k), 1_700_000_000_000 + i, i)
                                       for k in range(METRICS) for i in range(POINTS)],
                         params=[Param(f"p{k}", str(k * 0.1)) for k in range(PARAMS)],
                         tags=[RunTag(f"t{k}", f"value {k}") for k in range(TAGS)])
        client.set_terminated(rid)


def _cpu() -> float:
    """User+system CPU seconds of this process and its finished children (git, pack writers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_import(source: str, runs: int) -> float:
    from gitexp.services.mlflow_import import import_mlflow
    from gitexp.services.session import open_session

    repo = make_repo()
    cpu = _cpu()
    with open_session(repo) as s:
        report = import_mlflow(s, source)
    cpu = _cpu() - cpu
    assert report.runs == runs and not report.failed, (report.runs, report.failed[:3])
    print(f"  {report.runs} runs, {report.points} points in {report.seconds:.2f} s wall, {cpu:.2f} s CPU "
          f"(load {os.getloadavg()[0]:.1f}): {report.runs / report.seconds:.0f} runs/s, "
          f"{report.points / report.seconds:,.0f} points/s; by CPU time {report.runs / cpu:.0f} runs/s")
    return report.runs / report.seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--sqlite", action="store_true", help="also import a SQLite store written by MLflow")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitexp-bench-import-"))
    t = time.perf_counter()
    write_file_store(tmp / "mlruns", args.runs)
    print(f"file store with {args.runs} runs written in {time.perf_counter() - t:.1f} s; importing:")
    time_import(str(tmp / "mlruns"), args.runs)
    if args.sqlite:
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        t = time.perf_counter()
        os.environ.setdefault("MLFLOW_TRACKING_URI", uri)
        write_sqlite(uri, args.runs)
        print(f"SQLite store with {args.runs} runs written by MLflow in {time.perf_counter() - t:.1f} s; importing:")
        time_import(uri, args.runs)


if __name__ == "__main__":
    main()
