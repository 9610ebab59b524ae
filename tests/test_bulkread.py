"""Reading run records in bulk through `git cat-file`: the same runs as one-by-one reads through dulwich."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gitexp.names import new_run_id
from gitexp.services.catalog import cache
from gitexp.store import catfile, runcommit
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
        out.update(info=run.info.__dict__, params=run.params, tags=run.tags, summary=run.summary)  # type: ignore[attr-defined]
    return out


def _same(a: object, b: object) -> bool:
    return repr(a) == repr(b)  # nan == nan, key order included


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
    served: list[int] = []
    real_cat = catfile.cat
    monkeypatch.setattr(catfile, "cat", lambda *a, **k: served.append(1) or real_cat(*a, **k))
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    with open_repo(repo) as db:
        bulk = [_as_data(r) for r in cache.load_summaries(db, runs)]
        assert len(served) == 3  # one process per pass: commits and folders, sizes, contents
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


def test_without_git_every_run_is_read_through_dulwich(repo: Path, runs: list[tuple[str, str]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    with open_repo(repo) as db:
        bulk = [_as_data(r) for r in cache.load_summaries(db, runs)]
        monkeypatch.setenv("PATH", "/nonexistent")
        assert not catfile.available()
        slow = [_as_data(r) for r in cache.load_summaries(db, runs)]
    assert _same(bulk, slow)


def test_git_failing_midway_leaves_no_run_out(repo: Path, runs: list[tuple[str, str]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "BULK_FROM", 1)
    real = runcommit.read_files_bulk

    def failing(db: GitDB, commits: list[str]):  # type: ignore[no-untyped-def]
        for n, item in enumerate(real(db, commits)):
            if n == 5:
                raise catfile.CatFileError("git went away")
            yield item

    with open_repo(repo) as db:
        whole = [_as_data(r) for r in cache.load_summaries(db, runs)]
        monkeypatch.setattr(cache, "read_files_bulk", failing)
        partly = [_as_data(r) for r in cache.load_summaries(db, runs)]
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
