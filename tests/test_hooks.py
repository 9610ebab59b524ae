"""Git hooks: installation, and real `git commit`s that record the runs made from the staged code."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import gitexp
from gitexp.services.hooks.scripts import HOOK_NAMES, MARKER, VERSION, script_text
from tests.helpers import cli, git

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def gitexp_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook scripts call `gitexp` from PATH: this venv's."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def make_run(name: str, acc: float = 0.9) -> str:
    with gitexp.start_run(run_name=name) as run:
        gitexp.log_metric("acc", acc)
    return run.id


def install(repo: Path, *args: str) -> str:
    proc = cli("hooks", "install", *args, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def commit(repo: Path, *args: str) -> str:
    """A real `git commit`; the new commit's trailers as `git interpret-trailers --parse` reads them."""
    git(repo, "commit", "-q", *args)
    message = git(repo, "log", "-1", "--format=%B")
    return subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True,
                          text=True, cwd=repo, check=True).stdout


def run_trailers(text: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Gitexp-Run: ")]


def test_shipped_scripts_match_the_installed_ones() -> None:
    for name in HOOK_NAMES:
        path = ROOT / "hooks" / name
        assert path.read_text() == script_text(name), f"hooks/{name} is out of date"
        assert path.stat().st_mode & stat.S_IXUSR


def test_plain_commit_records_matching_runs_only(repo: Path) -> None:
    install(repo)
    (repo / "notes.txt").write_text("untracked, not ignored\n")  # snapshotted, yet not staged: still matches
    clean = make_run("clean")
    (repo / "train.py").write_text("print('v2')\n")
    changed = make_run("changed")
    (repo / "train.py").write_text("print('training')\n")
    trailers = commit(repo, "--allow-empty", "-m", "same code as the clean run")
    assert run_trailers(trailers) == [clean]
    # the changed code, staged: the other run; the first is based on the old HEAD, no longer HEAD
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "add", "train.py")
    assert run_trailers(commit(repo, "-m", "v2")) == [changed]


def test_amend_and_rerun_never_duplicate(repo: Path) -> None:
    install(repo)
    run_id = make_run("one")
    commit(repo, "--allow-empty", "-m", "first")
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    # -F with the trailer already in the message: not added twice
    msg = repo.parent / "msg.txt"
    msg.write_text(f"again\n\nGitexp-Run: {run_id}\n")
    assert run_trailers(commit(repo, "--allow-empty", "-F", str(msg))) == [run_id]
    assert run_trailers(commit(repo, "--amend", "--no-edit", "--allow-empty")) == [run_id]


def test_message_of_only_trailers_is_empty_to_git(repo: Path) -> None:
    install(repo)
    make_run("one")
    head = git(repo, "rev-parse", "HEAD")
    env = {**os.environ, "GIT_EDITOR": "true"}  # the editor saves the message untouched
    proc = subprocess.run(["git", "commit", "--allow-empty"], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "empty commit message" in proc.stderr.lower()
    assert git(repo, "rev-parse", "HEAD") == head


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_foreign_hook_is_kept_run_and_restored(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    foreign = "#!/bin/sh\necho foreign >> \"$(git rev-parse --git-dir)/foreign.log\"\n"
    (hooks / "prepare-commit-msg").write_text(foreign)
    os.chmod(hooks / "prepare-commit-msg", 0o755)
    out = install(repo)
    assert "prepare-commit-msg.legacy" in out
    assert (hooks / "prepare-commit-msg.legacy").read_text() == foreign
    assert "up to date" in install(repo)  # idempotent
    run_id = make_run("one")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "x")) == [run_id]
    assert (repo / ".git" / "foreign.log").read_text() == "foreign\n"
    # a foreign hook failing still blocks, as it did before gitexp
    (hooks / "prepare-commit-msg.legacy").write_text("#!/bin/sh\nexit 3\n")
    blocked = subprocess.run(["git", "commit", "--allow-empty", "-m", "y"], cwd=repo, capture_output=True, text=True)
    assert blocked.returncode != 0
    status = cli("hooks", "status", "--json", cwd=repo)
    assert '"legacy": true' in status.stdout
    proc = cli("hooks", "uninstall", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert (hooks / "prepare-commit-msg").read_text() == "#!/bin/sh\nexit 3\n"
    assert not (hooks / "prepare-commit-msg.legacy").exists()
    assert not (hooks / "commit-msg").exists()


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_an_outdated_script_is_upgraded(repo: Path) -> None:
    install(repo)
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text(script_text("prepare-commit-msg").replace(f"{MARKER} v{VERSION}:", f"{MARKER} v1:"))
    assert '"state": "outdated"' in cli("hooks", "status", "--json", cwd=repo).stdout
    assert "upgraded" in install(repo)
    assert hook.read_text() == script_text("prepare-commit-msg")


def test_install_refuses_when_legacy_is_taken(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("pre-commit", "pre-commit.legacy"):
        (hooks / name).write_text("#!/bin/sh\nexit 0\n")
    proc = cli("hooks", "install", cwd=repo)
    assert proc.returncode == 1
    assert "pre-commit.legacy already exists" in proc.stderr and "hint: " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (hooks / "prepare-commit-msg").exists()  # nothing half done
    assert install(repo, "--force")


def test_core_hooks_path_is_respected(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    out = install(repo)
    assert (repo / ".githooks" / "prepare-commit-msg").exists()
    assert not (repo / ".git" / "hooks" / "prepare-commit-msg").exists()
    assert ".githooks" in out
    run_id = make_run("one")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "x")) == [run_id]


@pytest.mark.slow
def test_linked_worktree_shares_the_hooks(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    install(wt)  # installed from the worktree: into the common dir, shared by both
    assert (repo / ".git" / "hooks" / "prepare-commit-msg").exists()
    (wt / "train.py").write_text("print('side')\n")
    proc = cli("run", "--", sys.executable, "train.py", cwd=wt)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stderr.split("(", 1)[1].split(")", 1)[0]
    git(wt, "add", "train.py")
    assert run_trailers(commit(wt, "-m", "side")) == [run_id]
    assert run_trailers(commit(repo, "--allow-empty", "-m", "main")) == []  # the run was made on side


@pytest.mark.slow
def test_failures_never_block_unless_strict(repo: Path) -> None:
    install(repo)
    make_run("one")
    (repo / ".git" / "gitexp" / "index.sqlite").write_bytes(b"not a database")  # must not matter either
    hooks = repo / ".git" / "hooks"
    broken = hooks / "gitexp-broken"
    broken.write_text("#!/bin/sh\necho boom >&2\nexit 1\n")  # a gitexp that fails
    os.chmod(broken, 0o755)
    bin_dir = repo.parent / "bin"
    bin_dir.mkdir()
    (bin_dir / "gitexp").symlink_to(broken)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["git", "commit", "--allow-empty", "-m", "goes on"], cwd=repo, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "the commit goes on" in proc.stderr
    git(repo, "config", "gitexp.hooks.strict", "true")
    proc = subprocess.run(["git", "commit", "--allow-empty", "-m", "blocked"], cwd=repo, capture_output=True,
                          text=True, env=env)
    assert proc.returncode != 0
    # without gitexp on PATH at all: one line, and the commit goes on (even in strict mode)
    env["PATH"] = "/usr/bin:/bin"
    proc = subprocess.run(["git", "commit", "--allow-empty", "-m", "no gitexp"], cwd=repo, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0 and "not on PATH" in proc.stderr


def test_hook_errors_are_one_line(repo: Path, tmp_path: Path) -> None:
    make_run("one")  # something to record, into a message file that is not there
    proc = cli("hook", "prepare-commit-msg", str(tmp_path / "missing-file"), cwd=repo)
    assert proc.returncode == 0
    assert proc.stderr.startswith("gitexp: the prepare-commit-msg hook failed") and "Traceback" not in proc.stderr
    git(repo, "config", "gitexp.hooks.strict", "true")
    assert cli("hook", "prepare-commit-msg", str(tmp_path / "missing-file"), cwd=repo).returncode == 1


def test_runs_named_for_the_next_commit(repo: Path) -> None:
    install(repo)
    (repo / "train.py").write_text("print('other code')\n")
    other = make_run("other")  # its code is not what gets committed
    (repo / "train.py").write_text("print('training')\n")
    proc = cli("hook", "--runs", "other", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert run_trailers(commit(repo, "--allow-empty", "-m", "x")) == [other]
    assert run_trailers(commit(repo, "--allow-empty", "-m", "y")) == []  # only the next commit


@pytest.mark.slow
def test_record_setting_finished(repo: Path) -> None:
    install(repo)
    git(repo, "config", "gitexp.hooks.record", "finished")
    (repo / "train.py").write_text("print('other code')\n")
    run_id = make_run("other")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "x")) == [run_id]
    git(repo, "config", "gitexp.hooks.record", "none")
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    assert run_trailers(commit(repo, "--allow-empty", "-m", "x")) == []


@pytest.mark.slow
def test_pre_commit_warns_about_a_record_folder(repo: Path) -> None:
    install(repo)
    (repo / ".gitexp").mkdir()
    (repo / ".gitexp" / "run.yaml").write_text("id: x\n")
    git(repo, "add", "-f", ".gitexp")
    proc = subprocess.run(["git", "commit", "-m", "merge-like"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "run record folder" in proc.stderr
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    git(repo, "config", "gitexp.hooks.strict", "true")
    proc = subprocess.run(["git", "commit", "-m", "merge-like"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode != 0 and "git rm -r --cached .gitexp" in proc.stderr


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_show_names_the_recording_commits(repo: Path) -> None:
    install(repo)
    run_id = make_run("one")
    commit(repo, "--allow-empty", "-m", "records one")
    sha = git(repo, "rev-parse", "HEAD").strip()
    proc = cli("show", "one", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert f"{sha[:12]}  records one" in proc.stdout
    assert run_id in git(repo, "log", "-1", "--format=%(trailers:key=Gitexp-Run,valueonly)")


def test_hook_path_stays_light_and_in_step() -> None:
    """`gitexp hook` loads neither click nor YAML; its copies of two constants match the originals."""
    from gitexp.services.catalog.cache import SCHEMA
    from gitexp.services.hooks.matching import CACHE_SCHEMA, RUNS_PREFIX as PREFIX_COPY
    from gitexp.store.record import RECORD_DIR
    from gitexp.store.repo import RUNS_PREFIX
    from gitexp.store.treecmp import RECORD_DIR as COPY

    assert (CACHE_SCHEMA, COPY, PREFIX_COPY) == (SCHEMA, RECORD_DIR, RUNS_PREFIX)
    code = ("import sys; sys.argv = ['gitexp', 'hook', 'pre-commit']\n"
            "from gitexp import _entry\n"
            "try:\n    _entry.entry()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'ruamel', 'matplotlib')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


HEAVY = ("dulwich", "click", "ruamel", "yaml", "matplotlib", "gitexp.names", "gitexp.services.session")


def hook_imports(repo: Path, *argv: str) -> tuple[list[str], str]:
    """The heavy modules a `gitexp hook …` process imported, and its stderr."""
    code = (f"import sys; sys.argv = ['gitexp', 'hook', *{list(argv)!r}]\n"
            "from gitexp import _entry\n"
            "try:\n    _entry.entry()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return eval(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.parametrize("indexed", [True, False])
def test_hooks_import_neither_dulwich_nor_click_nor_yaml(repo: Path, indexed: bool) -> None:
    """Every git hook, on a repository with runs to record (from the cache index or read from git)."""
    make_run("light")
    cache = repo / ".git" / "gitexp" / "index.sqlite"
    if indexed:
        assert cli("ls", cwd=repo).returncode == 0 and cache.exists()
    else:
        cache.unlink(missing_ok=True)
    message = repo / ".git" / "COMMIT_EDITMSG"
    message.write_text("light\n")
    loaded, stderr = hook_imports(repo, "prepare-commit-msg", str(message))
    assert loaded == [], loaded
    assert "recorded 1 run(s)" in stderr and "Gitexp-Run: " in message.read_text()
    for argv in (["commit-msg", str(message)], ["pre-commit"]):
        loaded, stderr = hook_imports(repo, *argv)
        assert loaded == [] and "failed" not in stderr, (argv, loaded, stderr)
