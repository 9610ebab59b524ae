"""Helpers for tests: the real git CLI, the real gitexp CLI, and an in-process invoker."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result


def git(cwd: Path, *args: str, check: bool = True, input_text: str | None = None) -> str:
    """Run the real git CLI (with `input_text` on stdin) and return its stdout."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input_text)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def cli(*args: str, cwd: Path | None = None, env: dict | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `gitexp` command in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "gitexp", *args], cwd=cwd, capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def invoke(runner: CliRunner, *args: str) -> Result:
    """Invoke the CLI in-process through its error boundary (result.stdout, .stderr, .exit_code)."""
    return runner.invoke(_Main(), list(args))  # type: ignore[arg-type]


class _Main:
    """Adapter so CliRunner drives `gitexp.cli.main` (with its error boundary)."""

    name = "gitexp"

    def main(self, args: list[str], prog_name: str = "gitexp", standalone_mode: bool = True, **_: object) -> None:
        from gitexp.cli import main

        code = main(list(args))
        sys.exit(code)


# -- run records through the real git CLI (used by the tracking/CLI/fault/interop tests) --

RUNS = "refs/gitexp/runs/"


def run_refs(repo: Path, experiment: str | None = None) -> list[str]:
    """Every run ref (or one experiment's), as `git for-each-ref` lists them."""
    prefix = RUNS + (f"{experiment}/" if experiment else "")
    return git(repo, "for-each-ref", "--format=%(refname)", prefix).split()


def show(repo: Path, rev: str, path: str) -> str:
    """`git show <rev>:<path>`: a file of a run commit, read by real git."""
    return git(repo, "show", f"{rev}:{path}")


def record(repo: Path, rev: str, name: str = "run.yaml"):
    """A YAML file of a run's record (`.gitexp/<name>`), read by real git and parsed."""
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(show(repo, rev, f".gitexp/{name}"))


def metric_rows(repo: Path, rev: str, key: str) -> list[list[str]]:
    """The rows of `.gitexp/metrics/<key>.tsv` as text cells, header checked."""
    lines = show(repo, rev, f".gitexp/metrics/{key}.tsv").splitlines()
    assert lines[0] == "step\tvalue\ttimestamp", lines[0]
    return [line.split("\t") for line in lines[1:]]


def isolate(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Keep git and gitexp away from $HOME, the global config and any outer run; fix identities."""
    for key, value in {
        "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "test@example.com", "USER": "tester",
    }.items():
        mp.setenv(key, value)
    for var in ("GITEXP_RUN_ID", "GITEXP_RUN_REF", "GITEXP_GIT_DIR"):
        mp.delenv(var, raising=False)


_TEMPLATES: dict[tuple[str, ...], Path] = {}
_IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_DEFAULT_HASH")


def init_repo(path: Path) -> Path:
    """A new git repository at `path` with one commit (train.py).

    Made once per test process and identity with the real git CLI, then copied:
    three git processes per test were a tenth of the suite's time.
    """
    key = tuple(os.environ.get(k, "") for k in _IDENTITY)
    template = _TEMPLATES.get(key)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="gitexp-test-template-")) / "repo"
        template.mkdir()
        git(template, "init", "-q", "-b", "main")
        (template / "train.py").write_text("print('training')\n")
        git(template, "add", "train.py")
        git(template, "commit", "-q", "-m", "initial")
        _TEMPLATES[key] = template
        atexit.register(shutil.rmtree, template.parent, True)
    shutil.copytree(template, path, symlinks=True, dirs_exist_ok=True)
    return path


def repo_made_once(factory: pytest.TempPathFactory, name: str, fill: Callable[[Path], object]) -> Path:
    """A repository for a module's tests (they copy it): `fill(path)` runs in an isolated environment."""
    path = factory.mktemp(name) / "repo"
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, factory.mktemp(f"{name}-home"))
        init_repo(path)
        fill(path)
    return path


def loaded_by(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after running `code` (asked at exit:
    `gitexp run` ends its process at once, running only the atexit handlers)."""
    probe = ("import atexit, sys\n"
             "def _report():\n    import json\n"
             f"    print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)), flush=True)\n"
             f"atexit.register(_report)\n{code}\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def default_signals() -> None:
    """A `preexec_fn`: SIGINT and SIGHUP as a terminal would deliver them, even when the suite
    itself runs where they are ignored (a background job of a script, `nohup`), since ignored
    signals stay ignored across exec."""
    import signal

    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def slow_case(case: object) -> object:
    """A parametrize case marked slow: `-m slow` runs it, the README's command does not."""
    return pytest.param(*(case if isinstance(case, tuple) else (case,)), marks=pytest.mark.slow)


def sampled(cases: list, every: int = 3) -> list:
    """The first case and every `every`-th after it in the default run; the others only with `-m slow`.

    For the long tables that check one behaviour case by case: the README's command stays
    quick, and CI's slow step still runs every case.
    """
    return [case if i % every == 0 else slow_case(case) for i, case in enumerate(cases)]
