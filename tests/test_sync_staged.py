"""Pushing many runs at once: by glob from temporary refs made for the push (`transport._stage`),
exactly the planned tips.

The threshold is lowered so that a few real runs take that path; the remote is a real bare repo.
"""

from __future__ import annotations

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
