"""Experiment records (`refs/gitexp/experiments/<slug>`) travel with the runs: push, fetch, pull, merge.

Real clones of a real bare remote, the real git CLI (and dulwich's client) as transport,
results read back with `git ls-remote`, `git rev-list` and `git fsck`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitexp.services.experiments import create_experiment, get_experiment_by_name, list_experiments, \
    set_experiment_tag
from gitexp.services.session import open_session
from gitexp.services.sync.pull import fetch, pull
from gitexp.services.sync.push import PushOptions, execute_push, plan_push
from gitexp.store.experiments import ExperimentRecord, read_experiment, write_experiment
from tests.helpers import git, invoke
from tests.sync_helpers import add_origin, clone, make_run

EXP = "refs/gitexp/experiments/"
DAY = 86_400_000


@pytest.fixture
def team(tmp_path: Path, repo: Path) -> tuple[Path, Path, Path]:
    """(origin bare repo, clone A = `repo`, clone B); A's main branch is on origin."""
    origin = add_origin(tmp_path, repo)
    return origin, repo, clone(origin, tmp_path / "b")


def push(path: Path, **kw: object):
    with open_session(path) as s:
        plan = plan_push(s, PushOptions("origin", **kw))  # type: ignore[arg-type]
        return plan, execute_push(s, plan)


def do_pull(path: Path, prefer: str | None = None):
    with open_session(path) as s:
        return pull(s, "origin", prefer=prefer)


def record(path: Path, slug: str) -> ExperimentRecord:
    with open_session(path) as s:
        got = read_experiment(s.db, slug)
    assert got is not None, slug
    return got[0]


def remote_refs(origin: Path) -> dict[str, str]:
    out = git(origin, "ls-remote", str(origin), EXP + "*")
    return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def parents(path: Path, rev: str) -> list[str]:
    return git(path, "rev-list", "--parents", "-n", "1", rev).split()[1:]


@pytest.mark.parametrize("transport", ["git", "dulwich"])
def test_records_are_pushed_and_pulled_with_the_runs(team, transport: str, monkeypatch) -> None:
    origin, a, b = team
    monkeypatch.setenv("GITEXP_TRANSPORT", transport)
    with open_session(a) as s:
        create_experiment(s, "Wine Quality", tags={"team": "nlp"}, description="red and white")
    run_id = make_run(a, "first", experiment="wine-quality")
    plan, result = push(a)
    assert [u.ref for u in plan.experiments.send] == [EXP + "wine-quality"]
    assert result.experiments_sent == ["wine-quality"] and result.sent == [run_id]
    assert remote_refs(origin) == {EXP + "wine-quality": git(a, "rev-parse", EXP + "wine-quality").strip()}
    again, _ = push(a)
    assert again.experiments.send == [] and again.experiments.up_to_date == 1

    pulled = do_pull(b)
    assert pulled.experiments.created == ["wine-quality"] and pulled.integration.created == [run_id]
    with open_session(b) as s:
        exp = get_experiment_by_name(s, "Wine Quality")
    assert exp is not None and (exp.slug, exp.tags, exp.description) == ("wine-quality", {"team": "nlp"},
                                                                          "red and white")
    assert git(b, "rev-parse", EXP + "wine-quality") == git(a, "rev-parse", EXP + "wine-quality")
    git(b, "fsck", "--no-dangling")


def test_fetch_fills_tracking_refs_only_and_edits_fast_forward(team) -> None:
    _origin, a, b = team
    with open_session(a) as s:
        create_experiment(s, "baseline")
    push(a)
    with open_session(b) as s:
        fetched = fetch(s, "origin")
    assert list(fetched.experiments) == [EXP + "baseline"] and fetched.experiments_new == 1
    assert git(b, "for-each-ref", "--format=%(refname)", EXP).split() == []
    assert git(b, "for-each-ref", "--format=%(refname)", "refs/gitexp/remotes/").split() == [
        "refs/gitexp/remotes/origin/experiments/baseline"]
    assert do_pull(b).experiments.created == ["baseline"]

    with open_session(a) as s:
        set_experiment_tag(s, "baseline", "owner", "ana")
    plan, result = push(a)
    assert plan.experiments.send[0].expect is not None and result.experiments_sent == ["baseline"]
    assert do_pull(b).experiments.fast_forwarded == ["baseline"]
    assert record(b, "baseline").tags == {"owner": "ana"}
    plan, _ = push(b)
    assert plan.experiments.up_to_date == 1 and not plan.rejected


def test_one_experiment_created_in_two_clones_is_merged_keeping_both(team) -> None:
    _origin, a, b = team
    with open_session(a) as s:
        create_experiment(s, "churn", tags={"owner": "ana"}, now_ms=DAY)
    with open_session(b) as s:
        create_experiment(s, "churn", tags={"data": "v2"}, description="weekly churn", now_ms=2 * DAY)
    make_run(b, "b-run", experiment="churn")
    push(a)
    ours = git(b, "rev-parse", EXP + "churn").strip()
    plan, result = push(b)
    assert "diverged" in plan.rejected["experiment churn"] and result.experiments_sent == []
    assert len(result.sent) == 1  # the run still goes: it does not depend on the record

    pulled = do_pull(b)
    assert pulled.experiments.merged == ["churn"] and not pulled.experiments.conflicts
    merged = record(b, "churn")
    assert merged.tags == {"owner": "ana", "data": "v2"} and merged.description == "weekly churn"
    assert merged.created == record(a, "churn").created  # the earlier creation
    theirs = git(a, "rev-parse", EXP + "churn").strip()
    assert parents(b, EXP + "churn") == [ours, theirs]  # both histories kept
    assert not push(b)[0].rejected
    assert do_pull(a).experiments.fast_forwarded == ["churn"]
    assert record(a, "churn") == merged
    git(a, "fsck", "--no-dangling")


def test_conflicting_names_are_reported_then_settled_with_prefer(team) -> None:
    _origin, a, b = team
    with open_session(a) as s:
        create_experiment(s, "wine quality")
    with open_session(b) as s:
        create_experiment(s, "Wine-Quality")  # the same slug, another display name
    push(a)
    mine = git(b, "rev-parse", EXP + "wine-quality").strip()
    pulled = do_pull(b)
    [conflict] = pulled.experiments.conflicts["wine-quality"]
    assert (conflict.key, conflict.ours, conflict.theirs) == ("name", "Wine-Quality", "wine quality")
    assert git(b, "rev-parse", EXP + "wine-quality").strip() == mine  # left as it was

    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(b)
        shown = invoke(runner, "pull", "origin")
        assert shown.exit_code == 1
        assert "conflict: experiment wine-quality: experiment field 'name' is 'Wine-Quality' here" in shown.stderr
        assert "--prefer ours" in shown.stderr
    settled = do_pull(b, prefer="theirs")
    assert settled.experiments.merged == ["wine-quality"]
    assert record(b, "wine-quality").name == "wine quality"
    with open_session(b) as s:  # the losing name is still in the record's history
        assert read_experiment(s.db, "wine-quality", parents(b, EXP + "wine-quality")[0])[0].name == "Wine-Quality"


def test_one_name_under_two_slugs_keeps_both_and_says_so(team) -> None:
    _origin, a, b = team
    with open_session(a) as s:
        create_experiment(s, "Churn", now_ms=DAY)  # slug churn
    a_run = make_run(a, "a-run", experiment="churn")
    with open_session(b) as s:  # the same name under another slug (so another id), made earlier
        write_experiment(s.db, ExperimentRecord("churn-model", "Churn"), None, "gitexp: create\n", DAY // 2)
    b_run = make_run(b, "b-run", experiment="churn-model")
    push(a)
    pulled = do_pull(b)
    assert pulled.experiments.created == ["churn"]
    assert pulled.experiments.same_name == {"Churn": ["churn-model", "churn"]}
    with open_session(b) as s:
        found = get_experiment_by_name(s, "Churn")
        slugs = {e.slug for e in list_experiments(s) if e.name == "Churn"}
        ids = {e.experiment_id for e in list_experiments(s) if e.name == "Churn"}
    assert found is not None and found.slug == "churn-model"  # the oldest
    assert slugs == {"churn", "churn-model"} and len(ids) == 2
    assert {r.rsplit("/", 2)[-2] + "/" + r.rsplit("/", 1)[-1]
            for r in git(b, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split()} == {
        f"churn/{a_run}", f"churn-model/{b_run}"}


def test_push_of_one_experiment_sends_only_its_record(team) -> None:
    origin, a, _b = team
    with open_session(a) as s:
        create_experiment(s, "alpha")
        create_experiment(s, "beta")
    make_run(a, "in-alpha", experiment="alpha")
    plan, _ = push(a, experiment="alpha")
    assert [u.ref for u in plan.experiments.send] == [EXP + "alpha"]
    assert list(remote_refs(origin)) == [EXP + "alpha"]
    plan, _ = push(a)
    assert [u.ref for u in plan.experiments.send] == [EXP + "beta"]


def test_plain_git_after_remote_setup_carries_records(team) -> None:
    origin, a, b = team
    for clone_ in (a, b):
        runner = CliRunner()
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(clone_)
            assert invoke(runner, "remote", "setup", "origin").exit_code == 0
    with open_session(a) as s:
        create_experiment(s, "Plain Git")
    git(a, "push", "-q", "origin")
    assert list(remote_refs(origin)) == [EXP + "plain-git"]
    git(b, "fetch", "-q", "origin")
    assert git(b, "for-each-ref", "--format=%(refname)", EXP).split() == []
    with open_session(b) as s:
        s.integrate_fetched()  # what gitexp's next listing does
    assert record(b, "plain-git").name == "Plain Git"
