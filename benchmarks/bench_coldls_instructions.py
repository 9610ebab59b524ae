"""Instructions of a cold `gitexp ls --all` per process (gitexp, its fill worker, `git cat-file`):
a figure that does not depend on the load of a shared machine, for comparing two versions.

Usage:
    python benchmarks/bench_coldls_instructions.py REPO [--compare /path/to/other/checkout]

REPO is not written to except for its cache file (use a copy). Each version lists every
run once with the cache deleted, under valgrind's callgrind with its children traced; the
worker and `git cat-file` are ended by closing their input instead of killed, so that
callgrind writes their counts. Needs valgrind; takes a few minutes at 10,000 runs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import user_env  # noqa: E402
from bench_scaling import drop_cache  # noqa: E402

import gitexp  # noqa: E402

# Run inside the measured process: children end at the end of their input, then the command runs.
DRIVER = """
import sys
from gitexp.services.catalog import fill
from gitexp.store import catfile

def _stop(proc):
    if proc is not None:
        proc.stdin.close()
        proc.wait()
        proc.stdout.close()

def stop(self):
    self._outbox.put(None)
    for thread in self._threads:
        thread.join()
    self.proc.wait()
    self.proc.stdout.close()

catfile._stop, fill.Worker.stop = _stop, stop
from gitexp.cli.app import main
sys.exit(main(["ls", "--all", "--limit", "20"]))
"""


def counts(repo: Path, checkout: str) -> dict[str, int]:
    """{process: instructions} of one cold listing with the gitexp of `checkout`."""
    drop_cache(repo)
    with tempfile.TemporaryDirectory() as out:
        env = {**user_env(), "PYTHONPATH": checkout}
        subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/cg.%p",
                        sys.executable, "-c", DRIVER], cwd=repo, env=env, capture_output=True, check=True)
        found: dict[str, int] = {}
        for path in Path(out).iterdir():
            text = path.read_text(errors="replace")
            command, total = re.search(r"^cmd: (.*)$", text, re.M), re.search(r"^totals: (\d+)", text, re.M)
            if command and total:
                name = _process(command[1])
                found[name] = found.get(name, 0) + int(total[1])
        return found


def _process(command: str) -> str:
    """A short name for a process from its command line: gitexp, worker, or git and its subcommand."""
    words = command.split()
    if "-I" in words and "-S" in words:
        return "worker"
    if os.path.basename(words[0]).startswith("git"):
        return "git " + next((w for w in words[1:] if not w.startswith("-") and os.sep not in w), "")
    return "gitexp"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--compare", help="another checkout of gitexp, measured after this one")
    args = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(gitexp.__file__)))
    for checkout in [here] + ([args.compare] if args.compare else []):
        found = counts(args.repo, checkout)
        parts = "  ".join(f"{name} {n / 1e6:,.0f} M" for name, n in sorted(found.items()))
        print(f"  {checkout:28s} total {sum(found.values()) / 1e6:,.0f} M instructions: {parts}", flush=True)


if __name__ == "__main__":
    main()
