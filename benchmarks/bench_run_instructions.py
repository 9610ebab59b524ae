"""Instructions of `gitexp run -- true` (the gitexp process itself), which do not depend on the load.

Usage:
    python benchmarks/bench_run_instructions.py REPO [--repeat 3] [--checkout DIR ...]

For each checkout (a folder holding `gitexp/`; default: the gitexp this Python imports),
interleaved: one warm-up run (bytecode written, as an installed package has it), then
the fewest instructions valgrind's callgrind counts over `--repeat` runs, and the
dulwich modules `-X importtime` shows imported (none is the bar). Needs valgrind.
Runs started here are added to REPO: measure in a copy (`cp -a`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import user_env  # noqa: E402


def env_for(checkout: Path | None) -> dict[str, str]:
    env = user_env()
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    return env


def instructions(repo: Path, env: dict[str, str]) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-m", "gitexp", "run", "--", "true"],
                         cwd=repo, env=env, capture_output=True, text=True, check=True).stderr
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", ""))  # type: ignore[union-attr]


def dulwich_modules(repo: Path, env: dict[str, str]) -> list[str]:
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitexp", "run", "--", "true"],
                         cwd=repo, env=env, capture_output=True, text=True, check=True).stderr
    return [line.rsplit("|", 1)[1].strip() for line in err.splitlines()
            if line.startswith("import time:") and line.rsplit("|", 1)[1].strip().startswith("dulwich")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkout", type=Path, action="append", help="a folder holding gitexp/ (repeatable)")
    args = parser.parse_args()
    checkouts: list[Path | None] = list(args.checkout or [None])
    for checkout in checkouts:
        src = (checkout or Path(__file__).resolve().parent.parent) / "gitexp"
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
        subprocess.run([sys.executable, "-m", "gitexp", "run", "--", "true"], cwd=args.repo, env=env_for(checkout),
                       capture_output=True, check=True)
    best: dict[int, int] = {}
    for _ in range(args.repeat):  # interleaved, so a change in the repository affects each alike
        for n, checkout in enumerate(checkouts):
            count = instructions(args.repo, env_for(checkout))
            best[n] = min(best.get(n, count), count)
    for n, checkout in enumerate(checkouts):
        mods = dulwich_modules(args.repo, env_for(checkout))
        print(f"{str(checkout or 'this checkout'):40s} {best[n] / 1e6:8.1f} M instructions (best of {args.repeat}); "
              f"dulwich modules imported: {len(mods)}", flush=True)


if __name__ == "__main__":
    main()
