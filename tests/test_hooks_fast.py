"""The hook scripts' fast ways: no Python for a commit that cannot record a run, Python without `site` otherwise.

A `gitexp` on PATH that logs each call and hands over to the real one tells whether
a commit started gitexp the slow way (through the command), the fast way (straight
into its Python, from `.git/gitexp/hook-python`), or not at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gitexp
from gitexp.store import runyaml_lite
from tests.helpers import cli, git
from tests.test_hooks import commit, install, make_run, run_trailers


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A logging `gitexp` first on PATH; the log file it writes ('hook <name>' per call)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "gitexp-calls.log"
    bin_dir.mkdir()
    real = Path(sys.executable).parent / "gitexp"
    (bin_dir / "gitexp").write_text(f'#!/bin/sh\necho "$1 $2" >> "{log}"\nexec "{real}" "$@"\n')
    (bin_dir / "gitexp").chmod(0o755)
    log.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{real.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def way_file(repo: Path) -> Path:
    return repo / ".git" / "gitexp" / "hook-python"


def slow_calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("hook ")]


def test_python_starts_straight_once_gitexp_left_the_way(repo: Path, calls: Path) -> None:
    install(repo)
    run_id = make_run("one")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "first")) == [run_id]
    assert slow_calls(calls) == ["hook prepare-commit-msg"]  # through the command: it leaves the way
    lines = way_file(repo).read_text().splitlines()
    assert lines[0] == str(calls.parent / "bin" / "gitexp") and Path(lines[1]).exists()
    assert (Path(lines[2]) / "gitexp" / "hookrun.py").exists() and Path(lines[3]).is_dir()
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "again")) == [run_id]
    assert slow_calls(calls) == ["hook prepare-commit-msg"]  # the second one went straight to Python


def test_an_install_since_sends_the_next_hook_the_slow_way(repo: Path, calls: Path, tmp_path: Path) -> None:
    install(repo)
    run_id = make_run("one")
    commit(repo, "--allow-empty", "-m", "first")
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    # the folder an install changes, newer than the directions: they may be stale
    lines = way_file(repo).read_text().splitlines()
    site = tmp_path / "site-packages"
    site.mkdir()
    way_file(repo).write_text("\n".join([*lines[:3], str(site)]) + "\n")
    later = time.time() + 60
    os.utime(site, (later, later))
    assert run_trailers(commit(repo, "--allow-empty", "-m", "again")) == [run_id]
    assert len(slow_calls(calls)) == 2
    assert way_file(repo).read_text().splitlines() == lines  # written again, for the real gitexp
    # directions for another gitexp command, or broken ones: the slow way, never a failure
    for text in (f"/elsewhere/gitexp\n{lines[1]}\n{lines[2]}\n{lines[3]}\n", "garbage\n"):
        git(repo, "reset", "-q", "--soft", "HEAD~1")
        way_file(repo).write_text(text)
        assert run_trailers(commit(repo, "--allow-empty", "-m", "again")) == [run_id]
    assert len(slow_calls(calls)) == 4


def age_run_refs(repo: Path, seconds: int) -> None:
    """Make the run ref folders look last written `seconds` ago."""
    when = time.time() - seconds
    runs = repo / ".git" / "refs" / "gitexp" / "runs"
    for path in [runs, *runs.iterdir()]:
        os.utime(path, (when, when))


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_no_python_for_a_commit_that_cannot_record_a_run(repo: Path, calls: Path) -> None:
    install(repo)
    make_run("old")
    commit(repo, "--allow-empty", "-m", "records old")
    way_file(repo).unlink()  # so that any Python start shows in the log
    calls.write_text("")
    commit(repo, "--allow-empty", "-m", "runs written minutes ago: Python looks")
    assert slow_calls(calls) == ["hook prepare-commit-msg"]
    way_file(repo).unlink()
    age_run_refs(repo, 3600)  # the last run ref was written an hour before HEAD
    calls.write_text("")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "nothing to record")) == []
    assert slow_calls(calls) == []
    # runs named for the next commit are recorded all the same
    proc = cli("hook", "--runs", "old", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert run_trailers(commit(repo, "--allow-empty", "-m", "named")) != []
    # and so is a new run on HEAD
    run_id = make_run("new")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "new")) == [run_id]


def test_a_record_outside_the_fast_subset_still_matches_without_site(repo: Path, calls: Path) -> None:
    """Python started with -S loads site-packages (YAML) when a run.yaml needs the real loader."""
    install(repo)
    with gitexp.start_run(run_name="edited") as run:
        pass
    ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").strip()
    old = git(repo, "rev-parse", ref).strip()
    text = "# edited by hand\n" + git(repo, "show", f"{old}:.gitexp/run.yaml")
    assert runyaml_lite.run_fields(text.encode()) is runyaml_lite.FALLBACK
    env = {**os.environ, "GIT_INDEX_FILE": str(repo.parent / "edit-index")}

    def plumbing(*args: str, text: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=repo, input=text, capture_output=True, text=True, env=env,
                              check=True).stdout.strip()

    blob = plumbing("hash-object", "-w", "--stdin", text=text)
    plumbing("read-tree", old)
    plumbing("update-index", "--cacheinfo", f"100644,{blob},.gitexp/run.yaml")
    new = plumbing("commit-tree", plumbing("write-tree"), "-p", old, "-m", "edit run.yaml")
    git(repo, "update-ref", ref, new, old)
    (repo / ".git" / "gitexp" / "index.sqlite").unlink(missing_ok=True)  # read from git, not the cache
    assert run_trailers(commit(repo, "--allow-empty", "-m", "slow way")) == [run.id]
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "fast way")) == [run.id]
    assert slow_calls(calls) == ["hook prepare-commit-msg"]


def test_the_fast_start_loads_little(repo: Path) -> None:
    """What `python -I -S` imports for a hook that records a run: no subprocess, re, json, pathlib, typing."""
    run_id = make_run("light")
    assert cli("ls", cwd=repo).returncode == 0  # the cache index, read with sqlite3
    message = repo / ".git" / "COMMIT_EDITMSG"
    message.write_text("light\n")
    lib = str(Path(gitexp.__file__).parent.parent)
    code = (f"import sys; sys.path.append({lib!r}); from gitexp.hookrun import hook_main\n"
            f"code = hook_main(['prepare-commit-msg', {str(message)!r}])\n"
            "print(code, sorted(m for m in ('subprocess', 're', 'json', 'pathlib', 'typing', 'enum', 'site', "
            "'sqlite3') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.stdout.split(None, 1) == ["0", "['sqlite3']\n"], proc.stdout + proc.stderr
    assert f"Gitexp-Run: {run_id}" in message.read_text()


@pytest.mark.parametrize("code_first", [100, 0])
def test_code_first_or_records_first_the_same_runs(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                   code_first: int) -> None:
    """A few runs since HEAD are matched code first, many records first: the same answer."""
    from gitexp.services.hooks import matching
    from gitexp.store.gitlite import HookRepo

    monkeypatch.setattr(matching, "CODE_FIRST", code_first)
    same = make_run("same")
    (repo / "train.py").write_text("print('other')\n")
    make_run("other")  # other code
    (repo / "train.py").write_text("print('training')\n")
    blob = git(repo, "hash-object", "-w", "train.py").strip()
    git(repo, "update-ref", "refs/gitexp/runs/default/" + "1" * 16, blob)  # a malformed pushed "run"
    for indexed in (True, False):
        if indexed:
            assert cli("ls", cwd=repo).returncode == 0
        else:
            (repo / ".git" / "gitexp" / "index.sqlite").unlink(missing_ok=True)
        with HookRepo(str(repo)) as db:
            assert [c.id for c in matching.select_runs(db, str(repo)).runs] == [same]
            assert len(matching.select_runs(db, str(repo), "finished").runs) == 2
