"""Issue 9, items 6, 8 and 9: the small things a new user meets first."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gitexp
from gitexp.errors import GitexpError, InvalidValue
from gitexp.names import _NOUNS, new_run_name
from tests.helpers import cli, git, invoke, record

PY = sys.executable


# -- 6: a read-only repository ------------------------------------------------------------------------

def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs unshare -rm (user and mount namespaces)")
@pytest.mark.slow  # seconds of real processes: in the slow set
def test_every_write_to_a_read_only_repository_is_one_line(repo: Path) -> None:
    with gitexp.start_run(run_name="done"):
        gitexp.log_metric("acc", 0.5)
    gitexp_cmd = shlex.join([PY, "-m", "gitexp"])
    writes = ["tag done a=1", "note done hello", "rename done other", "rm -y done", f"run -- {shlex.quote(PY)} -c pass"]
    script = " ; ".join(f"{gitexp_cmd} {w} ; echo \"rc=$?\"" for w in writes) + f" ; {gitexp_cmd} ls; echo \"rc=$?\""
    proc = subprocess.run(["unshare", "-rm", "sh", "-c",
                           f"mount --bind {repo} {repo} && mount -o remount,bind,ro {repo} && cd {repo} && {script}"],
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == len(writes), proc.stderr
    assert all(line.startswith("Error: repository is read-only: ") for line in errors), errors
    codes = [line for line in proc.stdout.splitlines() if line.startswith("rc=")]
    assert codes == ["rc=1"] * len(writes) + ["rc=0"], proc.stdout  # reading still works
    assert "done" in proc.stdout


# -- 8: snapshots that take too much -------------------------------------------------------------------

@pytest.mark.slow  # seconds of real processes: in the slow set
def test_many_untracked_files_are_mentioned_in_one_line(repo: Path) -> None:
    data = repo / "data"
    data.mkdir()
    for i in range(1001):
        (data / f"{i}.txt").write_text(str(i))
    (repo / "big.bin").write_bytes(b"x" * (2 << 20))
    proc = cli("run", "--", PY, "-c", "pass", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "untracked files" in line]
    assert len(lines) == 1 and "1,001 untracked files" in lines[0] and "mostly data/ (1,001)" in lines[0]
    assert ".gitignore" in lines[0]
    assert "not in the code snapshot (over its size caps): big.bin (2.0 MiB)" in proc.stderr
    (repo / ".gitignore").write_text("data/\nbig.bin\n")
    quiet = cli("run", "--", PY, "-c", "pass", cwd=repo)
    assert "untracked files" not in quiet.stderr and "size caps" not in quiet.stderr


# -- 9 -----------------------------------------------------------------------------------------------------

def test_no_color_is_honoured(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with gitexp.start_run(run_name="a", params={"lr": 0.1}):
        pass
    with gitexp.start_run(run_name="b", params={"lr": 0.2}):
        pass
    coloured = CliRunner().invoke(_main(), ["compare", "a", "b"], color=True)
    assert "\x1b[" in coloured.stdout
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(_main(), ["compare", "a", "b"], color=True)
    assert plain.exit_code == 0 and "\x1b[" not in plain.stdout and "lr" in plain.stdout


def _main():
    from tests.helpers import _Main

    return _Main()


def test_a_misspelt_command_gets_the_closest(repo: Path) -> None:
    result = invoke(CliRunner(), "lss")
    assert result.exit_code == 2
    assert "No such command 'lss'. Did you mean 'ls'?" in result.stderr


def test_shell_completion_offers_run_names_and_ids(repo: Path) -> None:
    with gitexp.start_run(run_name="brisk-otter") as run:
        pass
    env = {"_GITEXP_COMPLETE": "bash_complete", "COMP_WORDS": "gitexp show bri", "COMP_CWORD": "2"}
    values = [line.split(",", 1)[1] for line in cli(cwd=repo, env=env).stdout.splitlines()]
    assert values == ["brisk-otter"]
    proc = cli(cwd=repo, env={**env, "COMP_WORDS": f"gitexp diff {run.id[:5]}"})
    assert [line.split(",", 1)[1] for line in proc.stdout.splitlines()] == [run.id]
    source = cli(cwd=repo, env={"_GITEXP_COMPLETE": "bash_source"})
    assert "_gitexp_completion" in source.stdout


def test_dir_lists_the_api() -> None:
    names = dir(gitexp)
    assert {"log_metric", "start_run", "search_runs", "GitexpError"} <= set(names)


def test_show_quotes_the_command(repo: Path) -> None:
    proc = cli("run", "--", PY, "-c", "print('a b')", cwd=repo)
    assert proc.returncode == 0
    out = invoke(CliRunner(), "show", record(repo, git(repo, "for-each-ref", "--format=%(refname)",
                                                       "refs/gitexp/runs/").strip())["name"]).stdout
    assert f"command     {shlex.join([PY, '-c', 'print(' + chr(39) + 'a b' + chr(39) + ')'])}" in out


def test_the_branch_is_recorded(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/x")
    with gitexp.start_run() as run:
        pass
    assert record(repo, run.ref)["branch"] == "feature/x"
    assert gitexp.get_run(run.id).info.branch == "feature/x"
    git(repo, "checkout", "-q", "--detach")
    with gitexp.start_run() as detached:
        pass
    assert record(repo, detached.ref)["branch"] is None


def test_generated_names_use_distinct_animals() -> None:
    taken: set[str] = set()
    for _ in range(len(_NOUNS)):
        taken.add(new_run_name(taken))
    assert len({name.split("-")[1] for name in taken}) == len(_NOUNS)
    assert new_run_name(taken) not in taken  # then reused, still unique


def test_log_artifact_on_a_folder_points_to_log_artifacts(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with gitexp.start_run():
        with pytest.raises(GitexpError) as info:
            gitexp.log_artifact(tmp_path / "model")
    assert "it is a folder" in info.value.message and "log_artifacts" in info.value.hint


class _Opaque:
    pass


def test_params_without_stable_text_or_over_64_kb_are_refused(repo: Path) -> None:
    with gitexp.start_run():
        with pytest.raises(InvalidValue, match="no stable text form"):
            gitexp.log_param("model", _Opaque())
        with pytest.raises(InvalidValue, match="no stable text form"):
            gitexp.log_param("fn", lambda x: x)
        with pytest.raises(InvalidValue, match="over the 64 KB limit") as info:
            gitexp.log_param("weights", list(range(20000)))
        assert "log it as an artifact" in info.value.hint
        gitexp.log_param("path", Path("data/train.csv"))  # a stable text form is fine
        gitexp.log_param("ok", "x" * 1000)
    [ref] = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split()
    assert record(repo, ref, "params.yaml") == {"path": "data/train.csv", "ok": "x" * 1000}


def test_traceback_option_is_in_help() -> None:
    result = invoke(CliRunner(), "--help")
    assert "--traceback" in result.stdout


def test_a_run_without_any_git_identity_records(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/storage-format.md: without a git identity, gitexp uses the system's rather than refusing."""
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    assert subprocess.run(["git", "config", "user.name"], cwd=repo, capture_output=True).stdout == b""
    with gitexp.start_run() as run:
        pass
    author = git(repo, "log", "-1", "--format=%an <%ae>", run.ref).strip()
    assert author and "@" in author and not author.startswith("gitexp ")
    data = json.loads(invoke(CliRunner(), "show", run.id, "--json").stdout)
    assert data["info"]["user"] == "tester"  # $USER in the tests' environment
