"""The CLI's group and error boundary, the shared output options, and terminal-safe output."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import gitexp
from gitexp.cli import COMMANDS, cli, main
from gitexp.cli.app import SUMMARIES
from gitexp.render.formats import escape_controls
from tests.helpers import default_signals, invoke

EVIL = "\x1b]0;x\x07"  # sets the terminal title (OSC 0), ended by BEL
EVIL_SHOWN = "\\033]0;x\\a"


def make_run(name: str, lr: float, acc: float, tags: dict | None = None) -> str:
    with gitexp.start_run(run_name=name, params={"lr": lr}, tags=tags) as run:
        gitexp.log_metric("acc", acc)
    return run.id


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# -- the error boundary ------------------------------------------------------------------------------

def test_gitexp_error_is_one_line_and_a_hint_exit_1(repo: Path, runner: CliRunner) -> None:
    result = invoke(runner, "show", "zzzz-nope")
    assert result.exit_code == 1 and result.stdout == ""
    lines = stderr_lines(result)
    assert lines[0] == "Error: no run matches 'zzzz-nope'" and all(
        line.startswith(("Error: ", "hint: ")) for line in lines), lines


def test_gitexp_error_keeps_its_exit_code_and_pointer(repo: Path, runner: CliRunner) -> None:
    make_run("a", 0.1, 0.5)
    result = invoke(runner, "ls", "-f", "metrics.acc >")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and "  metrics.acc >\n" in result.stderr and "^" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["ls", "--bogus"], "No such option '--bogus'"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    (["ls", "--json", "--csv"], "choose one of --json, --csv and --md"),
    (["show", "abcd", "--md", "--json"], "choose one of --json, --csv and --md"),
    (["diff", "a", "b", "--fmt", "github", "--csv"], "--fmt sets the table format of text output"),
    (["compare", "a", "b", "--fmt", "nope"], "unknown format 'nope'"),
    (["ls", "-e", "default", "--all"], "-e and --all cannot be combined"),
    (["plot", "-e", "default", "--all", "-m", "loss"], "-e and --all cannot be combined"),
    (["plot", "--scatter", "--parallel", "a", "b"], "--scatter and --parallel cannot be combined"),
    (["plot", "a", "-m", "loss", "-e", "default"], "give either runs or -e/--all, not both"),
])
def test_usage_errors_exit_2(repo: Path, runner: CliRunner, args: list[str], message: str) -> None:
    result = invoke(runner, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr and result.stdout == "" and "Traceback" not in result.stderr


def _explode(*_args: object, **_kwargs: object) -> None:
    raise ValueError("boom")


def test_unexpected_error_suggests_traceback(repo: Path, runner: CliRunner, monkeypatch) -> None:
    import gitexp.services.catalog.listing as listing

    monkeypatch.setattr(listing, "get_run", _explode)
    result = invoke(runner, "show", "some run")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert stderr_lines(result) == ["Error: unexpected ValueError: boom",
                                    "hint: rerun as \"gitexp --traceback show 'some run'\" and report the output"]


def test_traceback_option_prints_the_traceback(repo: Path, runner: CliRunner, monkeypatch) -> None:
    import gitexp.services.catalog.listing as listing

    monkeypatch.setattr(listing, "get_run", _explode)
    result = invoke(runner, "--traceback", "show", "abcd")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr and "ValueError: boom" in result.stderr
    assert stderr_lines(result)[-1] == "hint: please report the traceback above"
    assert "--traceback" in cli.get_help(cli.make_context("gitexp", ["--help"], resilient_parsing=True))


def test_keyboard_interrupt_in_a_command(repo: Path, runner: CliRunner, monkeypatch) -> None:
    import gitexp.services.catalog.listing as listing

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(listing, "get_run", interrupted)
    result = invoke(runner, "show", "abcd")
    assert result.exit_code == 130 and stderr_lines(result) == ["Interrupted."]


def test_declined_prompt_is_aborted_exit_1(repo: Path, runner: CliRunner) -> None:
    make_run("keep-me", 0.1, 0.5)
    result = runner.invoke(cli, ["rm", "keep-me"], input="n\n")
    assert result.exit_code == 1 and "Aborted." in result.stderr


def test_main_returns_the_code_and_the_group_exits_with_it(repo: Path, runner: CliRunner) -> None:
    assert main(["--version"]) == 0
    assert main(["show", "zzzz-nope"]) == 1
    assert main(["ls", "--bogus"]) == 2
    assert runner.invoke(cli, ["show", "zzzz-nope"]).exit_code == 1  # standalone: sys.exit(code)


def test_sigint_at_a_prompt_is_interrupted_exit_130(repo: Path) -> None:
    make_run("keep-me", 0.1, 0.5)
    proc = subprocess.Popen([sys.executable, "-m", "gitexp", "rm", "keep-me"], cwd=repo, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals)
    seen = b""
    deadline = time.monotonic() + 60
    while b"Remove?" not in seen and time.monotonic() < deadline:  # wait for the prompt, then Ctrl-C
        if select.select([proc.stderr], [], [], 1)[0]:
            seen += os.read(proc.stderr.fileno(), 4096)
    assert b"Remove?" in seen, seen
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (seen + err).decode()
    assert b"Interrupted." in err and b"Traceback" not in seen + err
    assert invoke(CliRunner(), "show", "keep-me").exit_code == 0  # nothing was removed


def test_broken_pipe_is_quiet(repo: Path) -> None:
    make_run("a", 0.1, 0.5)
    proc = subprocess.Popen([sys.executable, "-m", "gitexp", "ls"], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before gitexp writes: `gitexp ls | head -0`
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert err == b"" and proc.returncode == 141


def test_broken_pipe_through_a_shell_pipeline(repo: Path) -> None:
    for n in range(3):
        make_run(f"r{n}", n / 10, n / 4)
    proc = subprocess.run(f"'{sys.executable}' -m gitexp ls --limit 0 | head -1", shell=True, cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split()[:2] == ["id", "name"] and proc.stderr == ""


# -- help --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_with_an_example(runner: CliRunner, name: str) -> None:
    result = invoke(runner, name, "--help")
    assert result.exit_code == 0, result.stderr
    assert "\nExample:\n" in result.stdout or "\n  Example:\n" in result.stdout
    assert "    gitexp " + name in result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_command_list_shows_each_help_s_first_sentence(name: str) -> None:
    cmd = cli.get_command(click.Context(cli), name)
    assert cmd is not None and list(SUMMARIES) == list(COMMANDS)
    listed = click.Command(name, help=SUMMARIES[name])
    for width in (20, 45, 80, 10_000):  # as click would cut the command's own help, at any terminal width
        assert listed.get_short_help_str(width) == cmd.get_short_help_str(width)
    assert SUMMARIES[name] == cmd.get_short_help_str(10_000)


@pytest.mark.parametrize("columns", ["30", "80", "junk"])
def test_the_console_scripts_top_help_is_clicks_page_without_click(columns: str, tmp_path: Path) -> None:
    """`gitexp --help` and `-h` print click's page, at any terminal width, loading no click."""
    env = {**os.environ, "COLUMNS": columns}
    clicks = subprocess.run([sys.executable, "-c", "from gitexp.cli import main; main(['--help'])"],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert clicks.returncode == 0 and clicks.stdout.startswith("Usage: gitexp [OPTIONS] COMMAND")
    probe = ("import sys; sys.argv[1:] = sys.argv[2:]\nfrom gitexp._entry import entry\ntry:\n    entry()\n"
             "except SystemExit as e:\n    print('click' in sys.modules, e.code, file=sys.stderr)")
    for flag in ("--help", "-h"):
        ours = subprocess.run([sys.executable, "-c", probe, "gitexp", flag], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert (ours.returncode, ours.stdout, ours.stderr) == (0, clicks.stdout, "False 0\n")
    if columns != "80":
        return
    bare = subprocess.run([sys.executable, "-c", probe, "gitexp"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)  # no arguments: click's page on stderr, exit 2
    clicks_bare = subprocess.run([sys.executable, "-c", "from gitexp.cli import main; raise SystemExit(main([]))"],
                                 capture_output=True, text=True, env=env, cwd=tmp_path)
    assert (clicks_bare.returncode, clicks_bare.stdout, clicks_bare.stderr) == (2, "", clicks.stdout)
    assert (bare.stdout, bare.stderr) == ("", clicks.stdout + "False 2\n")


def test_the_top_help_page_at_widths_click_would_be_given() -> None:
    from gitexp.cli.helptext import top_help

    for width in (50, 58, 78, 100):
        with click.Context(cli, info_name="gitexp", terminal_width=width) as ctx:
            assert top_help(width) == cli.get_help(ctx)


TRICKY_TEXTS = [
    "A word longer than any line: " + "x" * 90 + " and a hyphenated-compound-word-that-is-rather-long end.",
    "First paragraph.\n\n    An indented one,\n    over two lines.\n\n\b\nKept:\n    as   it is\n\nLast.",
    "Tabs\tand  double  spaces stay as click keeps them. e.g. lower-case after a dot. Next sentence.",
    "\b\nA summary after a no-rewrap mark. More.",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_help_wrapping_and_short_help_are_clicks(text: str) -> None:
    from click.formatting import wrap_text

    from gitexp.cli.helptext import short_help, wrap

    for width in (10, 30, 50, 78):
        assert wrap(text, width, "  ") == wrap_text(text, width, "  ", "  ", preserve_paragraphs=True)
        assert short_help(text, width) == click.Command("c", help=text).get_short_help_str(width)


def test_top_level_help_imports_no_command_module() -> None:
    from tests.helpers import loaded_by

    modules = tuple(spec.partition(":")[0] for spec in COMMANDS.values())
    assert loaded_by("from gitexp.cli import main\nmain(['--help'])", modules) == []


@pytest.mark.parametrize("name", ["ls", "show", "diff", "compare"])
def test_data_commands_share_the_output_options(runner: CliRunner, name: str) -> None:
    text = invoke(runner, name, "--help").stdout
    assert all(opt in text for opt in ("--json", "--csv", "--md", "--fmt FORMAT")), text


# -- ls --md / --csv ----------------------------------------------------------------------------------

def test_ls_markdown_and_csv_exact(repo: Path, runner: CliRunner) -> None:
    first = make_run("first", 0.1, 0.5)
    second = make_run("second", 0.25, 0.123456789)
    md = invoke(runner, "ls", "--md", "-c", "name,status,params.lr,metrics.acc")
    assert md.exit_code == 0, md.stderr
    assert md.stdout == ("| name | status | p.lr | m.acc |\n"
                         "|---|---|---|---|\n"
                         "| second | FINISHED | 0.25 | 0.1235 |\n"
                         "| first | FINISHED | 0.1 | 0.5 |\n")
    csv = invoke(runner, "ls", "--csv", "-c", "id,name,params.lr,metrics.acc,tags.none")
    assert csv.stdout == ("id,name,params.lr,metrics.acc,tags.none\n"
                          f"{second},second,0.25,0.123456789,\n"
                          f"{first},first,0.1,0.5,\n")
    default = invoke(runner, "ls", "--csv").stdout.splitlines()
    assert default[0] == "id,name,status,start,duration,params.lr,metrics.acc"
    assert default[1].startswith(f"{second},second,FINISHED,20") and default[1].endswith(",0.25,0.123456789")


# -- control characters from records are escaped --------------------------------------------------------

def test_escape_controls() -> None:
    assert escape_controls(EVIL) == EVIL_SHOWN
    assert escape_controls("a\tb\nc\rd\x00e\x7f\x9b") == "a\tb\nc\\rd\\000e\\177\\233"
    assert escape_controls(escape_controls(EVIL)) == EVIL_SHOWN  # idempotent


@pytest.mark.parametrize("args", [
    ["ls", "-c", "name,tags.title"], ["ls", "-c", "name,tags.title", "--md"], ["ls", "-c", "name,tags.title", "--csv"],
    ["show", "evil"], ["show", "evil", "--md"], ["show", "evil", "--csv"],
    ["diff", "evil", "good"], ["diff", "evil", "good", "--md"], ["diff", "evil", "good", "--csv"],
    ["compare", "evil", "good"], ["tag", "evil"],
])
def test_control_characters_are_escaped(repo: Path, runner: CliRunner, args: list[str]) -> None:
    make_run("evil", 0.1, 0.5, tags={"title": EVIL})
    make_run("good", 0.2, 0.6)
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    if args[0] != "compare":  # compare shows params and metrics only
        assert "033]0;x" in result.stdout, result.stdout
