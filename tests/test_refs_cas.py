"""Ref compare-and-swap by git's own protocol (store/refs.py): races, locks, reflogs, packed-refs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitexp.errors import ConcurrentUpdate
from gitexp.store import refs as refs_module
from gitexp.store.repo import FILE, Entry, open_repo
from tests.helpers import git

REF = "refs/gitexp/runs/race/r"

# One racer: waits for the start time, then tries every ref once (create, then swap from the
# first commit); prints what it won.
RACER = """
import sys, time
from gitexp.errors import ConcurrentUpdate
from gitexp.store.repo import open_repo
repo, start, rounds, mine, base = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open_repo(repo) as db:
    while time.time() < start:
        pass
    for i in range(rounds):
        for old in (None, base):
            try:
                db.set_ref(f"refs/gitexp/runs/race/r{i}", old, mine, "race")
                print("won", i, old is None, flush=True)
            except ConcurrentUpdate:
                pass
"""


def commits(repo: Path, n: int) -> list[str]:
    with open_repo(repo) as db:
        tree = db.write_tree({"f": Entry(FILE, db.add_blob(b"f\n"))})
        return [db.write_commit(tree, [], f"commit {i}") for i in range(n)]


def test_two_processes_racing_for_refs_one_wins_each(repo: Path) -> None:
    """Creating a ref: exactly one process wins; swapping it from one old value: at most one does."""
    base, a, b = commits(repo, 3)
    rounds = 30
    start = time.time() + 1.5  # both interpreters are up by then
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(repo), str(start), str(rounds), mine, base],
                              stdout=subprocess.PIPE, text=True) for mine in (a, b)]
    outs = [p.communicate(timeout=60)[0].split("\n") for p in procs]
    assert all(p.returncode == 0 for p in procs)
    created = [line for out in outs for line in out if line.endswith("True")]
    assert sorted(int(line.split()[1]) for line in created) == list(range(rounds))  # one creator per ref
    for i in range(rounds):
        tip = git(repo, "rev-parse", f"refs/gitexp/runs/race/r{i}").strip()
        assert tip in (a, b)
        log = git(repo, "reflog", "show", "--format=%H", f"refs/gitexp/runs/race/r{i}").split()
        assert log[-1] in (a, b) and len(log) == 1  # the loser of the swap had a stale old value
    git(repo, "fsck", "--strict", "--no-dangling")


@pytest.mark.parametrize("value, flushes", [
    (None, False), ("", False), ("pack,objects", False), ("loose-object", False), ("none", False),
    ("reference", True), ("committed", True), ("added", True), ("all", True), ("ref", True),
    ("  pack , reference", True), ("all,-reference", True), ("-reference", False), ("-,reference", False),
    ("reference ", False), ("a", True), ("c", True), ("p", False),
])
def test_refs_are_flushed_when_git_core_fsync_asks_for_references(value: str | None, flushes: bool) -> None:
    """As git reads core.fsync (environment.c, parse_fsync_components): its default flushes no refs."""
    assert refs_module.fsyncs_refs(value) is flushes


@pytest.mark.parametrize("setting", [None, "committed"])
def test_a_ref_update_flushes_only_when_core_fsync_says_so(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                            setting: str | None) -> None:
    if setting:
        git(repo, "config", "core.fsync", setting)
    base, new = commits(repo, 2)
    flushed: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(refs_module.os, "fsync", lambda fd: (flushed.append(fd), real_fsync(fd))[1])
    with open_repo(repo) as db:
        db.set_ref(REF, None, base, "create")
        db.set_ref(REF, base, new, "move")
    assert len(flushed) == (2 if setting else 0)
    assert git(repo, "rev-parse", REF).strip() == new


def test_compare_and_swap_refuses_a_stale_old_value(repo: Path) -> None:
    one, two, three = commits(repo, 3)
    with open_repo(repo) as db:
        db.set_ref(REF, None, one, "create")
        with pytest.raises(ConcurrentUpdate):
            db.set_ref(REF, None, two, "create again")
        db.set_ref(REF, one, two, "move")
        with pytest.raises(ConcurrentUpdate):
            db.set_ref(REF, one, three, "stale")
        assert db.read_ref(REF) == two
    assert git(repo, "rev-parse", REF).strip() == two


def test_reflog_lines_are_what_git_reads(repo: Path) -> None:
    one, two = commits(repo, 2)
    with open_repo(repo) as db:
        db.set_ref(REF, None, one, "start run r\nwith a second line")
        db.set_ref(REF, one, two, "end run r FINISHED")
    shown = git(repo, "reflog", "show", "--format=%H %gs|%gn|%ge", REF).splitlines()
    assert shown == [f"{two} gitexp: end run r FINISHED|Test User|test@example.com",
                     f"{one} gitexp: start run r with a second line|Test User|test@example.com"]
    assert git(repo, "rev-parse", f"{REF}@{{1}}").strip() == one
    line = (repo / ".git" / "logs" / REF).read_text().splitlines()[0]
    assert line.startswith(f"{'0' * 40} {one} Test User <test@example.com> ")


def test_a_held_lock_is_waited_for_then_named_with_how_to_remove_it(repo: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = commits(repo, 2)
    monkeypatch.setattr(refs_module, "LOCK_TIMEOUT", 0.2)
    with open_repo(repo) as db:
        db.set_ref(REF, None, one, "create")
        lock = repo / ".git" / f"{REF}.lock"
        lock.write_text("held by git\n")
        started = time.monotonic()
        with pytest.raises(ConcurrentUpdate) as err:
            db.set_ref(REF, one, two, "move")
        assert time.monotonic() - started >= 0.2
        assert f"{lock} existed for over 0.2 s" in err.value.message and f"rm {lock}" in (err.value.hint or "")
        assert lock.read_text() == "held by git\n"  # someone else's lock is never removed
        lock.unlink()
        db.set_ref(REF, one, two, "move")
    assert git(repo, "rev-parse", REF).strip() == two
    assert not lock.exists()


def test_packed_refs_are_honoured_as_the_old_value(repo: Path) -> None:
    one, two, three = commits(repo, 3)
    with open_repo(repo) as db:
        db.set_ref(REF, None, one, "create")
        db.set_ref(REF + "x", None, one, "create")
    git(repo, "pack-refs", "--all", "--prune")
    assert not (repo / ".git" / REF).exists()
    with open_repo(repo) as db:
        assert db.read_ref(REF) == one and db.read_ref(REF + "x") == one
        with pytest.raises(ConcurrentUpdate):
            db.set_ref(REF, None, two, "create over a packed ref")
        with pytest.raises(ConcurrentUpdate):
            db.set_ref(REF, two, three, "stale")
        db.set_ref(REF, one, two, "move a packed ref")
        assert db.read_ref(REF) == two and db.read_ref(REF + "x") == one
    assert git(repo, "rev-parse", REF).strip() == two
    git(repo, "fsck", "--strict", "--no-dangling")


def test_head_and_its_branch_read_as_git_does(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature/x")
    git(repo, "pack-refs", "--all", "--prune")
    with open_repo(repo) as db:
        assert db.head() == head and db.head_branch() == "feature/x"
        assert db.read_ref("refs/heads/feature/x") == head and db.read_ref("refs/heads/nothing") is None
    git(repo, "checkout", "-q", "--detach")
    with open_repo(repo) as db:
        assert db.head() == head and db.head_branch() is None


def test_a_linked_worktree_has_its_own_head(repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    (tmp_path / "wt" / "new.txt").write_text("new\n")
    git(tmp_path / "wt", "add", "new.txt")
    git(tmp_path / "wt", "commit", "-q", "-m", "other")
    other = git(tmp_path / "wt", "rev-parse", "HEAD").strip()
    with open_repo(tmp_path / "wt") as db:
        assert db.head() == other and db.head_branch() == "other"
        db.set_ref(REF, None, other, "from a worktree")
    assert git(repo, "rev-parse", REF).strip() == other  # run refs are shared
    assert os.path.exists(repo / ".git" / "logs" / REF)
