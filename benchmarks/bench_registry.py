"""Figures for the model registry: 1,500 registry tags over 50 models, plus 5,000 unrelated tags.

Usage: python benchmarks/bench_registry.py [--gto PATH-TO-gto] [--packed]

Prints the best wall and the best CPU time (user + sys) over several runs of
`gitexp models ls` and `gitexp models assign` as fresh processes, and of GTO's
`show` on the same repository (when a `gto` executable is given or on PATH) with
the ratio, each with the load average: on a shared machine CPU time is the
steadier figure. Targets: ls <= 0.3 s, assign <= 0.5 s.
With --packed, the tags are packed first (`git pack-refs --all`, as after a clone or gc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _common import GIT_ENV, gitexp_cmd, make_repo, user_env  # noqa: E402

MODELS, VERSIONS, STAGE_EVENTS, UNRELATED = 50, 10, 20, 5000  # 50 x (10 + 20) = 1,500 registry tags


def build(repo: Path) -> None:
    """Ten ended runs, then the registry tags written through gitexp's own store, then plain tags."""
    os.environ.update(GIT_ENV)
    import gitexp
    from gitexp.services.registry import message as msg
    from gitexp.services.registry.tagnames import TagName, build as tag_name
    from gitexp.services.session import open_session
    from gitexp.store.tags import create_tag

    gitexp.set_repository(repo)
    commits = []
    for i in range(VERSIONS):
        with gitexp.start_run(run_name=f"bench-{i}") as run:
            gitexp.log_metric("acc", 0.5 + i / 100)
            gitexp.log_text(f"model {i}", "model.pkl")
            ref = run.ref
        commits.append((run.id, subprocess.run(["git", "rev-parse", ref], cwd=repo, capture_output=True,
                                               text=True, check=True).stdout.strip()))
    stages = ["dev", "staging", "production"]
    with open_session(repo) as s:
        for m in range(MODELS):
            model = f"model-{m:02d}"
            for v, (run_id, commit) in enumerate(commits):
                text = msg.compose(f"Register {model} v0.0.{v + 1}", {"run": run_id, "artifact": "model.pkl",
                                                                         "after": 2 * v, "seq": 3 * v})
                create_tag(s.db, tag_name(TagName(model, "register", version=f"v0.0.{v + 1}")), commit, text)
            for n in range(1, STAGE_EVENTS + 1):
                run_id, commit = commits[(n - 1) // 2]
                stage = stages[n % 3]
                text = msg.compose(f"Assign {stage}", {"run": run_id, "after": n - 1})
                create_tag(s.db, tag_name(TagName(model, "assign", stage=stage, number=n)), commit, text)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    lines = "".join(f"create refs/tags/release-{i:05d} {head}\n" for i in range(UNRELATED))
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, input=lines, text=True, check=True)


def best(cmd: list[str], cwd: Path, repeat: int = 7, env: dict | None = None) -> tuple[float, float]:
    """Best wall and best CPU time (user + sys, children included) of `repeat` runs, after a warm-up."""
    import resource

    env = env or user_env()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def show(what: str, figures: tuple[float, float], note: str = "") -> None:
    print(f"{what:<22}{figures[0]:.3f} s wall, {figures[1]:.3f} s CPU  (load {os.getloadavg()[0]:.1f}){note}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gto", default=shutil.which("gto"), help="a gto executable (GTO's show is timed)")
    parser.add_argument("--packed", action="store_true", help="pack the refs first (git pack-refs --all)")
    parser.add_argument("--gto-repeat", type=int, default=2, help="runs of gto show (it takes seconds)")
    parser.add_argument("--repo", help="reuse a repository this script built before (its path)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.repo:
        repo = Path(args.repo)
    else:
        repo = make_repo()
        build(repo)
    if args.packed:
        subprocess.run(["git", "pack-refs", "--all"], cwd=repo, check=True)
    count = len(subprocess.run(["git", "tag", "-l"], cwd=repo, capture_output=True, text=True).stdout.split())
    print(f"repo: {repo} ({count} tags, {'packed' if args.packed else 'loose'}; built in "
          f"{time.perf_counter() - started:.1f} s)")
    cmd = gitexp_cmd()
    ls = best(cmd + ["models", "ls"], repo)
    show("gitexp models ls", ls, "  target <= 0.3 s wall")
    assign = best(cmd + ["models", "assign", "model-07", "v0.0.3", "--stage", "canary", "--force"], repo)
    show("gitexp models assign", assign, "  target <= 0.5 s")
    show("gitexp --version", best(cmd + ["--version"], repo), "  (Python and click start-up, for scale)")
    show("gitexp models show", best(cmd + ["models", "show", "model-07"], repo, repeat=5))
    if args.gto:
        env = {k: v for k, v in user_env().items() if not k.startswith("GITEXP_")}
        gto = best([args.gto, "show"], repo, repeat=args.gto_repeat, env=env)
        show("gto show", gto, f"  ratio gto show / gitexp models ls: {gto[0] / ls[0]:.0f}x wall, "
                              f"{gto[1] / ls[1]:.0f}x CPU")
    else:
        print("gto show              not measured (pass --gto PATH or put gto on PATH)")


if __name__ == "__main__":
    main()
