"""`gitexp run` parsed without click (gitexp/cli/spec.py, the table in gitexp/cli/run_cmd.py): the same
values, runs, messages and exit codes as the click command built from the same table, and no click on the way."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitexp.cli import spec
from gitexp.cli.clickspec import to_click
from gitexp.cli.run_cmd import OPTIONS, run
from tests.helpers import cli, git, init_repo, loaded_by, record, run_refs, sampled, show

PY = sys.executable
CMD = ["--", PY, "-c", "pass"]


def click_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the click CLI (`gitexp.cli.main`, no fast path) in a subprocess."""
    return subprocess.run([PY, "-c", "import sys; from gitexp.cli import main; sys.exit(main(sys.argv[1:]))", *args],
                          cwd=cwd, capture_output=True, text=True)


def click_params(argv: list[str]) -> dict:
    """The values click's parser gives the `run` command for `argv`, under the `gitexp` group as the CLI
    runs it (a context without it would leave click's help option cached on the command as `--help` only)."""
    import click

    from gitexp.cli.app import cli as group

    parent = click.Context(group, info_name="gitexp", **group.context_settings)
    return to_click("run", run).make_context("run", list(argv), parent=parent).params


def parse(argv: list[str]) -> dict | None:
    return spec.parse(run, argv)


def fast_main(argv: list[str]) -> int | None:
    return spec.fast_main(["run", *argv])


# Every form click accepts that the fast parser takes on: each must give click's values exactly.
ORDINARY = [
    CMD,
    ["-e", "exp", "-n", "my-run", *CMD],
    ["--experiment", "exp", "--name=my-run", *CMD],
    ["-eexp", "-nmy-run", "-e=x", *CMD],
    ["--experiment=", *CMD],
    ["-p", "lr=0.1", "--param", "+depth=4", "--param=++a.b=1", "-plr=2", *CMD],
    ["-t", "team=ml", "--tag", "note=a b", "--tag=x=", "-tk=v", *CMD],
    ["--keep-params-file", "--force", "--no-wait", "--force", *CMD],
    ["--register", "churn", "--artifact", "model.pkl", *CMD],
    ["--register=churn", "--artifact=model.pkl", "-e", "a", "-e", "b", *CMD],
    ["-e", "x", "--", "--", "echo", "--help", "-e"],
    ["--", "echo", "-p", "x=1", "--force"],
]

# What it leaves to click: help, unknown or malformed options, no `--` or no command, a rule click reports.
FALL_THROUGH = [
    [], ["--"], ["-n", "x", "--"], ["-h", *CMD], ["--help", *CMD], ["--bogus", *CMD], ["--exp", "x", *CMD],
    ["-e", *CMD], ["-e"], ["-n", "-x", *CMD], ["--force=yes", *CMD], ["-x", *CMD], ["-", *CMD],
    [PY, "-c", "pass"], ["-e", "x", PY], ["--artifact", "m.pkl", *CMD], ["", *CMD],
]


@pytest.mark.parametrize("argv", ORDINARY, ids=" ".join)
def test_fast_parser_gives_clicks_values(argv: list[str]) -> None:
    assert parse(argv) == click_params(argv)


@pytest.mark.parametrize("argv", FALL_THROUGH, ids=" ".join)
def test_fast_parser_leaves_the_rest_to_click(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # were it run, it would fail here: a fall-through must start nothing
    assert parse(argv) is None and fast_main(argv) is None


def test_completion_is_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_GITEXP_COMPLETE", "bash_complete")
    assert parse(CMD) is not None and fast_main(CMD) is None


def test_every_option_is_covered_by_the_parity_tests() -> None:
    typed = {flag for argv in ORDINARY for arg in argv for flag in (arg.partition("=")[0], arg[:2])}
    assert {flag for opt in OPTIONS for flag in opt.decls} <= typed


@pytest.mark.parametrize("argv", sampled([["--help"], ["--bogus", *CMD], ["--artifact", "m.pkl", *CMD], ["-n", "x"],
                                          ["-e", "My Exp", *CMD], ["--", "no-such-command-xyz"],
                                          ["-p", *CMD], ["-t", *CMD]]), ids=" ".join)
def test_messages_and_exit_codes_are_clicks(repo: Path, argv: list[str]) -> None:
    """The console script (fast path first) prints what the click CLI prints, with its exit code."""
    got, want = cli("run", *argv, cwd=repo), click_cli("run", *argv, cwd=repo)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    assert got.returncode != 0 or argv == ["--help"]
    assert "Traceback" not in got.stderr and "unexpected" not in got.stderr and run_refs(repo) == []


def test_the_fast_path_imports_no_click(repo: Path) -> None:
    code = ("import sys; sys.argv = ['gitexp', 'run', '-p', 'lr=0.1', '-t', 'a=b', '--', 'true']\n"
            "from gitexp import _entry\ntry:\n    _entry.entry()\nexcept SystemExit as e:\n    assert e.code == 0\n")
    assert loaded_by(code, ("click", "gitexp.cli.app", "gitexp.cli.clickspec", "secrets")) == []
    assert len(run_refs(repo)) == 1


def test_importtime_shows_no_click(repo: Path) -> None:
    proc = subprocess.run([PY, "-X", "importtime", "-m", "gitexp", "run", "--", "true"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "gitexp.cli.spec" in imported and not {m for m in imported if m.split(".")[0] == "click"}


# -- the same recorded run through either path -----------------------------------------------------------

PARAMS = "lr: 0.1\nmodel:\n  depth: 2\n"
CASES = {  # option → (arguments, whether the repository has a params.yaml)
    "experiment": (["-e", "mnist"], False),
    "name": (["--name", "baseline"], False),
    "param": (["-p", "lr=0.01", "-p", "model.depth=4", "--param", "+dropout=0.2"], True),
    "param-no-file": (["-p", "lr=0.01", "-p", "ids=[1, 2]"], False),
    "tag": (["-t", "team=ml", "--tag", "note=a b"], False),
    "keep-params-file": (["--keep-params-file", "-p", "lr=0.5"], True),
    "force": (["--force", "-p", "model=flat"], True),
    "no-wait": (["--no-wait", "-p", "lr=0.2"], True),
    "register": (["--register", "churn", "--artifact", "model.pkl"], False),
}
TRAIN = "open('model.pkl', 'w').write('m'); import gitexp; gitexp.log_artifact('model.pkl'); print('trained')"
VOLATILE = ("id", "name", "start_time", "end_time")


def run_both_ways(tmp_path: Path, argv: list[str], params_file: bool) -> list[dict]:
    """Run `gitexp run ARGV -- python -c TRAIN` through the console script and through click, each in
    a fresh copy of one repository; what each recorded and printed, and its repository's state."""
    base = init_repo(tmp_path / "base")
    if params_file:
        (base / "params.yaml").write_text(PARAMS)
        git(base, "add", "params.yaml")
        git(base, "commit", "-q", "-m", "params")
    out = []
    for way in ("fast", "click"):
        repo = shutil.copytree(base, tmp_path / way, symlinks=True)
        full = ["run", *argv, "--", PY, "-c", TRAIN]
        proc = cli(*full, cwd=repo) if way == "fast" else click_cli(*full, cwd=repo)
        [ref] = run_refs(repo)
        info = record(repo, ref)
        out.append({
            "exit": proc.returncode, "stdout": proc.stdout,
            "stderr": re.sub(r"\d+\.\ds\)", "T)", proc.stderr.replace(info["id"], "ID").replace(info["name"], "NAME")),
            "ref": ref.rsplit("/", 1)[0], "run": {k: v for k, v in info.items() if k not in VOLATILE},
            "params": record(repo, ref, "params.yaml"), "tags": record(repo, ref, "tags.yaml"),
            "log": git(repo, "log", "--format=%s", ref).replace(info["name"], "NAME"),
            "tree": git(repo, "ls-tree", "-r", "--name-only", ref),
            "status": git(repo, "status", "--porcelain"), "model tags": git(repo, "tag", "-l"),
            "named": info["name"] if "-n" in argv or "--name" in argv else None,
        })
        assert "Traceback" not in proc.stderr and git(repo, "fsck", "--no-dangling").strip() == ""
    return out


@pytest.mark.slow  # two real runs per option
@pytest.mark.parametrize("case", list(CASES))
def test_every_option_records_the_same_run_either_way(tmp_path: Path, case: str) -> None:
    argv, params_file = CASES[case]
    fast, slow = run_both_ways(tmp_path, argv, params_file)
    assert fast == slow
    assert fast["exit"] == 0 and fast["stdout"] == "trained\n"
    assert "gitexp: run NAME FINISHED (exit code 0, T); see: gitexp show NAME" in fast["stderr"]
    if case == "register":
        assert fast["model tags"] == "churn@v0.0.1\n" and "registered churn v0.0.1" in fast["stderr"]
    if case == "name":
        assert fast["named"] == "baseline"
    if case == "keep-params-file":
        assert fast["status"] == " M params.yaml\n?? model.pkl\n"  # the overrides were kept


def test_a_failing_command_exits_with_its_code_through_the_fast_path(repo: Path) -> None:
    proc = cli("run", "-t", "k=v", "--", PY, "-c", "raise SystemExit(3)", cwd=repo)
    assert proc.returncode == 3
    [ref] = run_refs(repo)
    assert record(repo, ref)["status"] == "FAILED" and show(repo, ref, ".gitexp/tags.yaml") == "k: v\n"
    assert proc.stderr.splitlines()[-1].startswith("gitexp: run ") and " FAILED (exit code 3, " in proc.stderr


def on_a_terminal(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the console script with stdout and stderr on a pseudo-terminal: its exit code and what it wrote."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([PY, "-m", "gitexp", *args], cwd=repo, stdout=slave, stderr=slave,
                            env={**os.environ, **(env or {})})
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode()


def test_colours_on_a_terminal_as_click_gives_them_and_none_with_no_color(repo: Path) -> None:
    code, out = on_a_terminal(repo, "run", "--", PY, "-c", "pass")
    assert code == 0 and "\x1b[32mgitexp: run " in out and " FINISHED\x1b[0m (exit code 0, " in out
    code, out = on_a_terminal(repo, "run", "--", PY, "-c", "raise SystemExit(1)")
    assert code == 1 and "\x1b[31mgitexp: run " in out
    code, out = on_a_terminal(repo, "run", "-e", "My Exp", "--", PY, "-c", "pass")
    assert code == 1 and "\x1b[31mError: invalid experiment name 'My Exp'" in out
    for args in (["run", "--", PY, "-c", "pass"], ["run", "-e", "My Exp", "--", PY, "-c", "pass"]):
        code, out = on_a_terminal(repo, *args, env={"NO_COLOR": "1"})
        assert "\x1b[" not in out, out
        assert code == (0 if "pass" in args[-1] and "-e" not in args else 1)
