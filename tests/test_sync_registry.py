"""Registry tags travel with their runs: push sends them (never forced), fetch/pull bring them
(create-if-absent), and a model's large artifact comes from the remote store on `models get`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import git
from tests.sync_helpers import add_origin, clone, gx, inside, make_run

# Real processes, servers and remotes: minutes on a loaded machine, so outside the README's
# 90-second selection; .ci/run runs them with -m "slow or interop".
pytestmark = pytest.mark.slow

TAGS = "refs/tags/"


@pytest.fixture
def team(tmp_path: Path, repo: Path) -> tuple[Path, Path]:
    """(origin bare repo, clone A = `repo`); A's main branch is on origin."""
    origin = add_origin(tmp_path, repo)
    return origin, repo


def remote_tags(origin: Path) -> dict[str, str]:
    out = git(origin, "ls-remote", "--refs", str(origin), "refs/tags/*")
    return {ref[len(TAGS):]: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def local_tags(path: Path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/tags/")
    return dict(line.split(" ") for line in out.splitlines())


def ok(proc):  # noqa: ANN001, ANN201
    assert proc.returncode == 0, proc.stderr
    return proc


def models(path: Path) -> list[dict]:
    return json.loads(ok(gx(path, "models", "ls", "--json")).stdout)


@pytest.mark.parametrize("transport", ["git", pytest.param("dulwich", marks=pytest.mark.slow)])
def test_registry_tags_go_with_their_runs_and_come_back_in_a_fresh_clone(team, transport: str) -> None:
    origin, a = team
    env = {"GITEXP_TRANSPORT": transport}
    first = make_run(a, "first", acc=0.7)
    second = make_run(a, "second", acc=0.8)
    ok(gx(a, "models", "register", "churn", first))
    ok(gx(a, "models", "register", "churn", second))
    ok(gx(a, "models", "assign", "churn", "v0.0.2", "--stage", "production"))
    ok(gx(a, "models", "register", "other", second, "--version", "v1.0.0"))
    ok(gx(a, "tag", first, "note=edited after registration"))  # the run ref moves on; the version stays

    # One run: only the tags whose commits belong to it.
    pushed = ok(gx(a, "push", "origin", "first", env=env))
    assert "pushed 1 run(s) to origin, 1 registry tag(s)" in pushed.stderr
    assert set(remote_tags(origin)) == {"churn@v0.0.1"}

    pushed = ok(gx(a, "push", env=env))  # default scope: every run, and all their registry tags
    assert "pushed 1 run(s) to origin, 3 registry tag(s)" in pushed.stderr, pushed.stderr
    mine = local_tags(a)
    assert remote_tags(origin) == mine  # the same annotated tag objects
    assert set(mine) == {"churn@v0.0.1", "churn@v0.0.2", "churn#production#1", "other@v1.0.0"}

    again = ok(gx(a, "push", env=env))  # idempotent
    assert "origin is up to date (2 run(s), 4 registry tag(s))" in again.stderr, again.stderr
    dry = ok(gx(a, "push", "--dry-run", "--json", env=env))
    assert json.loads(dry.stdout)["tags"] == [] and json.loads(dry.stdout)["send"] == []

    fresh = a.parent / "fresh"  # without tags: plain `git clone` would fetch them itself
    git(a.parent, "clone", "-q", "--no-tags", str(origin), str(fresh))
    assert local_tags(fresh) == {}
    pulled = ok(gx(fresh, "pull", env=env))
    assert "4 registry tag(s) new" in pulled.stderr
    assert local_tags(fresh) == mine
    assert models(fresh) == models(a)
    assert [m["stages"] for m in models(fresh) if m["name"] == "churn"] == [{"production": "v0.0.2"}]
    shown = json.loads(ok(gx(fresh, "models", "show", "churn", "--json")).stdout)
    assert {v["version"]: v["run"] for v in shown["versions"]} == {"v0.0.1": first, "v0.0.2": second}
    assert "up to date" in ok(gx(fresh, "push", env=env)).stderr  # nothing to send back
    again = ok(gx(fresh, "pull", env=env))
    assert "registry tag" not in again.stderr
    git(fresh, "fsck", "--no-dangling")


def test_a_tag_that_differs_on_the_other_side_is_reported_never_overwritten(team, tmp_path: Path) -> None:
    origin, a = team
    run_id = make_run(a, "shared")
    ok(gx(a, "push"))
    b = clone(origin, tmp_path / "b")
    ok(gx(b, "pull"))
    git(a, "config", "remote.origin.tagOpt", "--no-tags")
    commit = git(b, "rev-parse", f"refs/gitexp/runs/default/{run_id}").strip()
    # Both clones register v0.0.1 of one model, each its own tag object.
    git(b, "tag", "-a", "-m", "by b", "churn@v0.0.1", commit)
    ok(gx(b, "push"))
    theirs = remote_tags(origin)["churn@v0.0.1"]
    git(a, "tag", "-a", "-m", "by a", "churn@v0.0.1", commit)
    ours = local_tags(a)["churn@v0.0.1"]
    assert ours != theirs

    pushed = gx(a, "push")
    assert pushed.returncode == 1
    assert "rejected: tag churn@v0.0.1: origin has this tag with another value" in pushed.stderr
    assert remote_tags(origin)["churn@v0.0.1"] == theirs

    pulled = gx(a, "pull")
    assert pulled.returncode == 1
    assert "conflict: registry tag churn@v0.0.1: differs here" in pulled.stderr
    assert local_tags(a)["churn@v0.0.1"] == ours  # kept

    # A new tag on the remote is still brought in beside the conflict.
    git(b, "tag", "-a", "-m", "by b", "churn#dev#1", commit)
    ok(gx(b, "push"))
    fetched = gx(a, "fetch")
    assert "1 registry tag(s) new" in fetched.stderr and fetched.returncode == 1
    assert local_tags(a)["churn#dev#1"] == remote_tags(origin)["churn#dev#1"]


def test_models_get_downloads_a_large_model_from_the_remote_store(team, tmp_path: Path) -> None:
    import gitexp

    origin, a = team
    store = tmp_path / "store"
    store.mkdir()
    ok(gx(a, "store", "set", "origin", str(store)))
    git(a, "add", ".gitexp.yaml")
    git(a, "commit", "-q", "-m", "store")
    git(a, "push", "-q", "origin", "main")
    payload = bytes(range(256)) * 8192  # 2 MiB: over the side-store threshold
    run_id = make_run(a, "big", artifact=payload)
    ok(gx(a, "models", "register", "churn", run_id, "--artifact", "model/weights.bin"))
    ok(gx(a, "models", "assign", "churn", "v0.0.1", "--stage", "production"))
    ok(gx(a, "push"))

    fresh = clone(origin, tmp_path / "fresh")
    ok(gx(fresh, "pull"))
    assert not list((fresh / ".git" / "gitexp" / "objects").rglob("*" + hashlib.sha256(payload).hexdigest()[2:]))
    got = ok(gx(fresh, "models", "get", "churn#production", "-o", str(tmp_path / "m.bin")))
    assert (tmp_path / "m.bin").read_bytes() == payload, got.stderr
    with inside(fresh):
        path = gitexp.download_artifacts("models:/churn/v0.0.1", dst_path=str(tmp_path / "api"))
    assert Path(path).read_bytes() == payload

    # A store whose copy is damaged: refused, nothing written.
    fresh2 = clone(origin, tmp_path / "fresh2")
    ok(gx(fresh2, "pull"))
    sha = hashlib.sha256(payload).hexdigest()
    damaged = store / sha[:2] / sha[2:]
    damaged.chmod(0o644)
    damaged.write_bytes(b"x" + payload[1:])
    bad = gx(fresh2, "models", "get", "churn", "-o", str(tmp_path / "bad.bin"))
    assert bad.returncode != 0 and "hash mismatch" in bad.stderr
    assert not (tmp_path / "bad.bin").exists()


def git_commands(trace: Path) -> list[str]:
    """The git commands gitexp ran itself, from a GIT_TRACE2_EVENT file (the remote's own left out)."""
    ours = {"ls-remote", "fetch", "push", "update-ref", "cat-file"}
    names = [json.loads(line).get("name") for line in trace.read_text().splitlines() if '"cmd_name"' in line]
    trace.unlink()
    return sorted(n for n in names if n in ours)


def test_one_listing_of_the_remote_per_push_and_pull_and_a_no_op_push_is_only_that(team, tmp_path: Path) -> None:
    """Work counts, not times: the registry tags come in the same `ls-remote` as the runs."""
    origin, a = team
    run_id = make_run(a, "first")
    ok(gx(a, "models", "register", "churn", run_id))
    trace = tmp_path / "trace2.json"
    env = {"GIT_TRACE2_EVENT": str(trace)}
    ok(gx(a, "push", env=env))
    assert git_commands(trace) == ["cat-file", "ls-remote", "push"]  # the tracking ref: written in packed-refs
    assert "churn@v0.0.1" in remote_tags(origin)
    ok(gx(a, "push", env=env))
    assert git_commands(trace) == ["ls-remote"]  # up to date: tips compared, nothing read or written
    b = clone(origin, tmp_path / "b")
    ok(gx(b, "pull", env=env))
    assert git_commands(trace).count("ls-remote") == 1
    assert local_tags(b) == local_tags(a)
