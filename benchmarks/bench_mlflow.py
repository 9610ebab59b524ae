"""MLflow through the gitexp plugin against MLflow's own SQLite store: same process, same run.

Usage: python benchmarks/bench_mlflow.py [--work DIR] [--calls 2000] [--runs 2000] [--repeat 3]
(needs `pip install -e '.[mlflow]'`: the plugin's entry points)

Prints, for `gitexp:` and `sqlite:` (best of --repeat, wall and CPU = user+sys of this process):
- `mlflow.log_metric` in an active run: per call;
- `mlflow.search_runs` over --runs finished runs (20 params, 5 metrics of 10 steps, one tag each):
  all runs, and `metrics.acc > 0.5` ordered by `metrics.acc DESC`.
The gitexp repository is written by `gen_runs.py` (the record `end_run` writes), the SQLite
database through `MlflowClient.log_batch` with the same shapes; both are kept in --work
for the next time. The load average is printed, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import make_repo  # noqa: E402
from gen_runs import generate  # noqa: E402


def cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def best(fn: Callable[[], None], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeat` calls of fn."""
    out = []
    for _ in range(repeat):
        w, c = time.perf_counter(), cpu()
        fn()
        out.append((time.perf_counter() - w, cpu() - c))
    return min(out)


def bench_log_metric(mlflow: object, uri: str, calls: int, repeat: int) -> tuple[float, float]:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("log-metric")

    def one() -> None:
        with mlflow.start_run():
            for i in range(calls):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)

    wall, used = best(one, repeat)
    return wall / calls, used / calls


def fill_sqlite(mlflow: object, uri: str, runs: int) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("search")
    rng = random.Random(0)
    for n in range(runs):
        run = client.create_run(exp, start_time=n * 1000)
        params = [Param(f"p{i}", str(round(rng.uniform(0, 1), 4))) for i in range(19)]
        params.append(Param("lr", str(rng.choice([0.001, 0.01, 0.1]))))
        metrics = [Metric(k, rng.random(), n * 1000 + s, s) for k in ("acc", "loss", "m0", "m1", "m2")
                   for s in range(10)]
        client.log_batch(run.info.run_id, metrics, params, [RunTag("stage", rng.choice(["dev", "best"]))])
        client.set_terminated(run.info.run_id, end_time=n * 1000 + 900)
        if n % 500 == 499:
            print(f"  sqlite: {n + 1} runs", file=sys.stderr)


def bench_search(mlflow: object, uri: str, repeat: int) -> list[tuple[str, int, float, float]]:
    mlflow.set_tracking_uri(uri)
    out = []
    for label, kwargs in (("all runs", {}),
                          ("acc > 0.5 by acc", {"filter_string": "metrics.acc > 0.5",
                                                "order_by": ["metrics.acc DESC"]})):
        found: list[int] = []

        def query(kw: dict = kwargs, into: list[int] = found) -> None:
            into.append(len(mlflow.search_runs(search_all_experiments=True, **kw)))

        wall, used = best(query, repeat)
        out.append((label, found[-1], wall, used))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/gitexp-bench-mlflow")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import mlflow

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"mlflow {mlflow.__version__}; load average at start {os.getloadavg()}")

    log_repo = make_repo(str(work))
    os.chdir(log_repo)  # gitexp snapshots the working tree of its repository at each run start
    for label, uri in (("gitexp", f"gitexp:{log_repo}"), ("sqlite", f"sqlite:///{work}/log-{os.getpid()}.db")):
        per_call, per_cpu = bench_log_metric(mlflow, uri, args.calls, args.repeat)
        print(f"log_metric x{args.calls}  {label:7} {per_call * 1e6:8.0f} us/call wall  "
              f"{per_cpu * 1e6:8.0f} us/call CPU")

    search_repo = work / f"search-{args.runs}"
    if not (search_repo / "done").exists():
        repo = make_repo(str(work))
        generate(repo, args.runs, 20, 5, 10)
        repo.rename(search_repo)
        (search_repo / "done").write_text("")
    db = work / f"search-{args.runs}.db"
    if not db.exists():
        tmp = work / f"filling-{os.getpid()}.db"
        fill_sqlite(mlflow, f"sqlite:///{tmp}", args.runs)
        tmp.rename(db)
    for label, uri in (("gitexp", f"gitexp:{search_repo}"), ("sqlite", f"sqlite:///{db}")):
        bench_search(mlflow, uri, 1)  # warm: gitexp's cache index, SQLite's page cache
        for query, count, wall, used in bench_search(mlflow, uri, args.repeat):
            print(f"search_runs {query:17} {label:7} {count:5} runs  {wall * 1000:8.0f} ms wall  "
                  f"{used * 1000:8.0f} ms CPU")
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
