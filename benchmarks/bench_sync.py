"""Time `gitexp push` / `pull` against plain `git push` / `git fetch` of the same refs.

Usage: python benchmarks/bench_sync.py [--small 200] [--large 1000] [--big-artifacts 10]

Prints wall-clock seconds of whole commands (Python start-up included), each
beside the real git command moving the same run refs to an identical remote:
  - N runs pushed to a local bare remote, and pulled into a fresh clone;
  - M runs, K of them with a 2 MiB side-store artifact, first push and a no-op push.
Targets (issue 10): 200 runs push <= 0.5 s, pull <= 0.5 s; 1,000 runs first push <= 3x
`git push`; no-op push <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import GIT_ENV, make_repo  # noqa: E402
from gen_runs import generate  # noqa: E402

ENV = {**os.environ, **GIT_ENV}
SPEC = "refs/gitexp/runs/*:refs/gitexp/runs/*"


def sh(cwd: Path, *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(args), cwd=cwd, env=ENV, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return took


def gx(cwd: Path, *args: str) -> float:
    return sh(cwd, sys.executable, "-m", "gitexp", *args)


def bare(parent: Path, name: str, src: Path) -> Path:
    path = parent / name
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True, env=ENV)
    subprocess.run(["git", "push", "-q", str(path), "main"], cwd=src, check=True, env=ENV)
    return path


def add_big_runs(repo: Path, count: int) -> None:
    code = ("import os, gitexp\n"
            "gitexp.set_repository('.')\n"
            f"for i in range({count}):\n"
            "    with gitexp.start_run(run_name=f'big-{i}'):\n"
            "        open('weights.bin', 'wb').write(os.urandom(2 << 20))\n"
            "        gitexp.log_artifact('weights.bin', 'model')\n"
            "os.unlink('weights.bin')\n")
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, env=ENV)


def small(tmp: Path, runs: int) -> None:
    repo = make_repo(str(tmp))
    generate(repo, runs, params=10, metrics=3, steps=20)
    ours, theirs = bare(tmp, "small-gitexp.git", repo), bare(tmp, "small-git.git", repo)
    subprocess.run(["git", "remote", "add", "origin", str(ours)], cwd=repo, check=True, env=ENV)
    subprocess.run(["git", "remote", "add", "plain", str(theirs)], cwd=repo, check=True, env=ENV)
    t_push = gx(repo, "push", "origin")
    t_git_push = sh(repo, "git", "push", "-q", "plain", SPEC)
    fresh = tmp / "small-fresh"
    subprocess.run(["git", "clone", "-q", str(ours), str(fresh)], check=True, env=ENV)
    plain = tmp / "small-plain"
    subprocess.run(["git", "clone", "-q", str(theirs), str(plain)], check=True, env=ENV)
    t_pull = gx(fresh, "pull", "origin")
    t_git_fetch = sh(plain, "git", "fetch", "-q", "origin", SPEC)
    print(f"{runs} runs, push to a local bare remote: gitexp push {t_push:.2f} s | git push {t_git_push:.2f} s"
          f"   (target <= 0.5 s)")
    print(f"{runs} runs, pull into a fresh clone:     gitexp pull {t_pull:.2f} s | git fetch {t_git_fetch:.2f} s"
          f"   (target <= 0.5 s)")


def large(tmp: Path, runs: int, big: int) -> None:
    repo = make_repo(str(tmp))
    generate(repo, runs - big, params=10, metrics=3, steps=20)
    add_big_runs(repo, big)
    store = tmp / "store"
    store.mkdir()
    ours, theirs = bare(tmp, "large-gitexp.git", repo), bare(tmp, "large-git.git", repo)
    subprocess.run(["git", "remote", "add", "origin", str(ours)], cwd=repo, check=True, env=ENV)
    subprocess.run(["git", "remote", "add", "plain", str(theirs)], cwd=repo, check=True, env=ENV)
    gx(repo, "store", "set", "origin", str(store))
    t_push = gx(repo, "push", "origin")
    t_git_push = sh(repo, "git", "push", "-q", "plain", SPEC)
    t_noop = gx(repo, "push", "origin")
    t_git_noop = sh(repo, "git", "push", "-q", "plain", SPEC)
    t_help = gx(repo, "--version")
    print(f"{runs} runs ({big} with a 2 MiB artifact), first push: gitexp push {t_push:.2f} s | "
          f"git push {t_git_push:.2f} s (ratio {t_push / t_git_push:.1f}x; target <= 3x; gitexp also copies "
          f"{big * 2} MiB to the store)")
    print(f"{runs} runs, no-op push:               gitexp push {t_noop:.2f} s | git push {t_git_noop:.2f} s"
          f"   (target <= 0.3 s; Python start-up alone: gitexp --version {t_help:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--big-artifacts", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitexp-bench-sync-"))
    try:
        small(tmp, args.small)
        large(tmp, args.large, args.big_artifacts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
