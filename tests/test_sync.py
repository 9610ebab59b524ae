"""`gitexp push` / `fetch` / `pull` between real clones of a real bare remote, read back by real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import git
from tests.sync_helpers import add_origin, by_id, clone, gx, ls_json, make_run

# Real processes, servers and remotes: minutes on a loaded machine, so outside the README's
# 90-second selection; .ci/run runs them with -m "slow or interop".
pytestmark = pytest.mark.slow

RUNS = "refs/gitexp/runs/"


@pytest.fixture
def team(tmp_path: Path, repo: Path) -> tuple[Path, Path, Path]:
    """(origin bare repo, clone A = `repo`, clone B); A's main branch is on origin."""
    origin = add_origin(tmp_path, repo)
    return origin, repo, clone(origin, tmp_path / "b")


def remote_refs(origin: Path) -> dict[str, str]:
    out = git(origin, "ls-remote", str(origin), "refs/gitexp/*")
    return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


@pytest.mark.parametrize("transport", ["git", pytest.param("dulwich", marks=pytest.mark.slow)])
def test_push_then_clone_and_pull_lists_the_same_runs(team, transport: str) -> None:
    origin, a, _b = team
    env = {"GITEXP_TRANSPORT": transport}
    ids = [make_run(a, f"run-{i}", lr=0.1 * i, acc=0.5 + i / 10) for i in range(3)]
    first = gx(a, "push", env=env)
    assert first.returncode == 0, first.stderr
    assert "pushed 3 run(s) to origin" in first.stderr
    listed = remote_refs(origin)
    assert sorted(r.rsplit("/", 1)[-1] for r in listed) == sorted(ids)
    assert listed == {r: git(a, "rev-parse", r).strip() for r in listed}
    again = gx(a, "push", env=env)
    assert again.returncode == 0 and "origin is up to date (3 run(s))" in again.stderr

    fresh = clone(origin, a.parent / "fresh")
    pulled = gx(fresh, "pull", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "3 new" in pulled.stderr
    mine, theirs = by_id(ls_json(a)), by_id(ls_json(fresh))
    assert mine.keys() == theirs.keys() == set(ids)
    for run_id in ids:
        for key in ("name", "status", "params", "metrics", "commit"):
            assert mine[run_id][key] == theirs[run_id][key], key
    git(fresh, "fsck", "--no-dangling")


def test_fetch_fills_the_tracking_namespace_only(team) -> None:
    _origin, a, b = team
    run_id = make_run(a, "fetched")
    assert gx(a, "push").returncode == 0
    fetched = gx(b, "fetch")
    assert fetched.returncode == 0, fetched.stderr
    assert git(b, "for-each-ref", "--format=%(refname)", RUNS).split() == []
    assert git(b, "for-each-ref", "--format=%(refname)", "refs/gitexp/remotes/").split() == [
        f"refs/gitexp/remotes/origin/runs/default/{run_id}"]
    assert ls_json(b) == []  # fetched, not integrated: `pull` does that
    assert gx(b, "pull").returncode == 0
    assert [r["id"] for r in ls_json(b)] == [run_id]


def test_dry_run_and_unpushed_listing(team) -> None:
    origin, a, _b = team
    run_id = make_run(a, "pending")
    dry = gx(a, "push", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"new   {run_id}  pending" in dry.stdout
    assert remote_refs(origin) == {}
    unpushed = gx(a, "ls", "--unpushed", "--json")
    assert [r["id"] for r in __import__("json").loads(unpushed.stdout)] == [run_id]
    assert gx(a, "push").returncode == 0
    assert __import__("json").loads(gx(a, "ls", "--unpushed", "--json").stdout) == []


def test_diverged_edits_are_rejected_then_merged_with_both_parents(team) -> None:
    origin, a, b = team
    run_id = make_run(a, "shared")
    assert gx(a, "push").returncode == 0
    assert gx(b, "pull").returncode == 0
    assert gx(a, "tag", run_id, "owner=ann").returncode == 0
    assert gx(a, "push").returncode == 0
    assert gx(b, "note", run_id, "looks good").returncode == 0
    rejected = gx(b, "push")
    assert rejected.returncode == 1
    assert f"rejected: shared ({run_id}): edited here and on origin (diverged)" in rejected.stderr
    before = remote_refs(origin)
    pulled = gx(b, "pull")
    assert pulled.returncode == 0 and "1 merged" in pulled.stderr, pulled.stderr
    ref = f"{RUNS}default/{run_id}"
    tip = git(b, "rev-parse", ref).strip()
    assert len(git(b, "rev-parse", f"{tip}^@").split()) == 2
    assert "owner: ann" in git(b, "show", f"{tip}:.gitexp/tags.yaml")
    assert "looks good" in git(b, "show", f"{tip}:.gitexp/run.yaml")
    assert remote_refs(origin) == before  # pull never writes the remote
    assert gx(b, "push").returncode == 0
    assert remote_refs(origin)[ref] == tip
    assert gx(a, "pull").returncode == 0
    assert git(a, "rev-parse", ref).strip() == tip  # a fast-forward


def test_conflicting_edits_are_reported_with_the_resolving_command(team) -> None:
    _origin, a, b = team
    run_id = make_run(a, "contested")
    assert gx(a, "push").returncode == 0 and gx(b, "pull").returncode == 0
    assert gx(a, "tag", run_id, "stage=prod").returncode == 0
    assert gx(a, "push").returncode == 0
    assert gx(b, "tag", run_id, "stage=dev").returncode == 0
    local_tip = git(b, "rev-parse", f"{RUNS}default/{run_id}").strip()
    pulled = gx(b, "pull")
    assert pulled.returncode == 1
    assert f"conflict: run {run_id}: tag 'stage' is 'dev' here and 'prod' on the remote" in pulled.stderr
    assert "gitexp pull origin --prefer ours" in pulled.stderr
    assert git(b, "rev-parse", f"{RUNS}default/{run_id}").strip() == local_tip  # nothing lost
    settled = gx(b, "pull", "--prefer", "theirs")
    assert settled.returncode == 0, settled.stderr
    assert gx(b, "tag", run_id).stdout.strip().splitlines() == ["stage=prod"]


def test_removed_runs_are_not_pulled_back_unless_restored(team) -> None:
    origin, a, b = team
    keep, gone = make_run(a, "keep"), make_run(a, "gone")
    assert gx(a, "push").returncode == 0 and gx(b, "pull").returncode == 0
    assert gx(b, "rm", gone, "--yes").returncode == 0
    assert gx(b, "pull").returncode == 0
    assert sorted(r["id"] for r in ls_json(b)) == [keep]
    assert f"{RUNS}default/{gone}" in remote_refs(origin)  # rm is local
    pruned = gx(b, "push", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert f"{RUNS}default/{gone}" not in remote_refs(origin)
    assert gx(b, "pull", "--restore").returncode == 0  # nothing left to restore from
    assert sorted(r["id"] for r in ls_json(b)) == [keep]


def test_restore_brings_a_removed_run_back(team) -> None:
    _origin, a, b = team
    gone = make_run(a, "again")
    assert gx(a, "push").returncode == 0 and gx(b, "pull").returncode == 0
    assert gx(b, "rm", gone, "--yes").returncode == 0
    assert gx(b, "pull").returncode == 0 and ls_json(b) == []
    assert gx(b, "pull", "--restore").returncode == 0
    assert [r["id"] for r in ls_json(b)] == [gone]


def test_running_runs_are_not_pushed_unless_asked(team) -> None:
    import gitexp
    from tests.sync_helpers import inside

    origin, a, _b = team
    with inside(a):
        run = gitexp.start_run(run_name="live")
        gitexp.flush()
    try:
        out = gx(a, "push")
        assert out.returncode == 0 and "1 running run(s) not sent" in out.stderr, out.stderr
        assert remote_refs(origin) == {}
        assert gx(a, "push", "--include-running").returncode == 0
        assert len(remote_refs(origin)) == 1
    finally:
        with inside(a):
            run.end() if hasattr(run, "end") else gitexp.end_run()


@pytest.mark.slow
def test_transport_errors_are_one_line_and_change_nothing(team, tmp_path: Path) -> None:
    origin, a, _b = team
    make_run(a, "stays")
    before = git(a, "for-each-ref")
    git(a, "remote", "add", "nowhere", str(tmp_path / "missing.git"))
    git(a, "remote", "add", "closed", "git://127.0.0.1:9/none.git")
    for transport in ("git", "dulwich"):
        for remote, needle in (("nowhere", "is not a Git repository"), ("closed", "cannot reach remote closed")):
            for cmd in ("push", "pull"):
                out = gx(a, cmd, remote, env={"GITEXP_TRANSPORT": transport})
                assert out.returncode == 1, out.stderr
                lines = out.stderr.strip().splitlines()
                assert lines[0].startswith("Error: ") and needle in lines[0], (transport, cmd, out.stderr)
                assert len(lines) == 2 and lines[1].startswith("hint: "), out.stderr
    missing = gx(a, "push", "upstream")
    assert missing.returncode == 1 and "no git remote named 'upstream'" in missing.stderr
    by_url = gx(a, "fetch", str(origin))  # a URL where a remote name goes: say how to name it
    assert by_url.returncode == 1 and f"git remote add team {origin}" in by_url.stderr, by_url.stderr
    assert git(a, "for-each-ref") == before


def test_remote_setup_lets_plain_git_carry_runs(team) -> None:
    origin, a, b = team
    run_id = make_run(a, "plain")
    setup = gx(a, "remote", "setup", "origin")
    assert setup.returncode == 0, setup.stderr
    assert "refs/gitexp/runs/*:refs/gitexp/runs/*" in git(a, "config", "--get-all", "remote.origin.push")
    git(a, "push", "-q")  # a bare git push: the branch and the runs
    assert f"{RUNS}default/{run_id}" in remote_refs(origin)
    assert gx(b, "remote", "setup").returncode == 0
    git(b, "fetch", "-q")
    assert git(b, "for-each-ref", "--format=%(refname)", RUNS).split() == []
    assert [r["id"] for r in ls_json(b)] == [run_id]  # integrated by gitexp's next command
    # a diverged run is rejected by plain git push, not clobbered
    assert gx(a, "tag", run_id, "side=a").returncode == 0
    git(a, "push", "-q")
    assert gx(b, "tag", run_id, "side=b").returncode == 0
    assert git(b, "push", "-q", check=False) == "" and remote_refs(origin)[f"{RUNS}default/{run_id}"] == \
        git(a, "rev-parse", f"{RUNS}default/{run_id}").strip()
    undo = gx(b, "remote", "setup", "--undo")
    assert undo.returncode == 0
    assert git(b, "config", "--get-all", "remote.origin.push", check=False) == ""
    assert "gitexp" not in git(b, "config", "--get-all", "remote.origin.fetch")


def test_malformed_pulled_run_lists_as_corrupt_and_hides_nothing(team) -> None:
    origin, a, b = team
    good = make_run(a, "good")
    assert gx(a, "push").returncode == 0
    # A hostile run pushed with plain git: bad YAML in run.yaml and tags.
    bad_id = "1zzzzzzzzzzzzzzz"
    work = a.parent / "evil"
    git(a.parent, "init", "-q", str(work))
    (work / ".gitexp").mkdir()
    (work / ".gitexp" / "run.yaml").write_text("id: [unclosed\nstatus: FINISHED\n")
    (work / ".gitexp" / "artifacts.yaml").write_text("- path: ../../etc/passwd\n  size: 1\n  sha256: x\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "evil")
    git(work, "push", "-q", str(origin), f"HEAD:{RUNS}default/{bad_id}")
    pulled = gx(b, "pull")
    assert pulled.returncode == 0, pulled.stderr
    rows = by_id(ls_json(b))
    assert rows.keys() == {good, bad_id}
    assert rows[bad_id]["status"] == "CORRUPT"
    got = gx(b, "artifacts", "get", bad_id, "-o", str(a.parent / "out"))
    assert got.returncode == 1
    assert not (a.parent / "out").exists() or not any((a.parent / "out").rglob("*"))


def test_push_reads_each_record_once_and_a_no_op_reads_none(team, monkeypatch) -> None:
    """Work counts, not times: a push opens each sent run's record at most once (name, status, code
    tree and artifact list come from one git cat-file; runs listing artifacts are opened for them
    once); a no-op push compares tips only."""
    from gitexp.services.session import open_session
    from gitexp.services.sync import push
    from gitexp.store import runcommit

    _origin, a, _b = team
    ids = {make_run(a, f"r{i}", artifact=b"x" * 10) for i in range(3)}
    opened: list[str] = []
    real = runcommit.RecordReader

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, db, commit):
            opened.append(commit)
            super().__init__(db, commit)

    monkeypatch.setattr(runcommit, "RecordReader", Counting)  # push's modules import it where they read
    with open_session(a) as s:
        plan = push.plan_push(s, push.PushOptions(remote="origin"))
        assert {o.run_id for o in plan.send} == ids
        assert sorted(opened) == sorted(o.tip for o in plan.send)  # once per run
        push.execute_push(s, plan)
    opened.clear()
    with open_session(a) as s:
        plan = push.plan_push(s, push.PushOptions(remote="origin"))
    assert plan.send == [] and plan.up_to_date == 3 and opened == []
