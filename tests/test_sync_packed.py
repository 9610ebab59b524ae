"""The lean sync path: packed-refs written whole without dulwich (`refs.write_packed_refs`), what push
and pull load and run, and the user's pre-push hook, all against real git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitexp.store.refs import write_packed_refs
import gitexp.store.transport as transport
from gitexp.store.transport import Remote
from tests.helpers import git, loaded_by
from tests.sync_helpers import add_origin, clone, gx, make_run

RUNS = "refs/gitexp/runs/"


def refs(path: Path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(objectname) %(refname)")
    return {ref: sha for sha, ref in (line.split() for line in out.splitlines())}


def test_packed_refs_written_whole_agree_with_git(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "-a", "-m", "v1", "v1")
    git(repo, "update-ref", "refs/gitexp/remotes/o/runs/default/a", head)
    git(repo, "update-ref", "refs/gitexp/remotes/o/runs/default/gone", head)
    git(repo, "pack-refs", "--all")  # the tag gets its peeled `^` line
    git(repo, "update-ref", "refs/gitexp/remotes/o/runs/default/loose", head)  # loose, over nothing
    peeled_before = git(repo, "show-ref", "-d", "v1")
    before = refs(repo)
    changes = {"refs/gitexp/remotes/o/runs/default/new": head, "refs/gitexp/remotes/o/runs/default/loose": head,
               "refs/gitexp/remotes/o/runs/default/gone": None}
    assert write_packed_refs(repo / ".git", changes)
    after = refs(repo)
    expected = {**before, **{r: s for r, s in changes.items() if s}}
    del expected["refs/gitexp/remotes/o/runs/default/gone"]
    assert after == expected
    assert not (repo / ".git/refs/gitexp/remotes/o/runs/default/loose").exists()  # now a packed line
    assert git(repo, "show-ref", "-d", "v1") == peeled_before
    lines = (repo / ".git/packed-refs").read_bytes().splitlines()
    assert lines[0].startswith(b"# pack-refs with: peeled") and lines[0].split()[-1] == b"sorted"
    names = [line.split()[1] for line in lines[1:] if not line.startswith(b"^")]
    assert names == sorted(names)  # git binary-searches a file that says `sorted`
    git(repo, "fsck", "--strict")
    git(repo, "pack-refs", "--all")  # git reads and rewrites it as its own
    assert refs(repo) == expected


def test_packed_refs_locked_by_git_are_left_alone(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    lock = repo / ".git/packed-refs.lock"
    lock.write_text("")  # a `git pack-refs` or gc at work
    assert not write_packed_refs(repo / ".git", {"refs/gitexp/remotes/o/runs/default/x": head})
    assert lock.exists() and "refs/gitexp/remotes/o/runs/default/x" not in refs(repo)


@pytest.fixture
def team(tmp_path: Path, repo: Path) -> tuple[Path, Path]:
    return add_origin(tmp_path, repo), repo


def git_commands(trace: Path) -> list[str]:
    """The commands of the git processes a command ran (GIT_TRACE2_EVENT), the remote's included."""
    names = [json.loads(line).get("name") for line in trace.read_text().splitlines() if '"cmd_name"' in line]
    trace.unlink()
    return sorted(names)


@pytest.mark.slow
def test_push_and_pull_load_no_dulwich_and_write_refs_packed(team, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Work counts: a first push and a pull into a fresh clone import no dulwich, and the tracking
    refs and pulled runs arrive without a `git update-ref` or a glob fetch writing a file per ref."""
    origin, a = team
    ids = {make_run(a, f"r{i}") for i in range(3)}
    code = "from gitexp.cli import main\nassert main(['{}', 'origin']) == 0"
    monkeypatch.chdir(a)
    assert loaded_by(code.format("push"), ("dulwich",)) == []
    b = clone(origin, tmp_path / "b")
    monkeypatch.chdir(b)
    trace = tmp_path / "trace.json"
    assert loaded_by(f"import os\nos.environ['GIT_TRACE2_EVENT'] = {str(trace)!r}\n" + code.format("pull"),
                     ("dulwich",)) == []
    ran = git_commands(trace)
    assert ran.count("ls-remote") == 1 and ran.count("fetch") == 1
    assert {r.rsplit("/", 1)[-1] for r in refs(b) if r.startswith(RUNS)} == ids
    packed = (b / ".git/packed-refs").read_text()
    assert all(f"refs/gitexp/remotes/origin/runs/default/{i}" in packed for i in ids)
    git(b, "fsck", "--strict")


@pytest.mark.slow
def test_the_users_pre_push_hook_runs_and_can_stop_a_push(team, tmp_path: Path) -> None:
    origin, a = team
    run_id = make_run(a, "first")
    seen = tmp_path / "pre-push.in"
    hook = a / ".git/hooks/pre-push"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ncat > '{seen}'\necho 'tests fail: not pushing' >&2\nexit 1\n")
    hook.chmod(0o755)
    refused = gx(a, "push", "origin")
    assert refused.returncode == 1
    assert "the pre-push hook refused the push to origin: tests fail: not pushing; nothing was sent" in refused.stderr
    assert "Traceback" not in refused.stderr and run_id in seen.read_text()  # git gave it the run ref
    assert git(origin, "for-each-ref", RUNS) == ""
    assert git(a, "for-each-ref", "refs/gitexp/remotes/", "refs/gitexp/pushing/") == ""
    hook.write_text(f"#!/bin/sh\ncat > '{seen}'\n")
    pushed = gx(a, "push", "origin")
    assert pushed.returncode == 0, pushed.stderr
    assert f"{RUNS}default/{run_id}" in git(origin, "for-each-ref", RUNS)


@pytest.mark.parametrize(("url", "local"), [
    ("/srv/git/team.git", True), ("../team.git", True), ("file:///srv/git/team.git", True),
    ("git@github.com:team/repo.git", False), ("host:repo.git", False), ("ssh://host/repo.git", False),
    ("https://github.com/team/repo.git", False), ("git://127.0.0.1:9418/repo.git", False),
])
def test_a_remote_on_this_machine_is_told_as_git_tells_it(url: str, local: bool) -> None:
    """Only a remote on this machine gets objects without delta search (`transport.LOCAL_PACKING`)."""
    assert Remote("team", url).is_local is local


@pytest.mark.slow
def test_fetch_prunes_runs_deleted_there_and_a_server_refusing_ids_gets_the_glob_fetch(
        team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.services.session import open_session
    from gitexp.services.sync.pull import fetch

    origin, a = team
    ids = sorted(make_run(a, f"r{i}") for i in range(2))
    assert gx(a, "push", "origin").returncode == 0
    b = clone(origin, tmp_path / "b")
    tracking = "refs/gitexp/remotes/origin/runs/default/"

    def tracked() -> set[str]:
        return {r[len(tracking):] for r in refs(b) if r.startswith(tracking)}

    with open_session(b) as s:
        assert fetch(s, "origin").new == 2  # by id, the tracking refs written packed
    assert tracked() == set(ids)
    git(origin, "update-ref", "-d", f"{RUNS}default/{ids[0]}")
    with open_session(b) as s:
        assert fetch(s, "origin").pruned == 1
    assert tracked() == {ids[1]}
    late = make_run(a, "late")
    assert gx(a, "push", "origin").returncode == 0  # ids[0] goes again too: a still has it
    monkeypatch.setattr(transport, "_fetch_ids", lambda *args: False)  # a server serving advertised tips only
    with open_session(b) as s:
        assert fetch(s, "origin").new == 2
    assert tracked() == {*ids, late}
    git(b, "fsck", "--strict")
