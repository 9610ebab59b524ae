"""Generate a repository with many finished runs, fast, through gitexp's store layer.

Usage: python benchmarks/gen_runs.py DIR [--runs 10000] [--params 20] [--metrics 5] [--steps 100]

Each run is written exactly as `end_run` writes it (same record format, same
ref layout) but without a code snapshot per run: all runs share one code tree,
which keeps generation to a few milliseconds a run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import make_repo  # noqa: E402

from gitexp.names import new_run_id, new_run_name  # noqa: E402
from gitexp.store.packing import DEFAULT_THRESHOLD, maybe_pack  # noqa: E402
from gitexp.store.repo import RUNS_PREFIX, open_repo  # noqa: E402
from gitexp.store.record import RunInfo, encode_record, iso_from_ms  # noqa: E402
from gitexp.store.runcommit import write_run_commit  # noqa: E402


def generate(path: Path, runs: int, params: int, metrics: int, steps: int, seed: int = 0,
             pack: bool = True) -> None:
    rng = random.Random(seed)
    with open_repo(path) as db:
        head = db.head()
        assert head is not None
        code_tree, _ = db.commit_info(head)
        taken: set[str] = set()
        t0 = int(time.time() * 1000) - runs * 1000
        for n in range(runs):
            _one(db, rng, head, code_tree, t0 + n * 1000, taken, params, metrics, steps)
            if pack:  # as end_run does (there detached): pack loose objects past the threshold
                maybe_pack(db, DEFAULT_THRESHOLD, detach=False)
            if n % 1000 == 999:
                print(f"{n + 1} runs", file=sys.stderr)


def _one(db, rng, head, code_tree, start_ms, taken, n_params, n_metrics, steps) -> None:
    run_id = new_run_id(start_ms)
    name = new_run_name(taken)
    taken.add(name)
    exp = rng.choice(["default", "sweep"])
    info = RunInfo(id=run_id, name=name, experiment=exp, status="FINISHED",
                   start_time=iso_from_ms(start_ms) or "", end_time=iso_from_ms(start_ms + 900),
                   user="bench", host="bench", command=["python", "train.py"], exit_code=0, baseline=head)
    params = {f"p{i}": round(rng.uniform(0, 1), 4) for i in range(n_params - 1)}
    params["lr"] = rng.choice([0.001, 0.01, 0.1])
    names = ["acc", "loss"] + [f"m{i}" for i in range(n_metrics - 2)]
    history = {k: [(s, rng.random(), start_ms + s) for s in range(steps)] for k in names}
    record = encode_record(info, params, {"stage": rng.choice(["dev", "best"])}, history, [])
    commit = write_run_commit(db, code_tree, None, dict(record), [head], f"gitexp: end run {name}")
    db.set_ref(f"{RUNS_PREFIX}{exp}/{run_id}", None, commit, "generated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", help="parent folder for the new repository (default: a temp dir)")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=20)
    parser.add_argument("--metrics", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--no-pack", action="store_true", help="leave every object loose (as gitexp < 0.x did)")
    args = parser.parse_args()
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    repo = make_repo(args.dir)
    start = time.perf_counter()
    generate(repo, args.runs, args.params, args.metrics, args.steps, pack=not args.no_pack)
    print(f"generated {args.runs} runs in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    print(repo)


if __name__ == "__main__":
    main()
