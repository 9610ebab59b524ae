"""Pushing many runs at once: by glob from temporary refs made for the push (`transport._stage`),
exactly the planned tips.

The threshold is lowered so that a few real runs take that path; the remote is a real bare repo.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import gitexp.store.transport as transport
from gitexp.errors import GitexpError
from gitexp.services.edit.tags import set_tags
from gitexp.services.session import open_session
from gitexp.services.sync.push import PushOptions, execute_push, plan_push
from tests.helpers import git
from tests.sync_helpers import add_origin, clone, inside, make_run

RUNS = "refs/gitexp/runs/"
TRACKING = "refs/gitexp/remotes/origin/runs/"
PUSHING = "refs/gitexp/pushing/"


@pytest.fixture
def team(tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    monkeypatch.setattr(transport, "STAGE_PAIRS", 2)
    origin = add_origin(tmp_path, repo)
    return origin, repo, clone(origin, tmp_path / "b")


def refs(path: Path, prefix: str) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(objectname) %(refname)", prefix)
    return {ref: sha for sha, ref in (line.split() for line in out.splitlines())}


def tag_run(path: Path, run_id: str, value: str) -> None:
    with inside(path), open_session(path) as s:
        set_tags(s, run_id, {"who": value})


def test_a_staged_push_sends_exactly_the_plan(team) -> None:
    origin, a, b = team
    old = make_run(a, "old")
    with open_session(a) as s:
        execute_push(s, plan_push(s, PushOptions("origin", runs=(old,))))
    new = [make_run(a, f"new-{i}") for i in range(3)]
    with open_session(a) as s:
        plan = plan_push(s, PushOptions("origin"))
        assert sorted(o.run_id for o in plan.send) == sorted(new)
        git(origin, "update-ref", "-d", f"{RUNS}default/{old}")  # pruned there after our fetch
        result = execute_push(s, plan)
    assert sorted(result.sent) == sorted(new) and not plan.rejected
    theirs = refs(origin, RUNS)
    assert sorted(r.rsplit("/", 1)[-1] for r in theirs) == sorted(new)  # `old` was not re-created
    assert theirs == {r: sha for r, sha in refs(a, RUNS).items() if r in theirs}
    tracking = refs(a, TRACKING)
    assert {r.replace(TRACKING, RUNS): sha for r, sha in tracking.items() if not r.endswith(old)} == theirs
    assert refs(a, PUSHING) == {}  # the temporary refs are gone
    git(origin, "fsck", "--no-dangling")


def test_refused_staged_refs_get_their_tracking_value_back(team) -> None:
    origin, a, b = team
    ids = [make_run(a, f"run-{i}") for i in range(3)]
    with open_session(a) as s:
        execute_push(s, plan_push(s, PushOptions("origin")))
    with open_session(b) as s:
        from gitexp.services.sync.pull import pull

        pull(s, "origin")
    for run_id in ids:
        tag_run(a, run_id, "a")
    before = refs(a, TRACKING)
    with open_session(a) as s:
        plan = plan_push(s, PushOptions("origin"))
        assert len(plan.send) == 3
        tag_run(b, ids[0], "b")  # another clone edits one of them and pushes first
        with open_session(b) as sb:
            assert execute_push(sb, plan_push(sb, PushOptions("origin"))).sent == [ids[0]]
        result = execute_push(s, plan)
    assert sorted(result.sent) == sorted(ids[1:])
    assert "diverged" in plan.rejected[f"run-0 ({ids[0]})"]
    after = refs(a, TRACKING)
    mine = refs(a, RUNS)
    key = f"{TRACKING}default/{ids[0]}"
    assert after[key] == before[key]  # set back: the remote did not take our tip
    for run_id in ids[1:]:
        assert after[f"{TRACKING}default/{run_id}"] == mine[f"{RUNS}default/{run_id}"]
    assert refs(a, PUSHING) == {}


def test_a_failed_staged_push_leaves_the_tracking_refs_as_they_were(team) -> None:
    origin, a, _b = team
    first = make_run(a, "first")
    with open_session(a) as s:
        execute_push(s, plan_push(s, PushOptions("origin")))
    [make_run(a, f"new-{i}") for i in range(3)]
    before = refs(a, TRACKING)
    with open_session(a) as s:
        plan = plan_push(s, PushOptions("origin"))
        origin.rename(origin.with_name("moved.git"))  # the remote goes away before the refs are sent
        with pytest.raises(GitexpError, match="not a Git repository"):
            execute_push(s, plan)
    assert refs(a, TRACKING) == before == {f"{TRACKING}default/{first}": refs(a, RUNS)[f"{RUNS}default/{first}"]}
    assert refs(a, PUSHING) == {}


def test_a_first_push_stages_into_the_tracking_refs_and_drops_the_refused(team) -> None:
    origin, a, _b = team
    ids = [make_run(a, f"run-{i}") for i in range(3)]
    other = git(origin, "commit-tree", "-m", "theirs", "main^{tree}").strip()  # not an ancestor of run-0's tip
    with open_session(a) as s:
        plan = plan_push(s, PushOptions("origin"))
        git(origin, "update-ref", f"{RUNS}default/{ids[0]}", other)  # someone else's value, after our fetch
        result = execute_push(s, plan)
    assert sorted(result.sent) == sorted(ids[1:])
    assert "diverged" in plan.rejected[f"run-0 ({ids[0]})"]
    assert refs(origin, RUNS)[f"{RUNS}default/{ids[0]}"] == other  # not clobbered
    mine = refs(a, RUNS)
    assert refs(a, TRACKING) == {r.replace(RUNS, TRACKING): sha for r, sha in mine.items() if not r.endswith(ids[0])}
    assert refs(a, PUSHING) == {}
    seen = json.loads((a / ".git" / "gitexp" / "sync-seen.json").read_text())
    assert seen == refs(a, TRACKING)  # what gitexp moved is marked as handled


def test_temporary_refs_of_a_killed_push_are_dropped_by_the_next(team) -> None:
    origin, a, _b = team
    run_id = make_run(a, "first")
    with open_session(a) as s:
        execute_push(s, plan_push(s, PushOptions("origin")))
    tip = refs(a, RUNS)[f"{RUNS}default/{run_id}"]
    host = socket.gethostname()
    dead = f"{PUSHING}{host}/{2**31 - 1}-0badf00d/runs/default/{run_id}"  # no such process
    alive = f"{PUSHING}{host}/{os.getpid()}-0badf00d/runs/default/{run_id}"  # a push in flight
    elsewhere = f"{PUSHING}other-host/1-0badf00d/runs/default/{run_id}"  # not ours to judge
    for ref in (dead, alive, elsewhere):
        git(a, "update-ref", ref, tip)
    [make_run(a, f"new-{i}") for i in range(3)]
    with open_session(a) as s:
        assert len(execute_push(s, plan_push(s, PushOptions("origin"))).sent) == 3
    assert sorted(refs(a, PUSHING)) == sorted([alive, elsewhere])
    assert sorted(refs(origin, RUNS)) == sorted(refs(a, RUNS))
