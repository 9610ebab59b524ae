"""`gitexp tag`, `note`, `rename`, `rm`: edits are commits on the run ref; rm is undoable."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import gitexp
from gitexp.store import yamlio
from tests.helpers import cli, git, invoke


def make_run(name: str, tags: dict | None = None) -> tuple[str, str]:
    """An ended run with a metric, an inline artifact and a tag; returns (ref, tip)."""
    with gitexp.start_run(run_name=name, tags=tags or {"keep": "1"}) as run:
        gitexp.log_param("lr", 0.01)
        gitexp.log_metric("loss", 0.5)
        gitexp.log_metric("loss", 0.25)
        gitexp.log_text("hello artifact", "notes/a.txt")
        ref = run.ref
    return ref, read_ref(Path.cwd(), ref)


def read_ref(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", "--verify", "-q", ref).strip()


def record(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:.gitexp/{path}")


def subjects(repo: Path, ref: str) -> list[str]:
    return git(repo, "log", "--first-parent", "--format=%s", ref).splitlines()


def parents(repo: Path, rev: str) -> list[str]:
    return git(repo, "rev-parse", f"{rev}^@").split()


def assert_one_line_error(result, needle: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and needle in lines[0], result.stderr
    assert all(line.startswith(("Error: ", "hint: ")) for line in lines), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def fsck(repo: Path) -> None:
    proc = git(repo, "fsck", "--strict", "--no-progress")
    assert "error" not in proc.lower()


# -- tags ------------------------------------------------------------------------------
def test_tag_after_run_ends_is_a_new_commit_on_the_ref(repo, runner):
    ref, tip = make_run("brisk-otter")
    result = invoke(runner, "tag", "brisk-otter", "stage=best", "owner=ana lee")
    assert result.exit_code == 0, result.output
    assert "tagged brisk-otter: stage=best, owner=ana lee" in result.stderr
    assert result.stdout == ""

    new = read_ref(repo, ref)
    assert new != tip and parents(repo, new) == [tip]
    # Only the tags changed; the code, metrics and inline artifacts are kept.
    assert git(repo, "diff", "--name-only", tip, new).split() == [".gitexp/tags.yaml"]
    assert yamlio.load(record(repo, ref, "tags.yaml")) == {"keep": "1", "stage": "best", "owner": "ana lee"}
    assert record(repo, ref, "artifacts/notes/a.txt") == "hello artifact"
    assert git(repo, "show", f"{ref}:train.py") == "print('training')\n"

    result = invoke(runner, "tag", "brisk-otter", "--delete", "keep")
    assert result.exit_code == 0, result.output
    assert "deleted keep" in result.stderr
    assert yamlio.load(record(repo, ref, "tags.yaml")) == {"stage": "best", "owner": "ana lee"}

    assert subjects(repo, ref)[:3] == [
        "gitexp: delete tag keep", 'gitexp: tag stage=best owner="ana lee"', "gitexp: end run brisk-otter (FINISHED)",
    ]
    # The reflog is the second audit trail.
    assert "tag stage=best" in git(repo, "reflog", "show", "--format=%gs", ref)
    fsck(repo)
    git(repo, "gc", "--prune=now", "-q")
    fsck(repo)
    assert gitexp.get_run("brisk-otter").tags == {"stage": "best", "owner": "ana lee"}


def test_tag_list_and_noop(repo, runner):
    ref, tip = make_run("calm-heron", {"stage": "best"})
    result = invoke(runner, "tag", "calm-heron")
    assert result.exit_code == 0 and result.stdout == "stage=best\n"
    result = invoke(runner, "tag", "calm-heron", "stage=best")
    assert result.exit_code == 0 and "nothing changed" in result.stderr
    assert read_ref(repo, ref) == tip  # no empty edit commit


def test_tag_errors(repo, runner):
    ref, tip = make_run("deft-ibex")
    assert_one_line_error(invoke(runner, "tag", "deft-ibex", "bad@key=1"), "invalid tag key 'bad@key'")
    assert_one_line_error(invoke(runner, "tag", "deft-ibex", "stage"), "is not key=value")
    assert_one_line_error(invoke(runner, "tag", "deft-ibex", "--delete", "nope"), "has no tag 'nope'")
    assert_one_line_error(invoke(runner, "tag", "deft-ibex", "--delete", "../x"), "invalid tag key")
    assert read_ref(repo, ref) == tip


def test_long_and_multiline_tag_values_keep_a_one_line_subject(repo, runner):
    ref, _ = make_run("epic-lynx")
    value = "line one\nline two " + "x" * 80
    assert invoke(runner, "tag", "epic-lynx", f"why={value}").exit_code == 0
    subject = subjects(repo, ref)[0]
    assert subject.startswith('gitexp: tag why="line one\\nline two') and subject.endswith('…"')
    assert value in git(repo, "log", "-1", "--format=%b", ref)
    assert yamlio.load(record(repo, ref, "tags.yaml"))["why"] == value


def test_tag_while_running_goes_into_the_final_commit(repo, runner):
    run = gitexp.start_run(run_name="live-one", tags={"old": "x"})
    start_tip = read_ref(repo, run.ref)
    gitexp.log_metric("loss", 1.0)

    result = invoke(runner, "tag", "live-one", "stage=wip", "--delete", "old")
    assert result.exit_code == 0, result.output
    assert "running run live-one" in result.stderr and "final commit" in result.stderr
    assert read_ref(repo, run.ref) == start_tip  # only the owner writes the ref while it runs
    listed = invoke(runner, "tag", "live-one")
    assert listed.stdout == "stage=wip\n"
    assert_one_line_error(invoke(runner, "tag", "live-one", "--delete", "old"), "has no tag 'old'")

    gitexp.end_run()
    final = read_ref(repo, run.ref)
    assert yamlio.load(record(repo, final, "tags.yaml")) == {"stage": "wip"}
    assert subjects(repo, run.ref)[0] == "gitexp: end run live-one (FINISHED)"
    assert not (repo / ".git" / "gitexp" / "active" / run.id).exists()


def test_note_and_rename_refused_while_running(repo, runner):
    run = gitexp.start_run(run_name="busy-bee")
    assert_one_line_error(invoke(runner, "note", "busy-bee", "hi"), "still running")
    result = invoke(runner, "note", "busy-bee", "hi")
    assert "hint: add the note after it ends" in result.stderr
    assert_one_line_error(invoke(runner, "rename", "busy-bee", "other"), "still running")
    assert_one_line_error(invoke(runner, "rm", "-y", "busy-bee"), "still running")
    gitexp.end_run()
    assert read_ref(repo, run.ref)


# -- note -------------------------------------------------------------------------------
def test_note_sets_description(repo, runner):
    ref, tip = make_run("fair-koala")
    result = invoke(runner, "note", "fair-koala", "baseline with the new tokenizer")
    assert result.exit_code == 0, result.output
    assert "noted fair-koala" in result.stderr
    new = read_ref(repo, ref)
    assert parents(repo, new) == [tip]
    assert yamlio.load(record(repo, ref, "run.yaml"))["description"] == "baseline with the new tokenizer"
    assert git(repo, "diff", "--name-only", tip, new).split() == [".gitexp/run.yaml"]
    assert subjects(repo, ref)[0] == "gitexp: note"
    assert "baseline with the new tokenizer" in git(repo, "log", "-1", "--format=%b", ref)

    shown = invoke(runner, "note", "fair-koala")
    assert shown.stdout == "baseline with the new tokenizer\n"
    assert "note        baseline with the new tokenizer" in invoke(runner, "show", "fair-koala").stdout

    piped = runner.invoke(_main(), ["note", "fair-koala", "-"], input="from stdin\nline 2\n")
    assert piped.exit_code == 0, piped.output
    assert gitexp.get_run("fair-koala").info.description == "from stdin\nline 2\n"

    assert invoke(runner, "note", "fair-koala", "--clear").exit_code == 0
    assert yamlio.load(record(repo, ref, "run.yaml"))["description"] is None
    assert subjects(repo, ref)[:3] == ["gitexp: clear note", "gitexp: note", "gitexp: note"]
    assert_one_line_error(invoke(runner, "note", "fair-koala", "  "), "note is empty")
    fsck(repo)


# -- rename -----------------------------------------------------------------------------
def test_rename_and_uniqueness(repo, runner):
    ref, tip = make_run("brisk-otter")
    other_ref, other_tip = make_run("calm-heron")
    result = invoke(runner, "rename", "brisk-otter", "baseline")
    assert result.exit_code == 0, result.output
    assert "renamed brisk-otter -> baseline" in result.stderr
    assert subjects(repo, ref)[0] == "gitexp: rename brisk-otter -> baseline"
    assert parents(repo, read_ref(repo, ref)) == [tip]
    assert yamlio.load(record(repo, ref, "run.yaml"))["name"] == "baseline"
    assert gitexp.get_run("baseline").ref == ref
    assert_one_line_error(invoke(runner, "show", "brisk-otter"), "no run matches")

    result = invoke(runner, "rename", "calm-heron", "baseline")
    assert_one_line_error(result, "run name 'baseline' is already used by run")
    assert "hint: pick another name" in result.stderr
    assert read_ref(repo, other_ref) == other_tip

    again = invoke(runner, "rename", "baseline", "baseline")
    assert again.exit_code == 0 and "nothing changed" in again.stderr
    run_id = ref.rsplit("/", 1)[-1]
    assert_one_line_error(invoke(runner, "rename", "calm-heron", run_id), "looks like a run id")
    assert_one_line_error(invoke(runner, "rename", "calm-heron", run_id[:6]), "id prefix")
    fsck(repo)


# -- rm ---------------------------------------------------------------------------------
def test_rm_with_yes_and_undo_through_the_reflog(repo, runner):
    ref, _ = make_run("brisk-otter")
    assert invoke(runner, "tag", "brisk-otter", "stage=best").exit_code == 0
    tip = read_ref(repo, ref)

    result = invoke(runner, "rm", "-y", "brisk-otter")
    assert result.exit_code == 0, result.output
    undo = re.search(r"undo: (git update-ref \S+ [0-9a-f]{40})$", result.stderr.strip())
    assert undo and undo.group(1) == f"git update-ref {ref} {tip}"
    assert git(repo, "rev-parse", "--verify", "-q", ref, check=False) == ""
    assert git(repo, "for-each-ref", "refs/gitexp/") == ""
    assert_one_line_error(invoke(runner, "show", "brisk-otter"), "no run matches")

    # The reflog holds the old tip, which protects it from gc until it expires.
    log = (repo / ".git" / "logs" / ref).read_text().splitlines()
    assert log[-1].split()[:2] == [tip, "0" * 40] and "rm run" in log[-1]
    git(repo, "gc", "--prune=now", "-q")
    fsck(repo)
    assert git(repo, "cat-file", "-t", tip).strip() == "commit"

    git(repo, *undo.group(1).split()[1:])  # the printed command, with the real git
    assert read_ref(repo, ref) == tip
    restored = gitexp.get_run("brisk-otter")
    assert restored.tags == {"keep": "1", "stage": "best"} and restored.ref == ref
    fsck(repo)


def test_rm_asks_for_confirmation(repo, runner):
    ref, tip = make_run("calm-heron")
    kept = runner.invoke(_main(), ["rm", "calm-heron"], input="n\n")
    assert kept.exit_code == 1
    assert "About to remove 1 run:" in kept.stderr and "calm-heron" in kept.stderr and "Aborted." in kept.stderr
    assert read_ref(repo, ref) == tip
    no_input = runner.invoke(_main(), ["rm", "calm-heron"], input="")
    assert no_input.exit_code == 1 and read_ref(repo, ref) == tip  # non-interactive: never deletes

    gone = runner.invoke(_main(), ["rm", "calm-heron"], input="y\n")
    assert gone.exit_code == 0, gone.output
    assert "removed run calm-heron" in gone.stderr
    assert git(repo, "for-each-ref", "refs/gitexp/") == ""


def test_rm_many_is_all_or_nothing_on_unknown_runs(repo, runner):
    ref_a, _ = make_run("able-owl")
    ref_b, _ = make_run("bold-yak")
    assert_one_line_error(invoke(runner, "rm", "-y", "able-owl", "missing-run"), "no run matches 'missing-run'")
    assert read_ref(repo, ref_a) and read_ref(repo, ref_b)
    result = invoke(runner, "rm", "-y", "able-owl", "bold-yak", ref_a.rsplit("/", 1)[-1])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("removed run") == 2
    assert git(repo, "for-each-ref", "refs/gitexp/") == ""


def test_rm_packed_ref_and_registry_note(repo, runner):
    ref, tip = make_run("gentle-orca")
    git(repo, "tag", "-a", "churn@v1.0.0", tip, "-m", "register")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / ref).exists()
    assert_one_line_error(invoke(runner, "rm", "-y", "gentle-orca"), "registered model version (churn@v1.0.0)")
    result = invoke(runner, "rm", "-y", "--force", "gentle-orca")
    assert result.exit_code == 0, result.output
    assert "registry tags still point at it: churn@v1.0.0" in result.stderr
    assert ref not in git(repo, "for-each-ref")
    assert (repo / ".git" / "logs" / ref).read_text().splitlines()[-1].split()[:2] == [tip, "0" * 40]
    git(repo, "update-ref", ref, tip)
    assert read_ref(repo, ref) == tip
    fsck(repo)


# -- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("args", [("tag", "nope", "a=1"), ("note", "nope", "x"), ("rename", "nope", "y"),
                                  ("rm", "-y", "nope"), ("tag", "nope")])
def test_unknown_run_is_one_line_error(repo, runner, args):
    assert_one_line_error(invoke(runner, *args), "no run matches 'nope'")


def test_unknown_run_through_the_real_cli(repo):
    proc = cli("tag", "nope", "a=1", cwd=repo)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: no run matches 'nope'") and "Traceback" not in proc.stderr


def test_commit_without_ref_cannot_be_edited(repo, runner):
    ref, tip = make_run("hardy-puffin")
    assert invoke(runner, "rm", "-y", "hardy-puffin").exit_code == 0
    result = invoke(runner, "tag", tip, "a=1")
    assert_one_line_error(result, "no run ref points at that run")
    assert f"hint: restore its ref first: git update-ref {ref} {tip}" in result.stderr
    assert git(repo, "for-each-ref", "refs/gitexp/") == ""


def test_help_has_examples(runner):
    for name in ("tag", "note", "rename", "rm"):
        result = invoke(runner, name, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, name


# -- the service ------------------------------------------------------------------------
def test_edit_record_retries_on_a_moved_ref(repo):
    from gitexp.services.edit import edit_record
    from gitexp.store.repo import open_repo

    ref, tip = make_run("keen-newt")
    with open_repo(repo) as db:
        def add(key):
            return lambda state: state.tags.__setitem__(key, "1")

        mid = edit_record(db, ref, tip, "gitexp: tag a=1", add("a"))
        # A writer that still believes the tip is `tip` must not lose the first edit.
        last = edit_record(db, ref, tip, "gitexp: tag b=1", add("b"))
    assert parents(repo, last) == [mid] and parents(repo, mid) == [tip]
    assert yamlio.load(record(repo, ref, "tags.yaml")) == {"keep": "1", "a": "1", "b": "1"}
    assert subjects(repo, ref)[:2] == ["gitexp: tag b=1", "gitexp: tag a=1"]


def test_tag_queued_as_the_run_ends_still_lands(repo):
    """The owner may finish between our liveness check and our journal write."""
    from gitexp.services import edit
    from gitexp.services.session import open_session

    run = gitexp.start_run(run_name="late-tag")
    with open_session(repo) as s:
        target = edit.find_target(s, "late-tag")
        folder = edit.live_folder(s.db, target.info)
        assert folder is not None
        gitexp.end_run()  # the owner ends and removes its folder
        result = edit._queue_tags(s.db, target, folder, {"late": "1"}, [])
    assert not result.queued and result.changed
    assert yamlio.load(record(repo, run.ref, "tags.yaml")) == {"late": "1"}
    assert subjects(repo, run.ref)[:2] == ["gitexp: tag late=1", "gitexp: end run late-tag (FINISHED)"]
    assert not os.path.exists(folder.path)  # the folder our journal re-created is gone again


@pytest.mark.stress  # many processes racing
def test_concurrent_tag_commands_lose_nothing(repo):
    from concurrent.futures import ThreadPoolExecutor

    ref, tip = make_run("many-hands")
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda n: cli("tag", "many-hands", f"k{n}={n}", cwd=repo), range(4)))
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    tags = yamlio.load(record(repo, ref, "tags.yaml"))
    assert {f"k{n}" for n in range(4)} <= set(tags)
    assert len(subjects(repo, ref)) == len(subjects(repo, tip)) + 4
    fsck(repo)


def test_cli_tag_wins_over_an_earlier_owner_tag(repo, runner):
    import time

    run = gitexp.start_run(run_name="order")
    gitexp.set_tag("stage", "from-owner")
    time.sleep(0.05)
    assert invoke(runner, "tag", "order", "stage=from-cli").exit_code == 0
    time.sleep(0.05)  # past the file system's mtime granularity
    gitexp.log_metric("loss", 1.0)
    gitexp.flush()
    gitexp.end_run()
    assert yamlio.load(record(repo, run.ref, "tags.yaml")) == {"stage": "from-cli"}


def _main():
    from tests.helpers import _Main

    return _Main()
