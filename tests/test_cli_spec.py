"""Commands as tables (gitexp/cli/spec.py): `ls`, `show`, `diff`, `compare`, `push`, `fetch`, `pull` and `gc`
parsed without click give click's values, print byte for byte what the click CLI prints with its exit code,
leave everything unusual to click, and import no click on the way."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest

import gitexp
from gitexp.cli.app import cli as group
from gitexp.cli.clickspec import to_click
from gitexp.cli.commands import COMMANDS
from gitexp.cli.spec import Spec, fast_main, parse
from tests.helpers import cli, git, init_repo, loaded_by, run_refs, slow_case

PY = sys.executable


def spec_of(name: str) -> Spec:
    module, _, attr = COMMANDS[name].partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


SPECS = [name for name in COMMANDS if isinstance(spec_of(name), Spec)]


def click_params(name: str, argv: list[str]) -> dict:
    """The values click's parser gives command `name` for `argv`, under the `gitexp` group."""
    parent = click.Context(group, info_name="gitexp", **group.context_settings)
    return to_click(name, spec_of(name)).make_context(name, list(argv), parent=parent).params


def click_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the click CLI (`gitexp.cli.main`, no fast path) in a subprocess."""
    return subprocess.run([PY, "-c", "import sys; from gitexp.cli import main; sys.exit(main(sys.argv[1:]))", *args],
                          cwd=cwd, capture_output=True, text=True)


# Every form click accepts that the fast parser takes on: each must give click's values exactly.
ORDINARY = {
    "ls": [[], ["-e", "exp", "-n", "5"], ["--experiment=exp", "--limit=0", "--sort", "metrics.acc:desc"],
           ["-a", "-f", "metrics.acc > 0.5", "-s", "params.lr", "-smetrics.acc", "-n3"],
           ["--all", "--filter=params.lr = 0.1", "-c", "id,name,params.lr", "--columns=name"],
           ["--unpushed", "--json"], ["--csv", "-n", "+7"], ["--md"], ["--fmt", "github"], ["--fmt=plain", "-e", ""],
           ["-e", "a", "-e", "b", "-n", "1", "-n", "2"], ["--"]],
    "show": [["r1"], ["r1", "--json"], ["--csv", "r1"], ["--", "-r1"], ["-", "--md"], ["r1", "--fmt", "grid"]],
    "diff": [["a", "b"], ["-a", "a", "b", "--code"], ["a", "--all", "b", "--json"], ["a", "b", "--md"],
             ["a", "b", "--csv"], ["a", "--", "-b"], ["--fmt=github", "a", "b"]],
    "compare": [[], ["a"], ["a", "b", "c", "-d"], ["--diff-only", "a", "b", "--csv"], ["a", "b", "--md"],
                ["a", "--json", "b"], ["--fmt", "tsv", "a", "b"]],
    "push": [[], ["origin"], ["origin", "r1", "r2"], ["-e", "exp", "--dry-run"], ["--experiment=x", "-n", "o"],
             ["-a", "--include-running", "--no-artifacts", "--prune", "-y", "--json"],
             ["--all", "--yes", "origin", "r1"], ["origin", "--", "-r"]],
    "fetch": [[], ["origin"], ["--json"], ["origin", "--json"]],
    "pull": [[], ["origin"], ["-e", "x", "--artifacts", "--restore"], ["--prefer", "ours", "origin"],
             ["--prefer=theirs", "--json", "--experiment", "y"]],
    "gc": [[], ["-n"], ["--dry-run", "--grace", "0"], ["--grace=1.5"], ["--grace", "2e1"]],
}

# What each leaves to click: help, unknown, malformed or abbreviated options, clusters, values click refuses
# or that look like options, missing or extra arguments, options that do not go together.
FALL_THROUGH = {
    "ls": [["-h"], ["--help"], ["--bogus"], ["--lim", "3"], ["-n", "-1"], ["-n", "x"], ["-n"], ["-an", "3"],
           ["-aa"], ["--all=yes"], ["-e", "x", "--all"], ["--json", "--csv"], ["--md", "--fmt", "plain"],
           ["--fmt", "nosuch"], ["-c", "bogus"], ["-e", "-x"], ["extra"], ["-x"]],
    "show": [[], ["a", "b"], ["-h"], ["r1", "--json", "--md"], ["r1", "--bogus"], ["r1", "--fmt"]],
    "diff": [[], ["a"], ["a", "b", "c"], ["a", "b", "-ac"], ["a", "b", "--code=1"], ["a", "b", "--help"]],
    "compare": [["-d", "--json", "--csv"], ["a", "-x"], ["--diff"]],
    "push": [["-h"], ["-ny"], ["-e"], ["-e", "--all"], ["--dry"], ["origin", "-z"]],
    "fetch": [["a", "b"], ["--json=1"], ["-h"]],
    "pull": [["a", "b"], ["--prefer", "mine"], ["--prefer"], ["--prefer", "--json"], ["-e"]],
    "gc": [["--grace", "-1"], ["--grace", "x"], ["--grace"], ["extra"], ["-nn"]],
}


def test_the_everyday_commands_are_tables() -> None:
    assert {"run", "ls", "show", "diff", "push", "pull"} <= set(SPECS)


@pytest.mark.parametrize("name, argv", [(n, a) for n, cases in ORDINARY.items() for a in cases],
                         ids=lambda x: " ".join(x) if isinstance(x, list) else x)
def test_fast_parser_gives_clicks_values(name: str, argv: list[str]) -> None:
    assert parse(spec_of(name), argv) == click_params(name, argv)


@pytest.mark.parametrize("name, argv", [(n, a) for n, cases in FALL_THROUGH.items() for a in cases],
                         ids=lambda x: " ".join(x) if isinstance(x, list) else x)
def test_fast_parser_leaves_the_rest_to_click(name: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # were it run, it would fail here: a fall-through must do nothing
    assert parse(spec_of(name), argv) is None and fast_main([name, *argv]) is None


@pytest.mark.parametrize("name", [n for n in SPECS if n != "run"])  # run's own tests cover it (test_runcli.py)
def test_every_option_is_covered_by_the_parity_tests(name: str) -> None:
    typed = {flag for argv in ORDINARY[name] for arg in argv for flag in (arg.partition("=")[0], arg[:2])}
    assert {flag for opt in spec_of(name).options() for flag in opt.decls} <= typed


def test_completion_and_ascii_streams_are_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    monkeypatch.setenv("_GITEXP_COMPLETE", "bash_complete")
    assert fast_main(["ls"]) is None
    monkeypatch.delenv("_GITEXP_COMPLETE")

    class Ascii:
        encoding = "ascii"

    monkeypatch.setattr(sys, "stdout", Ascii())
    assert fast_main(["ls"]) is None


# -- both ways on real repositories ------------------------------------------------------------------------

def make_runs(path: Path) -> list[str]:
    """Three runs in two experiments, with params, metrics and tags; their names."""
    names = []
    for n, exp in enumerate(["default", "default", "other"]):
        gitexp.set_experiment(exp)
        with gitexp.start_run(run_name=f"r{n}", params={"lr": n / 10, "depth": 2 + n}, tags={"team": "ml"}):
            gitexp.log_metric("acc", n / 3)
            gitexp.log_metric("loss", 1 - n / 3)
        names.append(f"r{n}")
    gitexp.set_experiment("default")
    return names


@pytest.fixture
def pair(repo: Path, tmp_path: Path) -> Path:
    """A folder holding `repo` (three runs, remote `origin` = ../remote.git, a bare repository) and `remote.git`."""
    make_runs(repo)
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    git(repo, "remote", "add", "origin", "../remote.git")
    return tmp_path


def both_ways(base: Path, *args: str, setup: tuple[str, ...] = ()) -> list[tuple[int, str, str]]:
    """`gitexp ARGS` through the console script and through click, each in its own copy of `base` (first
    running `gitexp SETUP` there when given): exit code, stdout and stderr of each."""
    out = []
    for way in ("fast", "click"):
        copy = shutil.copytree(base, Path(tempfile.mkdtemp(dir=base.parent)) / way, symlinks=True)
        if setup:
            assert cli(*setup, cwd=copy / "repo").returncode == 0
        proc = (cli if way == "fast" else click_cli)(*args, cwd=copy / "repo")
        out.append((proc.returncode, proc.stdout, proc.stderr))
        assert "Traceback" not in proc.stderr
        assert git(copy / "repo", "fsck", "--no-dangling").strip() == ""
    return out


READS = [
    ["ls"], ["ls", "--all"], ["ls", "-a", "-n", "1"], ["ls", "-a", "--csv"], ["ls", "-a", "--md"], ["ls", "--json"],
    ["ls", "-a", "-f", "metrics.acc > 0.2", "-s", "metrics.acc:desc"], ["ls", "-a", "-c", "name,params.lr,tags.team"],
    ["ls", "-e", "nosuch"], ["ls", "-f", "metrics.nosuch > 1"], ["ls", "-f", "metrics.acc >"], ["ls", "--fmt", "grid"],
    ["show", "r0"], ["show", "r1", "--json"], ["show", "r2", "--csv"], ["show", "r0", "--md"], ["show", "nosuch"],
    ["diff", "r0", "r1"], ["diff", "r0", "r2", "-a"], ["diff", "r0", "r1", "--json"], ["diff", "r0", "r1", "--md"],
    ["diff", "r0", "r1", "--csv"], ["diff", "r0", "r1", "--code"], ["diff", "r0", "nosuch"],
    ["compare", "r0", "r1", "r2"], ["compare", "r0", "r1", "-d", "--csv"], ["compare", "r0"],
    ["ls", "-n", "-1"], ["ls", "--json", "--csv"], ["show"], ["diff", "r0", "r1", "--bogus"], ["ls", "-c", "x"],
]


# A few forms of each command in the default selection (each copies a repository twice and starts two
# processes); every form in the slow set.
DEFAULT_READS = (["ls"], ["show", "nosuch"], ["diff", "r0", "r1"], ["ls", "-n", "-1"])


def _slow_unless(default: tuple, cases: list) -> list:
    return [case if case in default else slow_case(case) for case in cases]


@pytest.mark.parametrize("argv", _slow_unless(DEFAULT_READS, READS), ids=" ".join)
def test_reads_print_what_click_prints(pair: Path, argv: list[str]) -> None:
    fast, slow = both_ways(pair, *argv)
    assert fast == slow
    assert fast[0] == 0 or fast[2].strip(), "a failure must say why"


SYNC = [
    (["push"], ()), (["push", "origin", "--dry-run"], ()), (["push", "--json"], ()), (["push", "origin", "r0"], ()),
    (["push", "-e", "other"], ()), (["push", "nosuch"], ()), (["push"], ("push",)),
    (["fetch"], ("push",)), (["fetch", "--json"], ("push",)),
    (["pull"], ("push",)), (["pull", "origin", "--json"], ("push",)), (["pull", "--prefer", "ours"], ("push",)),
    (["pull", "nosuch"], ()), (["pull", "--prefer", "mine"], ()), (["gc", "-n"], ()), (["gc", "--grace", "0"], ()),
]


DEFAULT_SYNC = ((["pull"], ("push",)),)


@pytest.mark.parametrize("argv, setup", _slow_unless(DEFAULT_SYNC, SYNC), ids=lambda x: " ".join(x))
def test_sync_commands_print_and_send_what_click_does(pair: Path, argv: list[str], setup: tuple[str, ...]) -> None:
    fast, slow = both_ways(pair, *argv, setup=setup)
    assert fast == slow
    assert fast[0] == 0 or fast[2].strip()


@pytest.mark.slow
def test_a_push_through_the_fast_path_sends_every_run_and_a_clone_pulls_them(pair: Path) -> None:
    repo = pair / "repo"
    assert cli("push", cwd=repo).returncode == 0
    assert git(pair / "remote.git", "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split() == \
        run_refs(repo)
    clone = init_repo(pair / "clone")
    git(clone, "remote", "add", "origin", "../remote.git")
    proc = cli("pull", cwd=clone)
    assert proc.returncode == 0 and "pulled from origin: 3 new" in proc.stderr
    assert run_refs(clone) == run_refs(repo)
    assert cli("ls", "-a", "--csv", cwd=clone).stdout == cli("ls", "-a", "--csv", cwd=repo).stdout


FAST_FORMS = [["ls"], ["ls", "--all", "--json"], ["show", "r0"], ["diff", "r0", "r1"], ["compare", "r0", "r1"],
              ["push"], ["fetch"], ["pull"], ["gc", "-n"]]


@pytest.mark.parametrize("argv", _slow_unless((["diff", "r0", "r1"], ["push"]), FAST_FORMS), ids=" ".join)
def test_importtime_shows_no_click(pair: Path, argv: list[str]) -> None:
    """Nor dataclasses (it loads inspect, ast, dis and tokenize) on the everyday paths: gitexp/slots.py instead."""
    proc = subprocess.run([PY, "-X", "importtime", "-m", "gitexp", *argv], cwd=pair / "repo", capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "gitexp.cli.spec" in imported and not {m for m in imported if m.split(".")[0] == "click"}
    if argv[0] in ("ls", "diff", "push", "fetch", "pull"):
        assert not imported & {"dataclasses", "inspect", "shutil", "tabulate", "dulwich"}


def test_help_and_usage_errors_still_load_click(pair: Path) -> None:
    code = ("import sys; sys.argv = ['gitexp', 'ls', '--json', '--csv']\nfrom gitexp import _entry\n"
            "try:\n    _entry.entry()\nexcept SystemExit as e:\n    assert e.code == 2\n")
    assert loaded_by(code, ("click", "gitexp.cli.app")) == ["click", "gitexp.cli.app"]
