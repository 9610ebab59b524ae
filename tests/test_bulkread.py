"""Reading run records in bulk through `git cat-file`: the same runs as one-by-one reads through dulwich."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gitexp.names import new_run_id
from gitexp.services.catalog import cache, fill
from gitexp.store import catfile, runcommit, runyaml_lite, yamlfast
from gitexp.store.record import RunInfo, encode_record
from gitexp.store.repo import FILE, LINK, RUNS_PREFIX, Entry, GitDB, open_repo
from gitexp.store.runcommit import write_run_commit
from tests.helpers import git


def _run(db: GitDB, n: int, change: str = "", **params: object) -> tuple[str, str]:
    """A run ref and commit; `change` makes its record odd in one named way."""
    run_id = new_run_id(1_700_000_000_000 + n * 1000)
    info = RunInfo(id=run_id, name=f"run-{n}", experiment="default", status="FINISHED",
                   start_time="2026-01-01T00:00:00.000Z", command=["python", "train.py"], exit_code=0)
    metrics = {"acc": [(0, 0.1 * n, 1), (1, math.nan, 2)], "train/loss": [(0, 1.5, 1)]}
    files: dict[str, bytes | Entry] = dict(encode_record(info, params or {"lr": 0.01, "n": n, "opt": {"b": [1, 2]}},
                                                         {"stage": "dev"}, metrics, []))
    if change == "symlink":  # run.yaml a link: not a file
        files["run.yaml"] = Entry(LINK, db.add_blob(b"../secret"))
    elif change == "params_folder":  # a folder named params.yaml: read as no params
        del files["params.yaml"]
        files["params.yaml/x"] = b"a: 1\n"
    elif change == "no_tags":
        del files["tags.yaml"]
    elif change == "malformed":
        files["params.yaml"] = b"a: [unclosed\n"
    elif change == "huge":
        files["params.yaml"] = b"x: " + b"a" * 5000 + b"\n"
    elif change == "wrong_id":
        files["run.yaml"] = files["run.yaml"].replace(run_id.encode(), new_run_id(1).encode())  # type: ignore[union-attr]
    head = db.head()
    code_tree = db.commit_info(head)[0] if head else None
    if change == "no_record":
        commit = db.write_commit(code_tree or db.write_tree({}), [head] if head else [], "not a run")
    else:
        commit = write_run_commit(db, code_tree, None, files, [head] if head else [], f"run {n}")
    ref = f"{RUNS_PREFIX}default/{run_id}"
    db.set_ref(ref, None, db.add_blob(b"not a commit\n") if change == "blob" else commit, "test")
    return ref, db.read_ref(ref) or ""


ODD = ["symlink", "params_folder", "no_tags", "malformed", "huge", "wrong_id", "no_record", "blob"]


def _as_data(run: object) -> dict:
    keys = ("ref", "commit", "id", "name", "status", "start_ms", "error")
    out = {k: getattr(run, k) for k in keys}
    if out["error"] is None:
        out.update(info=run.info.as_dict(), params=run.params, tags=run.tags, summary=run.summary)  # type: ignore[attr-defined]
    return out


def _same(a: object, b: object) -> bool:
    return repr(a) == repr(b)  # nan == nan, key order included


def _loaded(db: GitDB, runs: list[tuple[str, str]]) -> list[dict]:
    """`cache.load_summaries` (which answers in any order) as data, in the order of `runs`."""
    by_ref = {r.ref: _as_data(r) for r in cache.load_summaries(db, runs)}
    assert len(by_ref) == len(runs)
    return [by_ref[ref] for ref, _ in runs]


@pytest.fixture
def runs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    monkeypatch.setattr(runcommit, "MAX_YAML_BYTES", 4096)
    with open_repo(repo) as db:
        pairs = [_run(db, n) for n in range(12)] + [_run(db, 20 + i, odd) for i, odd in enumerate(ODD)]
    git(repo, "gc", "-q")  # most objects in a pack, as in a clone
    with open_repo(repo) as db:
        pairs += [_run(db, 40 + n) for n in range(5)]  # and some loose
    return pairs


def test_bulk_read_equals_one_by_one_reads(repo: Path, runs: list[tuple[str, str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    started, rounds = _count_processes(monkeypatch)
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    monkeypatch.setattr(catfile, "ROUND", 4)
    with open_repo(repo) as db:
        bulk = _loaded(db, runs)
        assert (started, rounds) == ([1], [])  # one process for every round and pass
        slow = [_as_data(cache.load_summary(db, ref, commit)) for ref, commit in runs]
    assert _same(bulk, slow)
    by_name = {r["ref"]: r for r in bulk}
    statuses = [by_name[ref]["status"] for ref, _ in runs]
    assert statuses[:12] == ["FINISHED"] * 12 and statuses[-5:] == ["FINISHED"] * 5
    odd = dict(zip(ODD, statuses[12:12 + len(ODD)]))
    assert odd == {"symlink": "CORRUPT", "params_folder": "FINISHED", "no_tags": "FINISHED", "malformed": "CORRUPT",
                   "huge": "CORRUPT", "wrong_id": "CORRUPT", "no_record": "CORRUPT", "blob": "CORRUPT"}
    errors = {odd: by_name[runs[12 + i][0]]["error"] for i, odd in enumerate(ODD)}
    assert "not a file" in errors["symlink"] and "over the" in errors["huge"] and "but its ref is" in errors["wrong_id"]


def _count_processes(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """Lists that grow by one per `Reader` process started and per process-per-round `cat`."""
    started: list[int] = []
    rounds: list[int] = []
    real_start, real_cat = catfile.Reader._start, catfile.cat
    monkeypatch.setattr(catfile.Reader, "_start", lambda self: (self._proc or started.append(1)) or real_start(self))
    monkeypatch.setattr(catfile, "cat", lambda *a, **k: rounds.append(1) or real_cat(*a, **k))
    return started, rounds


def test_with_a_git_older_than_batch_command_each_pass_is_a_process(
        repo: Path, runs: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git before 2.36 has no `cat-file --batch-command`: it answers with its usage and exit 129."""
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    monkeypatch.setattr(catfile, "ROUND", 10)
    with open_repo(repo) as db:
        today = _loaded(db, runs)
        old = tmp_path / "old-git"
        old.mkdir()
        real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
        (old / "git").write_text(f'#!/bin/sh\ncase "$*" in *--batch-command*) echo "usage: git cat-file" >&2;'
                                 f' exit 129;; esac\nexec {real} "$@"\n')
        (old / "git").chmod(0o755)
        monkeypatch.setenv("PATH", f"{old}:{os.environ['PATH']}")
        started, rounds = _count_processes(monkeypatch)
        older = _loaded(db, runs)
    assert _same(today, older)
    assert len(started) == 1 and len(rounds) == 2  # tried once; then two passes a round, rounds of 5,000


def test_without_git_every_run_is_read_through_dulwich(repo: Path, runs: list[tuple[str, str]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    with open_repo(repo) as db:
        bulk = _loaded(db, runs)
        monkeypatch.setenv("PATH", "/nonexistent")
        assert not catfile.available()
        slow = _loaded(db, runs)
    assert _same(bulk, slow)


def test_git_failing_midway_leaves_no_run_out(repo: Path, runs: list[tuple[str, str]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    real = cache.read_files_bulk

    def failing(db: GitDB, commits: list[str]):  # type: ignore[no-untyped-def]
        for n, item in enumerate(real(db, commits)):
            if n == 5:
                raise catfile.CatFileError("git went away")
            yield item

    with open_repo(repo) as db:
        whole = _loaded(db, runs)
        monkeypatch.setattr(cache, "read_files_bulk", failing)
        partly = _loaded(db, runs)
    assert _same(whole, partly) and len(partly) == len(runs)


def test_cat_answers_in_order_and_says_missing(repo: Path) -> None:
    with open_repo(repo) as db:
        blob = db.add_blob(b"hello\n")
        head = db.head()
    answers = catfile.cat(repo / ".git", [blob, "0" * 40, f"{head}:train.py", f"{head}:nope"])
    assert answers == [("blob", 6, b"hello\n"), (catfile.MISSING, 0, b""),
                       ("blob", 18, b"print('training')\n"), (catfile.MISSING, 0, b"")]
    assert catfile.cat(repo / ".git", [blob], contents=False) == [("blob", 6, b"")]
    tree = catfile.cat(repo / ".git", [f"{head}^{{tree}}"])[0][2]
    assert catfile.tree_entries(tree, 20) == {"train.py": (FILE, git(repo, "rev-parse", f"{head}:train.py").strip())}


def test_a_reader_answers_as_cat_does_round_after_round(repo: Path) -> None:
    with open_repo(repo) as db:
        blobs = [db.add_blob(b"x" * n) for n in range(3000)]  # over a pipe's worth of commands and answers
        head = db.head()
    rounds = [blobs + ["0" * 40, f"{head}:train.py", f"{head}:nope"], blobs[:3], [head]]
    with catfile.Reader(repo / ".git") as reader:
        for requests in rounds:
            for contents in (True, False):
                assert reader.cat(requests, contents) == catfile.cat(repo / ".git", requests, contents)
        assert reader.cat([]) == [] and reader._rounds == 2 * len(rounds) and not reader.old_git


def test_a_cold_load_stores_its_rows_a_batch_at_a_time(repo: Path, runs: list[tuple[str, str]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    monkeypatch.setattr(cache, "STORE_EVERY", 4)
    writes: list[int] = []
    real = cache.RunIndex._store_rows
    monkeypatch.setattr(cache.RunIndex, "_store_rows",
                        lambda self, conn, rows: writes.append(len(rows)) or real(self, conn, rows))
    with open_repo(repo) as db:
        index = cache.RunIndex(db)
        listed = index.summaries(dict(runs))
        readable = len([r for r in listed if not r.error])
        assert readable == len(runs) - 6 and writes == [4, 4, 4, 4, 3]  # 19 rows as they came; no row for the corrupt
        assert index.connection().execute("SELECT count(*) FROM runs").fetchone()[0] == readable  # type: ignore[union-attr]
        index.close()
        again = cache.RunIndex(db)
        assert _same([_as_data(r) for r in again.summaries(dict(runs))], [_as_data(r) for r in listed])
        again.close()
    assert len(writes) == 5  # the second listing read every readable run from the cache


# -- the fill worker: a second process parsing chunks of records ---------------------------------

@pytest.fixture
def with_worker(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A worker for even a few runs, two records a chunk; the parent slowed down so the worker
    answers some chunks. Returns the sizes of the chunks the parent parsed itself."""
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    monkeypatch.setattr(cache, "CHUNK", 2)
    monkeypatch.setattr(fill, "PARALLEL_FROM", 1)
    monkeypatch.setattr(fill, "usable_cores", lambda: 2)
    here: list[int] = []
    real = cache.record_rows

    def slow_rows(chunk: list) -> list:
        here.append(len(chunk))
        time.sleep(0.3)
        return real(chunk)

    monkeypatch.setattr(cache, "record_rows", slow_rows)
    return here


def test_the_worker_reads_what_this_process_would(repo: Path, runs: list[tuple[str, str]],
                                                 with_worker: list[int]) -> None:
    with open_repo(repo) as db:
        shared = _loaded(db, runs)
        slow = [_as_data(cache.load_summary(db, ref, commit)) for ref, commit in runs]
    assert _same(shared, slow)
    assert sum(with_worker) < len(runs) - 2  # the worker parsed some (declined records are read here)
    assert [r["status"] for r in shared].count("CORRUPT") == 6


@pytest.mark.slow  # a cold fill of 1,000+ runs per case; CI runs it with -m slow
@pytest.mark.parametrize("script", ["import sys; sys.exit(3)", "import sys; sys.stdout.write('garbage')",
                                    "import sys; sys.stdin.buffer.read(10); import os; os._exit(9)"])
def test_a_failing_worker_loses_no_run(repo: Path, runs: list[tuple[str, str]], with_worker: list[int],
                                       monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    monkeypatch.setattr(fill, "_SERVE", script + " # {path}")
    with open_repo(repo) as db:
        shared = _loaded(db, runs)
        slow = [_as_data(cache.load_summary(db, ref, commit)) for ref, commit in runs]
    assert _same(shared, slow)


def test_the_worker_never_runs_the_users_script(repo: Path) -> None:
    """A script without a main guard that lists runs from a cold cache runs once (issue 7)."""
    with open_repo(repo) as db:
        for n in range(6):
            _run(db, n)
    (repo / "script.py").write_text(textwrap.dedent("""\
        import gitexp
        from gitexp.services.catalog import cache, fill
        cache.BULK_FROM, cache.CHUNK, fill.PARALLEL_FROM = 1, 1, 1
        fill.usable_cores = lambda: 2
        started = []
        start = fill.Worker.start
        fill.Worker.start = classmethod(lambda cls: started.append(1) or start())
        with open("ran.txt", "a") as f:
            f.write("ran\\n")
        print(len(gitexp.search_runs(experiment_names=["default"])), len(started))

        # and it answers, with this gitexp found as the script found it (here by the install's finder)
        import time
        from gitexp.store.repo import RUNS_PREFIX, open_repo
        from gitexp.services.catalog.cache import read_files_bulk
        with open_repo(".") as db:
            pairs = list(db.refs_under(RUNS_PREFIX).items())
            chunk = [(r, c, f) for (r, _), (c, f) in zip(pairs, read_files_bulk(db, [c for _, c in pairs]))]
        worker, answers = fill.Worker.start(), []
        worker.send(chunk)
        deadline = time.monotonic() + 60
        while not answers and worker.alive and time.monotonic() < deadline:
            answers += worker.answered()
            time.sleep(0.02)
        worker.stop()
        print(answers == cache.record_rows(chunk))
    """))
    p = subprocess.run([sys.executable, "script.py"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["6", "1", "True"]
    assert (repo / "ran.txt").read_text() == "ran\n"


def test_rows_are_encoded_as_json_dumps_would() -> None:
    values = [{"a": [1, 2.5, math.nan, -math.inf, None, True, "é\n\"\\"]}, {}, [], 10 ** 40, -0.0, "日本",
              {"nested": {"deep": [{"x": 1e-300}]}}, {"ctrl": "\x00\x1b]0;x\x07"}]
    for value in values:
        assert cache._to_json(value) == json.dumps(value)


@pytest.mark.parametrize("seed", range(2))
def test_rows_read_by_the_shape_readers_are_the_general_readers_rows(seed: int) -> None:
    """A record of the shapes gitexp writes skips the general readers: its row decodes as theirs does."""
    import random

    from tests.test_yamlfast import ODD_STRINGS

    rng = random.Random(seed)
    shaped = 0
    for n in range(300):
        run_id = new_run_id(1_700_000_000_000 + n * 1000)
        odd = lambda: rng.choice(ODD_STRINGS) if rng.random() < 0.1 else "x"  # noqa: E731
        info = RunInfo(id=run_id, name=odd(), experiment="default", status="FINISHED", user=odd(),
                       start_time=rng.choice(["2026-01-01T00:00:00.000Z", odd()]), command=["python", odd()])
        params = {f"p{i}": rng.choice([rng.random(), 7, -0.0, 1e-300, None, odd(), math.inf]) for i in range(5)}
        files = encode_record(info, params, {"stage": odd()}, {"acc": [(0, rng.random(), 1)]}, [])
        record = {name: files[name] for name in runcommit.SUMMARY_FILES if isinstance(files.get(name), bytes)}
        ref = f"{RUNS_PREFIX}{rng.choice(['default', 'other'])}/{rng.choice([run_id, new_run_id(1)])}"
        row = cache._shaped_row(ref, "c" * 40, record, runyaml_lite.canonical, yamlfast)
        if row is not None:
            shaped += 1
            general = cache._row_of(ref, "c" * 40, record)
            assert _same([json.loads(v) if i > 8 else v for i, v in enumerate(row)],
                         [json.loads(v) if i > 8 else v for i, v in enumerate(general)]), record
    assert shaped > 50
