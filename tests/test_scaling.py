"""Costs that must not grow with history: run names, run starts, resolving names, packing.

Behaviour only (no timings): a run start reads no other run, never builds the
cache; one of 16 processes gets a contested name; packing keeps `git fsck`
clean, takes git's gc lock and survives a concurrent `git gc`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import gitexp
from gitexp.errors import InvalidName
from gitexp.services.catalog import cache as cache_mod
from gitexp.services.session import Session
from gitexp.store import packing
from gitexp.store.names import Holder, NameBook
from gitexp.store.repo import GitDB, open_repo
from tests.helpers import git


def _count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def test_a_run_start_reads_no_other_run_and_never_builds_the_cache(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        with gitexp.start_run(run_name=f"r{n}"):
            pass
    index = repo / ".git" / "gitexp" / "index.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)  # a fresh clone has no cache
    listings = _count_calls(monkeypatch, GitDB, "refs_under")
    summaries = _count_calls(monkeypatch, cache_mod.RunIndex, "summaries")
    with gitexp.start_run(run_name="new"):
        pass
    with gitexp.start_run():
        pass
    assert listings == [] and summaries == []  # no ref listing, no run record read
    assert not index.exists()
    assert {r.name for r in gitexp.search_runs()} >= {"r0", "r4", "new"}


def test_names_freed_by_removal_and_rename_can_be_taken_again(repo: Path) -> None:
    with gitexp.start_run(run_name="first") as one:
        pass
    gitexp.rename_run(one.id, "renamed")
    with gitexp.start_run(run_name="first"):  # the old name was released by the rename
        pass
    with pytest.raises(InvalidName, match="already exists"):
        gitexp.start_run(run_name="renamed")
    gitexp.remove_run("renamed")
    with gitexp.start_run(run_name="renamed") as again:
        pass
    assert gitexp.get_run("renamed").id == again.id


def test_a_reservation_left_by_a_crashed_start_is_taken_over(repo: Path) -> None:
    book = NameBook(repo / ".git" / "gitexp" / "names")
    os.makedirs(book.folder)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = {"name": "orphan", "ref": "refs/gitexp/runs/default/0000000000000000",
              "pid": int(dead.stdout), "host": __import__("socket").gethostname()}
    Path(book.path("orphan")).write_text(json.dumps(holder))
    with gitexp.start_run(run_name="orphan") as run:
        pass
    assert gitexp.get_run("orphan").id == run.id


def test_a_generated_name_passes_taken_ones_without_reading_them(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every adjective-noun pair taken (past ~7,000 runs) a start tries 21 names: each costs one create."""
    from gitexp.names import _ADJECTIVES, _NOUNS
    from gitexp.services.tracking import names

    book = NameBook(repo / ".git" / "gitexp" / "names")
    ref = "refs/gitexp/runs/default/1m8n5czkvmkb4zze"
    taken = f"{_ADJECTIVES[0]}-{_NOUNS[0]}"
    assert book.create(taken, ref) and not book.create(taken, ref.replace("czk", "aaa"))
    monkeypatch.setattr(names, "choose", lambda seq: seq[0])  # always the taken pair
    monkeypatch.setattr(NameBook, "holder", lambda *_: pytest.fail("a taken reservation was read"))
    with Session.open(repo) as s:
        got = names.claim_generated_name(s, ref.replace("czk", "bbb"))
    assert got == f"{taken}-2"
    assert os.readlink(book.path(got)).startswith("default/1m8n5bbbvmkb4zze ")


def test_a_reservation_is_a_link_in_the_inode_or_a_file_where_links_fail(repo: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    book = NameBook(repo / ".git" / "gitexp" / "names")
    ref = "refs/gitexp/runs/default/1m8n5czkvmkb4zze"
    assert book.try_reserve("brisk-otter", ref) is None
    path = book.path("brisk-otter")
    assert os.path.islink(path) and os.lstat(path).st_blocks == 0  # no disk block of its own
    assert book.holder("brisk-otter") == Holder("brisk-otter", ref, os.getpid(), __import__("socket").gethostname())
    assert book.try_reserve("brisk-otter", ref.replace("czk", "aaa")).ref == ref  # taken: the holder says who

    def no_links(*_: object) -> None:
        raise OSError(errno.EPERM, "no symbolic links here")

    monkeypatch.setattr(os, "symlink", no_links)
    assert book.try_reserve("calm-heron", ref) is None and not os.path.islink(book.path("calm-heron"))
    assert book.holder("calm-heron").ref == ref and book.try_reserve("calm-heron", "x") is not None
    book.release("brisk-otter", ref)
    assert book.holder("brisk-otter") is None


def test_names_are_seeded_once_from_the_cache(repo: Path) -> None:
    for n in range(3):
        with gitexp.start_run(run_name=f"old{n}"):
            pass
    names = repo / ".git" / "gitexp" / "names"
    import shutil

    shutil.rmtree(names)  # runs made before reservations existed
    gitexp.search_runs()  # the cache knows them
    with pytest.raises(InvalidName, match="'old1' already exists"):
        gitexp.start_run(run_name="old1")
    assert (names / ".seeded").exists()
    assert len([p for p in names.iterdir() if not p.name.startswith(".")]) >= 3


@pytest.mark.slow  # seconds of real processes: in the slow set
def test_sixteen_processes_one_explicit_name_exactly_one_wins(repo: Path) -> None:
    go = time.time() + 4
    child = textwrap.dedent(f"""
        import sys, time
        import gitexp
        from gitexp.errors import GitexpError
        gitexp.set_repository({str(repo)!r})
        time.sleep(max(0, {go} - time.time()))
        try:
            with gitexp.start_run(run_name="contested"):
                pass
            print("OK")
        except GitexpError as exc:
            print("REFUSED", exc)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(16)]
    outs = [p.communicate(timeout=300) for p in procs]
    results = [out.strip() for out, _ in outs]
    assert sum(r == "OK" for r in results) == 1, [o for o in outs]
    assert all(r == "OK" or "already exists" in r for r in results), results
    assert [r.name for r in gitexp.search_runs()] == ["contested"]


# -- packing ------------------------------------------------------------------------------
def _loose(repo: Path) -> int:
    out = git(repo, "count-objects", "-v")
    return int(next(line.split()[1] for line in out.splitlines() if line.startswith("count:")))


def _make_runs(n: int) -> list[str]:
    ids = []
    for i in range(n):
        with gitexp.start_run(params={"i": i}) as run:
            gitexp.log_metric("acc", i / 10)
        ids.append(run.id)
    return ids


def test_packing_packs_loose_objects_and_keeps_fsck_clean(repo: Path) -> None:
    ids = _make_runs(6)
    before = _loose(repo)
    assert before > 30
    with open_repo(repo) as db:
        assert packing.estimate_loose(db) >= 0
        assert packing.maybe_pack(db, threshold=0, detach=False) is False  # 0: never
        assert packing.pack_loose_objects(db)
    assert _loose(repo) == 0
    assert len(list((repo / ".git" / "objects" / "pack").glob("*.pack"))) >= 1
    # run refs packed too: lines of packed-refs, no loose files left
    assert not [p for p in (repo / ".git" / "refs" / "gitexp").rglob("*") if p.is_file()]
    assert len(git(repo, "for-each-ref", "refs/gitexp/runs/").splitlines()) == 6
    git(repo, "fsck", "--strict", "--no-progress")
    assert {r.id for r in gitexp.search_runs()} == set(ids)
    gitexp.tag_run(ids[0], {"after": "packing"})  # a packed ref still moves by compare-and-swap
    assert gitexp.get_run(ids[0]).tags["after"] == "packing"
    for _ in range(3):  # more rounds: packs are rolled up, not one more each time
        _make_runs(2)
        with open_repo(repo) as db:
            packing.pack_loose_objects(db)
    assert len(list((repo / ".git" / "objects" / "pack").glob("*.pack"))) <= 3
    assert not (repo / ".git" / "gc.pid").exists()


def test_packing_steps_aside_for_a_running_git_gc(repo: Path) -> None:
    _make_runs(2)
    pid_file = repo / ".git" / "gc.pid"
    pid_file.write_text(f"{os.getpid()} {__import__('socket').gethostname()}")  # a live gc
    with open_repo(repo) as db:
        assert packing.pack_loose_objects(db) is False
    assert _loose(repo) > 0
    pid_file.unlink()


def test_run_end_starts_packing_past_the_threshold(repo: Path) -> None:
    git(repo, "config", "gitexp.packThreshold", "1")
    _make_runs(3)

    def packed() -> bool:  # the packer runs detached, holding gc.pid; objects of runs that end meanwhile
        # stay loose until a later run's end packs them
        packs = list((repo / ".git" / "objects" / "pack").glob("*.pack"))
        return bool(packs) and not (repo / ".git" / "gc.pid").exists()

    deadline = time.time() + 60
    while not packed() and time.time() < deadline:
        time.sleep(0.1)
    assert packed()
    git(repo, "fsck", "--strict", "--no-progress")


def test_packing_survives_a_concurrent_git_gc(repo: Path) -> None:
    ids = _make_runs(4)
    stop = threading.Event()
    errors: list[str] = []

    def gc_loop() -> None:
        while not stop.is_set():
            # Not --prune=now: that deletes objects a run is still writing (git's own warning), packing or not.
            proc = subprocess.run(["git", "gc", "-q"], cwd=repo, capture_output=True, text=True)
            if proc.returncode != 0 and "already running" not in proc.stderr:
                errors.append(proc.stderr)

    thread = threading.Thread(target=gc_loop)
    thread.start()
    try:
        for _ in range(4):
            ids += _make_runs(2)
            with open_repo(repo) as db:
                packing.pack_loose_objects(db)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    git(repo, "fsck", "--strict", "--no-progress")
    with Session.open(repo) as s:
        s.cache.clear()
    runs = gitexp.search_runs()
    assert {r.id for r in runs} == set(ids) and all(r.status == "FINISHED" for r in runs)
