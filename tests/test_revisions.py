"""Git revisions as run references: `~N`, `^N`, branches, tags and short ids (docs/concepts.md).

Every commit gitexp resolves is compared with what `git rev-parse` says the same
revision is, through `gitexp show`, `gitexp diff` and `gitexp.get_run`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gitexp
from gitexp.errors import RunNotFound
from tests.helpers import cli, git, invoke


def rev_parse(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}").strip()


def make_run(name: str, loss: float) -> tuple[str, str]:
    """An ended run with one metric; returns (id, ref)."""
    with gitexp.start_run(run_name=name) as run:
        gitexp.log_param("lr", loss / 10)
        gitexp.log_metric("loss", loss)
    return run.id, run.ref


def shown(runner, repo: Path, spec: str) -> dict:
    """`gitexp show SPEC --json`, checked against `git rev-parse SPEC`."""
    result = invoke(runner, "show", spec, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["commit"] == rev_parse(repo, spec), spec
    return data


@pytest.fixture
def runs(repo: Path, runner) -> dict[str, str]:
    """Two ended runs, alpha (tagged once after it ended) and beta."""
    a_id, a_ref = make_run("alpha", 0.5)
    b_id, b_ref = make_run("beta", 0.25)
    result = invoke(runner, "tag", "alpha", "stage=best")
    assert result.exit_code == 0, result.output
    return {"a_id": a_id, "a_ref": a_ref, "b_id": b_id, "b_ref": b_ref}


def test_tilde_on_a_run_ref_walks_the_runs_own_history(repo: Path, runner, runs) -> None:
    ref = runs["a_ref"]
    tip = shown(runner, repo, ref)
    previous = shown(runner, repo, f"{ref}~1")
    assert previous["commit"] != tip["commit"]
    assert git(repo, "log", "-1", "--format=%s", ref).strip() == "gitexp: tag stage=best"
    # ~1 is the run before the edit: same run, same ref, no tag yet.
    assert (tip["id"], previous["id"]) == (runs["a_id"], runs["a_id"])
    assert previous["ref"] == ref
    assert tip["tags"] == {"stage": "best"} and previous["tags"] == {}
    assert previous["info"]["status"] == "FINISHED" and previous["metrics"]["loss"]["last"] == 0.5
    # ^ is ~1; ~2 is the start commit: RUNNING, no metrics yet; ^0 is the commit itself.
    assert shown(runner, repo, f"{ref}^")["commit"] == previous["commit"]
    start = shown(runner, repo, f"{ref}~2")
    assert start["info"]["status"] == "RUNNING" and start["metrics"] == {}
    assert shown(runner, repo, f"{ref}~1^")["commit"] == start["commit"]
    assert shown(runner, repo, f"{ref}^0")["commit"] == tip["commit"]
    # An abbreviated commit id takes steps too.
    assert shown(runner, repo, f"{tip['commit'][:10]}~1")["commit"] == previous["commit"]

    run = gitexp.get_run(f"{ref}~1")
    assert (run.commit, run.id, run.ref) == (rev_parse(repo, f"{ref}~1"), runs["a_id"], ref)
    assert run.tags == {} and gitexp.get_run(ref).tags == {"stage": "best"}


def test_steps_on_a_branch_and_a_tag_made_from_a_run(repo: Path, runner, runs) -> None:
    ref = runs["a_ref"]
    git(repo, "branch", "from-run", ref)
    git(repo, "tag", "-a", "v1", "-m", "annotated", ref)
    git(repo, "checkout", "-q", "from-run")
    for spec, same_as in [("from-run", ref), ("from-run^", f"{ref}~1"), ("HEAD~2", f"{ref}~2"),
                          ("HEAD^1~1", f"{ref}~2"), ("v1", ref), ("v1~1", f"{ref}~1")]:
        data = shown(runner, repo, spec)
        assert data["commit"] == rev_parse(repo, same_as), spec
        assert data["id"] == runs["a_id"]
    # A revision past the run's first commit is the user's baseline: not a run.
    assert rev_parse(repo, "HEAD~3") == rev_parse(repo, "main")
    result = invoke(runner, "show", "HEAD~3")
    assert result.exit_code == 1 and "no run matches 'HEAD~3'" in result.stderr

    result = invoke(runner, "diff", "from-run^", "HEAD", "--json")
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["a"]["commit"] == rev_parse(repo, "from-run^")
    assert diff["b"]["commit"] == rev_parse(repo, "HEAD")
    assert [(t["key"], t["change"], t["b"]) for t in diff["tags"]] == [("stage", "added", "best")]
    assert gitexp.get_run("HEAD~2").commit == rev_parse(repo, "HEAD~2")


def test_caret_n_on_a_merge_of_two_runs_picks_that_parent(repo: Path, runner, runs) -> None:
    a_tip, b_tip = rev_parse(repo, runs["a_ref"]), rev_parse(repo, runs["b_ref"])
    tree = git(repo, "rev-parse", f"{a_tip}^{{tree}}").strip()
    merge = git(repo, "commit-tree", tree, "-p", a_tip, "-p", b_tip, "-m", "merge two runs").strip()
    git(repo, "branch", "merged", merge)

    assert shown(runner, repo, "merged^2")["id"] == runs["b_id"]
    assert shown(runner, repo, "merged^2")["commit"] == b_tip
    assert shown(runner, repo, "merged^1")["id"] == runs["a_id"]
    assert shown(runner, repo, "merged^")["commit"] == a_tip
    assert shown(runner, repo, "merged^2~1")["commit"] == rev_parse(repo, f"{runs['b_ref']}~1")
    assert shown(runner, repo, "merged~1~2")["commit"] == rev_parse(repo, f"{runs['a_ref']}~2")

    result = invoke(runner, "diff", "merged^1", "merged^2", "--json")
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert (diff["a"]["id"], diff["b"]["id"]) == (runs["a_id"], runs["b_id"])
    assert (diff["a"]["commit"], diff["b"]["commit"]) == (a_tip, b_tip)
    assert gitexp.get_run("merged^2").id == runs["b_id"]


@pytest.mark.parametrize("suffix", ["~99", "^3", "^2"])
def test_steps_out_of_range_are_a_one_line_error(repo: Path, runs, suffix: str) -> None:
    spec = runs["a_ref"] + suffix
    assert git(repo, "rev-parse", "--verify", "-q", spec, check=False) == ""  # git agrees: no such commit
    proc = cli("show", spec, cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"Error: no run matches {spec!r}", proc.stderr
    assert all(line.startswith(("Error: ", "hint: ")) for line in lines) and "Traceback" not in proc.stderr
    with pytest.raises(RunNotFound, match="no run matches"):
        gitexp.get_run(spec)


def test_revisions_resolve_after_gc_packs_everything(repo: Path, runner, runs) -> None:
    git(repo, "gc", "-q", "--prune=now")
    assert not list((repo / ".git" / "objects").glob("??/*")), "gc left loose objects"
    tip = rev_parse(repo, runs["a_ref"])
    for spec in [f"{runs['a_ref']}~1", f"{tip[:8]}~2", f"{tip[:8]}^0", runs["b_ref"] + "^"]:
        shown(runner, repo, spec)


# -- names resolve as git resolves them (gitrevisions(7)) --------------------------------------
def test_a_tag_wins_over_a_branch_of_the_same_name(repo: Path, runner, runs) -> None:
    git(repo, "tag", "best", runs["a_ref"])
    git(repo, "branch", "best", runs["b_ref"])
    assert shown(runner, repo, "best")["id"] == runs["a_id"]  # git warns 'ambiguous' and takes the tag
    assert shown(runner, repo, "best~1")["id"] == runs["a_id"]
    assert shown(runner, repo, "refs/heads/best")["id"] == runs["b_id"]
    assert gitexp.get_run("best").commit == rev_parse(repo, "best")


def test_an_annotated_tag_object_id_names_its_run_commit(repo: Path, runner, runs) -> None:
    git(repo, "tag", "-a", "v2", "-m", "annotated", runs["b_ref"])
    tag_object = git(repo, "rev-parse", "v2").strip()
    assert tag_object != rev_parse(repo, "v2")
    for spec in [tag_object, tag_object[:10], f"{tag_object[:10]}~1"]:
        assert shown(runner, repo, spec)["id"] == runs["b_id"], spec
    tree = git(repo, "rev-parse", f"{runs['b_ref']}^{{tree}}").strip()
    result = invoke(runner, "show", tree)  # a tree is not a revision of a run
    assert result.exit_code == 1 and f"no run matches {tree!r}" in result.stderr, result.output


def test_a_ref_name_without_refs_prefix(repo: Path, runner, runs) -> None:
    short = runs["a_ref"][len("refs/"):]
    assert shown(runner, repo, short)["id"] == runs["a_id"]
    assert shown(runner, repo, f"{short}~1")["commit"] == rev_parse(repo, f"{runs['a_ref']}~1")
