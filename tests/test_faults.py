"""Faults: kill -9, many writers at once, malformed records from teammates, corrupt local state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import traceback
import time
from pathlib import Path

import pytest

import gitexp
from gitexp.services.tracking import run as tracking
from gitexp.services.tracking.localstate import active_dirs
from gitexp.services.tracking.finalize import recover_dead_runs
from gitexp.services.catalog.listing import get_run, list_runs
from gitexp.services.session import open_session
from gitexp.store.journal import read_journals
from tests.helpers import cli, git, metric_rows, record, run_refs, show

# Real processes, servers and remotes: minutes on a loaded machine, so outside the README's
# 90-second selection; .ci/run runs them with -m "slow or interop".
pytestmark = pytest.mark.slow

PY = sys.executable


def start_child(repo: Path, body: str) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", textwrap.dedent(body)], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, text: str) -> None:
    line = proc.stdout.readline()
    assert line.strip() == text, (line, proc.stderr.read() if proc.poll() is not None else "")


# -- kill -9 ------------------------------------------------------------------------------------------

def test_kill_9_keeps_flushed_data_and_shows_killed(repo: Path) -> None:
    git(repo, "config", "gitexp.flushinterval", "0.05")
    child = start_child(repo, """\
        import time
        import gitexp
        run = gitexp.start_run(run_name="doomed", tags={"kind": "kill-test"})
        gitexp.log_param("lr", 0.1)
        for i in range(100):
            gitexp.log_metric("loss", 1.0 / (i + 1))
        time.sleep(0.4)  # several flush intervals: the background flusher writes the journal
        print("logged", flush=True)
        time.sleep(60)
    """)
    try:
        wait_for_line(child, "logged")
        # the run is visible to other processes while it runs: ref, record, live values
        [ref] = run_refs(repo)
        assert record(repo, ref)["status"] == "RUNNING"
        listed = json.loads(cli("ls", "--json", cwd=repo).stdout)
        assert [(r["name"], r["status"]) for r in listed] == [("doomed", "RUNNING")]
        assert listed[0]["metrics"]["loss"]["count"] == 100
        assert listed[0]["params"] == {"lr": 0.1}
        child.kill()  # SIGKILL: no atexit, no final commit from the child
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert record(repo, ref)["status"] == "RUNNING"  # nothing happened yet on the git side

    proc = cli("show", "doomed", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["info"]["status"] == "KILLED"
    assert data["metrics"]["loss"]["count"] == 100 and data["metrics"]["loss"]["step"] == 99
    assert data["params"] == {"lr": 0.1} and data["tags"] == {"kind": "kill-test"}
    out = cli("ls", cwd=repo).stdout
    assert "KILLED" in out and "RUNNING" not in out
    info = record(repo, ref)
    assert info["status"] == "KILLED" and info["end_time"] is not None and info["exit_code"] is None
    assert len(metric_rows(repo, ref, "loss")) == 100
    assert "KILLED" in git(repo, "log", "-1", "--format=%s", ref)
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())
    git(repo, "fsck", "--strict")


def test_kill_9_with_torn_and_garbage_journal_lines(repo: Path) -> None:
    git(repo, "config", "gitexp.flushinterval", "0.05")
    child = start_child(repo, """\
        import time
        import gitexp
        run = gitexp.start_run(run_name="torn")
        gitexp.log_metric("a", 1.0)
        gitexp.log_metric("a", 2.0)
        gitexp.flush()
        print("logged", flush=True)
        time.sleep(60)
    """)
    try:
        wait_for_line(child, "logged")
        [folder] = active_dirs(repo / ".git" / "gitexp")
        [journal] = Path(folder.path).glob("journal-*.tsv")
        with open(journal, "a") as f:  # a damaged middle line, then a torn last line (killed mid-write)
            f.write("m\ta\tnot-a-step\t3.0\t1\n")
            f.write("m\tb\t0\t5.0\t1700000000000\n")
            f.write("m\ta\t7\t0.12")
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    run = gitexp.get_run("torn")
    assert run.status == "KILLED"
    assert [(s, v) for s, v, _ in run.metric_history("a")] == [(0, 1.0), (1, 2.0)]
    assert [(s, v) for s, v, _ in run.metric_history("b")] == [(0, 5.0)]


def test_dead_owner_with_no_journal_data(repo: Path) -> None:
    child = start_child(repo, """\
        import time
        import gitexp
        gitexp.start_run(run_name="idle")
        print("started", flush=True)
        time.sleep(60)
    """)
    try:
        wait_for_line(child, "started")
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    with open_session(repo) as db:
        assert [s.status for s in list_runs(db)] == ["KILLED"]
        assert recover_dead_runs(db.db, int(time.time() * 1000)) == []  # already done, idempotent


# -- many writers at once -------------------------------------------------------------------------------

@pytest.mark.stress  # eight gitexp run processes at once
def test_eight_gitexp_run_processes_at_once(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "gitexp.flushinterval", "0.05")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""\
        import sys
        import gitexp
        n = int(sys.argv[1])
        for i in range(300):
            gitexp.log_metrics({"loss": 1.0 / (i + 1), f"worker/{n}": float(i)})
        gitexp.log_text(f"worker {n}", "who.txt")
        print("worker", n, "done")
    """))
    procs = [subprocess.Popen([PY, "-m", "gitexp", "run", "-e", "sweep", "-n", f"w{n}", "-p", f"n={n}",
                               "--", PY, str(script), str(n)], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(8)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "Traceback" not in err

    refs = run_refs(repo, "sweep")
    assert len(refs) == 8

    def check_records() -> None:
        seen = set()
        for ref in refs:
            info = record(repo, ref)
            n = record(repo, ref, "params.yaml")["n"]
            seen.add(n)
            assert info["status"] == "FINISHED" and info["exit_code"] == 0 and info["name"] == f"w{n}"
            assert [int(r[0]) for r in metric_rows(repo, ref, "loss")] == list(range(300))
            assert [r[1] for r in metric_rows(repo, ref, f"worker/{n}")] == [repr(float(i)) for i in range(300)]
            assert show(repo, ref, ".gitexp/artifacts/who.txt") == f"worker {n}"
            assert f"worker {n} done" in show(repo, ref, ".gitexp/output.log")
        assert seen == set(range(8))

    check_records()
    git(repo, "fsck", "--strict")
    assert not list((repo / ".git" / "gitexp" / "active").iterdir())

    git(repo, "gc", "--prune=now", "-q")
    packed = (repo / ".git" / "packed-refs").read_text()
    assert all(ref in packed for ref in refs)  # gc packed the run refs: gitexp now reads packed-refs
    assert sorted(run_refs(repo, "sweep")) == sorted(refs)
    for ref in refs:
        git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    check_records()
    git(repo, "fsck", "--strict")
    (repo / ".git" / "gitexp" / "index.sqlite").unlink(missing_ok=True)  # read every record from the pack
    listed = json.loads(cli("ls", "-e", "sweep", "--json", cwd=repo).stdout)
    assert len(listed) == 8 and {r["status"] for r in listed} == {"FINISHED"}
    assert all(r["metrics"]["loss"]["count"] == 300 for r in listed)
    with open_session(repo) as db:
        assert get_run(db, "w3").metric_history("worker/3")[-1][:2] == (299, 299.0)


@pytest.mark.stress  # writers racing readers
def test_finishing_runs_race_with_readers(repo: Path) -> None:
    """Readers (ls, show, the next run's start) scan active runs while owners end and remove them."""
    errors: list[str] = []
    done = threading.Event()
    created = []

    def owner() -> None:
        try:
            with open_session(repo) as db:
                for _ in range(25):
                    run = tracking.create_run(db, "race", None, {}, {}, ["x"], None, set())
                    run.log_metric("m", 1.0)
                    run.flush()
                    run.end()
                    created.append(run.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(f"owner: {exc!r}")
        finally:
            done.set()

    def reader() -> None:
        with open_session(repo) as db:
            while not done.is_set():
                try:
                    recover_dead_runs(db.db, int(time.time() * 1000))
                    for folder in active_dirs(db.db.local_dir):
                        read_journals(folder.path)
                except Exception as exc:
                    errors.append(f"reader: {exc!r}\n{traceback.format_exc()}")

    threads = [threading.Thread(target=owner)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    with open_session(repo) as db:
        runs = list_runs(db, "race")
    assert len(runs) == 25 and {s.status for s in runs} == {"FINISHED"}


# -- malformed input ----------------------------------------------------------------------------------

def plumb_run(repo: Path, files: dict[str, bytes] | None, run_id: str, experiment: str = "default") -> str:
    """Commit a (broken) run with real git plumbing, as a teammate's tool might have; return its ref."""

    def blob(data: bytes) -> str:
        return subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data,
                              capture_output=True, check=True).stdout.decode().strip()

    def mktree(lines: list[str]) -> str:
        return subprocess.run(["git", "mktree"], cwd=repo, input="".join(lines).encode(),
                              capture_output=True, check=True).stdout.decode().strip()

    top = [f"100644 blob {blob(b'print(1)' + bytes(chr(10), 'ascii'))}\ttrain.py\n"]
    if files is not None:
        inner = mktree([f"100644 blob {blob(data)}\t{name}\n" for name, data in sorted(files.items())
                        if "/" not in name] + [
            f"040000 tree {mktree([f'100644 blob {blob(data)}' + chr(9) + name.split('/', 1)[1] + chr(10)])}"
            f"\t{name.split('/', 1)[0]}\n" for name, data in sorted(files.items()) if "/" in name])
        top.append(f"040000 tree {inner}\t.gitexp\n")
    tree = mktree(top)
    head = git(repo, "rev-parse", "HEAD").strip()
    commit = subprocess.run(["git", "commit-tree", tree, "-p", head, "-m", "teammate's run"], cwd=repo,
                            capture_output=True, check=True, text=True).stdout.strip()
    ref = f"refs/gitexp/runs/{experiment}/{run_id}"
    git(repo, "update-ref", ref, commit)
    return ref


GOOD_INFO = b"format: 1\nid: 0zzzzzzzz0000005\nname: fine\nexperiment: default\nstatus: FINISHED\n"


def test_malformed_records_do_not_break_listing(repo: Path) -> None:
    with gitexp.start_run(run_name="healthy"):
        gitexp.log_param("lr", 0.1)
        gitexp.log_metric("acc", 0.9)
    broken = {
        "0zzzzzzzz0000001": {"run.yaml": b"id: [unclosed\n  status: :::\n"},
        "0zzzzzzzz0000002": {"run.yaml": b"- just\n- a list\n"},
        "0zzzzzzzz0000003": {"run.yaml": b"\x00\xff\xfe garbage \x80"},
        "0zzzzzzzz0000004": None,  # a plain code commit under the runs namespace
        "0zzzzzzzz0000006": {"run.yaml": GOOD_INFO.replace(b"0005", b"0006").replace(b"FINISHED", b"DONE")},
        "0zzzzzzzz0000007": {"run.yaml": GOOD_INFO.replace(b"0005", b"0007").replace(b"format: 1", b"format: 9")},
        "0zzzzzzzz0000008": {"run.yaml": GOOD_INFO.replace(b"0005", b"0008"), "params.yaml": b"[1, 2",
                             "summary.yaml": b"loss: {last: 1"},
    }
    for run_id, files in broken.items():
        plumb_run(repo, files, run_id)
    # parseable run.yaml, unreadable metric file: listing works, show names the problem
    metric_ref = plumb_run(repo, {"run.yaml": GOOD_INFO, "metrics/loss.tsv": b"step\tvalue\ttimestamp\n1\tx\ty\n"},
                           "0zzzzzzzz0000005")
    git(repo, "fsck", "--strict")

    proc = cli("ls", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    newer = "0zzzzzzzz0000007"  # a newer format is not damage: it says "upgrade"
    for run_id in broken:  # these ids share 15 characters, so ls shows them in full
        assert rows[run_id].split()[1] == ("NEWER" if run_id == newer else "CORRUPT"), rows[run_id]
    assert any("healthy" in line and "FINISHED" in line for line in rows.values())

    listed = {r["id"]: r for r in json.loads(cli("ls", "--json", cwd=repo).stdout)}
    assert len(listed) == 1 + len(broken) + 1
    for run_id in broken:
        assert listed[run_id]["status"] == ("NEWER" if run_id == newer else "CORRUPT") and listed[run_id]["error"]
    assert "newer gitexp" in listed[newer]["error"]
    assert "format 9" in listed["0zzzzzzzz0000007"]["error"]
    assert listed["0zzzzzzzz0000005"]["status"] == "FINISHED"
    healthy = next(r for r in listed.values() if r["name"] == "healthy")
    assert healthy["params"] == {"lr": 0.1} and healthy["metrics"]["acc"]["last"] == 0.9

    for run_id in (*broken, "0zzzzzzzz0000005"):
        proc = cli("show", run_id, cwd=repo)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.splitlines()
        assert lines[0].startswith("Error: "), (run_id, lines)
    assert "malformed metric file" in cli("show", "0zzzzzzzz0000005", cwd=repo).stderr
    assert cli("show", "healthy", cwd=repo).returncode == 0
    assert record(repo, metric_ref)["name"] == "fine"  # untouched


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "bad-rows"])
def test_corrupt_cache_is_rebuilt_silently(repo: Path, damage: str) -> None:
    for lr in (0.1, 0.2):
        with gitexp.start_run(run_name=f"lr-{lr}"):
            gitexp.log_param("lr", lr)
            gitexp.log_metric("acc", lr * 2)
    first = cli("ls", cwd=repo)
    assert first.returncode == 0
    cache = repo / ".git" / "gitexp" / "index.sqlite"
    assert cache.read_bytes().startswith(b"SQLite format 3\x00")
    if damage == "garbage":
        cache.write_bytes(b"this is not a database\n" * 500)
    elif damage == "empty":
        cache.write_bytes(b"")
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:100])
    else:
        import sqlite3

        conn = sqlite3.connect(cache)  # damage the JSON columns of every cached row, whatever the schema
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        damaged = [c for c in columns if c in ("data", "info", "params", "tags", "summary")]
        assert damaged, columns
        conn.execute("UPDATE runs SET " + ", ".join(f"{c} = '{{not json'" for c in damaged))
        conn.commit()
        conn.close()
    again = cli("ls", cwd=repo)
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout == first.stdout
    assert json.loads(cli("ls", "--json", cwd=repo).stdout)[0]["params"] == {"lr": 0.2}
    import sqlite3

    conn = sqlite3.connect(cache)
    try:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2  # rebuilt from the refs
    finally:
        conn.close()


def test_corrupt_active_folder_is_ignored(repo: Path) -> None:
    with gitexp.start_run(run_name="ok"):
        gitexp.log_metric("m", 1.0)
    junk = repo / ".git" / "gitexp" / "active" / "0zzzzzzzz000000j"
    junk.mkdir(parents=True)
    (junk / "run.json").write_text("{not json")
    (junk / "journal-1-abcd.tsv").write_text("garbage\n")
    proc = cli("ls", cwd=repo)
    assert proc.returncode == 0 and "ok" in proc.stdout and "FINISHED" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_object_lock_left_by_a_killed_writer(repo: Path) -> None:
    """A writer killed while writing a loose object leaves `<object>.lock`; later runs must still work.

    The same lock is what two processes collide on when they write one new object at the same
    moment (eight parallel runs all write the empty tags.yaml `{}`), so this is also the
    deterministic form of that race.
    """
    sha = subprocess.run(["git", "hash-object", "--stdin"], cwd=repo, input=b"{}\n", capture_output=True,
                         check=True).stdout.decode().strip()
    lock = repo / ".git" / "objects" / sha[:2] / f"{sha[2:]}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(b"")
    proc = cli("run", "--", PY, "-c", "pass", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    [ref] = run_refs(repo)
    assert record(repo, ref, "tags.yaml") == {}
    git(repo, "fsck", "--strict")


def test_a_run_whose_record_cannot_be_written_does_not_break_listing(repo: Path, tmp_path: Path) -> None:
    """Two processes of one run log artifacts `model` and `model/part` at the same moment (neither can see
    the other's yet): that record has no valid tree. Its owner's end fails, but ls/show/run still work."""
    with gitexp.start_run(run_name="fine"):
        gitexp.log_metric("m", 1.0)
    src = tmp_path / "f.txt"
    src.write_text("data")
    with open_session(repo) as db:
        owner = tracking.create_run(db, "default", "tangled", {}, {}, ["x"], None, {"fine"})
    helper = tracking.attach(owner.id, owner.ref, str(repo / ".git"))
    owner.log_artifact_file(src, "model")
    helper.log_artifact_file(src, "model/part")
    helper.end()
    with pytest.raises(gitexp.GitexpError):
        owner.end()  # the error reaches the user's end_run
    with open_session(repo) as db:
        statuses = {s.name: s.status for s in list_runs(db)}
    assert statuses == {"fine": "FINISHED", "tangled": "RUNNING"}
    proc = cli("ls", cwd=repo)
    assert proc.returncode == 0 and "fine" in proc.stdout and "tangled" in proc.stdout, proc.stderr
    assert cli("run", "--", PY, "-c", "pass", cwd=repo).returncode == 0


def test_git_gc_prune_now_during_a_run(repo: Path, tmp_path: Path) -> None:
    """A user's `git gc --prune=now` while a run is active must not lose what it logged so far."""
    git(repo, "config", "gitexp.artifactthreshold", "1000")
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 5000)
    with gitexp.start_run(run_name="gc-victim") as run:
        gitexp.log_param("lr", 0.1)
        gitexp.log_text("small inline artifact", "notes.txt")
        gitexp.log_artifact(big)
        gitexp.log_metric("m", 1.0)
        git(repo, "gc", "--prune=now", "-q")
        gitexp.log_metric("m", 2.0)
    ref = only_ref_of(repo)
    git(repo, "fsck", "--strict")
    assert show(repo, ref, ".gitexp/artifacts/notes.txt") == "small inline artifact"
    assert [r[1] for r in metric_rows(repo, ref, "m")] == ["1.0", "2.0"]
    got = gitexp.get_run(run.id)
    assert got.status == "FINISHED" and got.params == {"lr": 0.1}
    assert {a.path: a.inline for a in got.artifacts} == {"notes.txt": True, "big.bin": False}


def only_ref_of(repo: Path) -> str:
    [ref] = run_refs(repo)
    return ref


def test_killed_gitexp_run_waits_for_its_still_logging_child(repo: Path, tmp_path: Path) -> None:
    """kill -9 of `gitexp run` alone: the run is not finalised while a process of it still logs.

    The direct child dies with the wrapper (test_process_faults); a grandchild
    (here under a shell) lives on, attached to the run.
    """
    git(repo, "config", "gitexp.flushinterval", "0.05")
    go = tmp_path / "go"
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""\
        import os, time
        import gitexp
        gitexp.log_metric("m", 1.0)
        gitexp.flush()
        print("started", flush=True)
        deadline = time.time() + 60  # never outlive a failed test for long
        while not os.path.exists({str(go)!r}) and time.time() < deadline:
            time.sleep(0.02)
        gitexp.log_metric("m", 2.0)  # logged after its gitexp run was killed
        gitexp.flush()
    """))
    shell = f"'{sys.executable}' '{script}'; exit $?"  # not the shell's last command: it forks, not execs
    runner = subprocess.Popen([sys.executable, "-m", "gitexp", "run", "-n", "orphan", "--", "sh", "-c", shell],
                              cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(runner, "started")
        [folder] = active_dirs(repo / ".git" / "gitexp")
        runner.kill()  # the child keeps running, now an orphan
        runner.wait(timeout=10)
        assert cli("ls", cwd=repo).returncode == 0
        assert get_run_status(repo, "orphan") == "RUNNING"  # its child still holds the run
        go.write_text("")
        deadline = time.time() + 20
        while time.time() < deadline and get_run_status(repo, "orphan") == "RUNNING":
            time.sleep(0.1)
    finally:
        go.write_text("")  # let the child finish whatever happened
        if runner.poll() is None:
            runner.kill()
    run = gitexp.get_run("orphan")
    assert run.status == "KILLED"
    assert [v for _, v, _ in run.metric_history("m")] == [1.0, 2.0]
    assert not os.path.exists(folder.path)


def get_run_status(repo: Path, name: str) -> str:
    with open_session(repo) as db:
        return get_run(db, name).status


def test_first_refs_of_a_new_experiment_written_at_once(repo: Path) -> None:
    """Many writers creating the first refs (and reflog folders) of one experiment at the same moment."""
    with open_session(repo) as db:
        commit = db.db.head()
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with open_session(repo) as db:
                barrier.wait()
                db.db.set_ref(f"refs/gitexp/runs/fresh-{n % 3}/{n:016d}", None, commit, "race")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(run_refs(repo)) == 12
    for n in range(12):
        assert git(repo, "reflog", "show", f"refs/gitexp/runs/fresh-{n % 3}/{n:016d}").strip()
