"""What keeps the web UI fast, checked for correctness: metric files decoded once into columns,
the server's pool of decoded runs, histories resolved without listing every run, and a server
that answers before the services are imported. Speed itself is measured by benchmarks/bench_ui.py."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import gitexp
from gitexp.errors import CorruptRecord
from gitexp.services.catalog.query import search
from gitexp.services.plot import load_histories
from gitexp.services.session import open_session
from gitexp.store.record import TSV_HEADER, format_metric, parse_metric, parse_metric_columns
from gitexp.store.runcommit import ColumnCache, RecordReader

pytest.importorskip("starlette")

from gitexp.ui import data  # noqa: E402
from gitexp.ui.runpool import RunPool  # noqa: E402
from tests.helpers import git, loaded_by  # noqa: E402


# -- metric files as columns ----------------------------------------------------------------------

POINTS = [(0, 0.5, 1_700_000_000_000), (1, math.inf, 1_700_000_000_001), (2, -math.inf, 1_700_000_000_002),
          (-3, 1e-300, 5), (4, 0.1 + 0.2, -7), (5, 123456789.125, 9)]


def test_columns_read_back_every_value_exactly() -> None:
    steps, values, times = parse_metric_columns(format_metric(POINTS + [(6, math.nan, 10)]))
    assert list(steps) == [p[0] for p in POINTS] + [6] and list(times) == [p[2] for p in POINTS] + [10]
    assert list(values)[:-1] == [p[1] for p in POINTS] and math.isnan(values[-1])
    assert parse_metric(format_metric(POINTS)) == POINTS
    assert parse_metric(format_metric(POINTS).rstrip(b"\n")) == POINTS  # no final newline
    assert parse_metric(TSV_HEADER) == []


def test_odd_files_take_the_row_parser_and_bad_rows_are_named() -> None:
    huge = TSV_HEADER + f"{2**70}\t1.5\t3\n".encode()  # too big for int64 columns: still read exactly
    assert parse_metric(huge) == [(2**70, 1.5, 3)]
    assert parse_metric(TSV_HEADER + b"1\t2.5\t3\r\n4\t5.0\t6\r\n") == [(1, 2.5, 3), (4, 5.0, 6)]
    for bad, row in ((b"1\t2.0\t3\n4\t5.0\n", 3), (b"1\t2.0\t3\t4\n5\t6\n", 2), (b"1\tx\t3\n", 2),
                     (b"1\t2 3\t4\n", 2)):
        with pytest.raises(CorruptRecord, match=f"bad row {row}"):
            parse_metric(TSV_HEADER + bad)
    with pytest.raises(CorruptRecord, match="bad header"):
        parse_metric(b"step,value\n1,2\n")


def test_column_cache_keeps_recent_histories_within_its_point_budget() -> None:
    cache = ColumnCache(max_points=10)
    cols = {name: parse_metric_columns(format_metric([(i, 0.0, i) for i in range(n)]))
            for name, n in (("a", 4), ("b", 4), ("c", 4), ("big", 11))}
    cache.put("a", cols["a"])
    cache.put("b", cols["b"])
    assert cache.get("a") is cols["a"]  # now the most recent
    cache.put("c", cols["c"])  # 12 points > 10: the least recently used ("b") goes
    assert cache.get("b") is None and cache.get("a") is cols["a"] and cache.get("c") is cols["c"]
    cache.put("big", cols["big"])  # larger than the whole budget: not kept, nothing evicted
    assert cache.get("big") is None and cache.get("a") is not None


def test_a_metric_file_is_decoded_once_and_shared(repo: Path) -> None:
    with gitexp.start_run(run_name="r") as run:
        for step in range(100):
            gitexp.log_metric("loss", 1 / (step + 1), step=step)
    with open_session(repo) as s:
        first = RecordReader(s.db, s.db.refs_under("refs/gitexp/runs/")[run.ref]).metric_columns("loss")
        again = RecordReader(s.db, s.db.refs_under("refs/gitexp/runs/")[run.ref]).metric_columns("loss")
        assert first is again and list(first[0]) == list(range(100))
        assert RecordReader(s.db, s.db.refs_under("refs/gitexp/runs/")[run.ref]).metric_columns("nope") is None


# -- histories ------------------------------------------------------------------------------------

def test_histories_resolve_ids_prefixes_names_and_revisions(repo: Path) -> None:
    runs = []
    for name in ("one", "two"):
        with gitexp.start_run(run_name=name) as run:
            gitexp.log_metrics({"loss": 1.0, "acc": 0.5}, step=0)
            gitexp.log_metrics({"loss": 0.5, "acc": 0.75}, step=1)
        runs.append(run)
    one, two = runs
    with open_session(repo) as s:
        # a prefix of one only (runs started in the same 32 ms share 8 characters)
        prefix = one.id[:next(n for n in range(8, 17) if one.id[:n] != two.id[:n])]
        loaded = load_histories(s, [one.id, prefix, "two", two.ref], None)  # duplicates dropped
        assert [h.name for h in loaded] == ["one", "two"] and loaded[0].available == ["acc", "loss"]
        assert loaded[0].metrics["loss"] == [(0, 1.0, loaded[0].metrics["loss"][0][2]),
                                             (1, 0.5, loaded[0].metrics["loss"][1][2])]
        only = load_histories(s, ["two"], ["acc"])[0]
        assert set(only.columns) == {"acc"} and list(only.columns["acc"][1]) == [0.5, 0.75]


def test_a_running_run_shows_its_journal_points(repo: Path) -> None:
    run = gitexp.start_run(run_name="live")
    gitexp.log_metric("loss", 3.0, step=0)
    gitexp.log_metric("loss", 2.0, step=1)
    gitexp.flush()
    try:
        with open_session(repo) as s:
            line = data.histories(s, [run.id])["runs"][0]["metrics"]["loss"]
        assert line["step"] == [0, 1] and line["value"] == [3.0, 2.0]
    finally:
        gitexp.end_run()


# -- the server's pool of runs -------------------------------------------------------------------

def test_pool_searches_like_the_cli_and_rereads_only_moved_refs(repo: Path) -> None:
    for n in range(6):
        with gitexp.start_run(run_name=f"r{n}"):
            gitexp.log_params({"lr": 0.1 if n % 2 else 0.01, "n": n})
            gitexp.log_metric("acc", n / 10)
    pool = RunPool()
    with open_session(repo) as s:
        version, runs = pool.runs(s)
        for text, order in (("metrics.acc > 0.2", None), ("params.lr = 0.1", ["metrics.acc DESC"]), ("", None)):
            assert [r.id for r in search(s, text, order_by=order, runs=runs)] == \
                   [r.id for r in search(s, text, order_by=order)]
        assert pool.runs(s)[0] == version  # nothing moved: same runs, same version
    git(repo, "tag", "-f", "unrelated")
    subprocess.run([sys.executable, "-m", "gitexp", "tag", "r3", "team=vision"], cwd=repo, check=True,
                   capture_output=True)
    with open_session(repo) as s:
        table = data.runs_table(s, "tags.team = 'vision'", pool=pool)
        new_version, again = pool.runs(s)
    assert new_version == version + 1 and [r["name"] for r in table["rows"]] == ["r3"]
    kept = {id(r) for r in runs}
    assert [r.name for r in again if id(r) not in kept] == ["r3"]  # only the moved ref was read again


def test_pool_results_are_memoised_per_version(repo: Path) -> None:
    with gitexp.start_run(run_name="a"):
        gitexp.log_metric("acc", 0.5)
    pool = RunPool()
    with open_session(repo) as s:
        first = data.runs_table(s, "metrics.acc > 0.1", pool=pool)
        assert data.runs_table(s, "metrics.acc > 0.1", pool=pool) == first
    with gitexp.start_run(run_name="b"):
        gitexp.log_metric("acc", 0.9)
    with open_session(repo) as s:
        assert data.runs_table(s, "metrics.acc > 0.1", pool=pool)["total"] == 2
        assert data.runs_table(s, "metrics.acc >", pool=pool)["error"]["message"]


# -- start-up -------------------------------------------------------------------------------------

def test_the_server_module_loads_without_the_services() -> None:
    services = ("gitexp.ui.data", "gitexp.ui.writes", "gitexp.services.catalog.query", "gitexp.services.compare",
                "gitexp.services.plot", "numpy", "jinja2")
    assert loaded_by("import gitexp.ui.app", services) == []


def test_lines_share_a_charts_point_budget(repo: Path) -> None:
    ids = []
    for n in range(4):
        with gitexp.start_run(run_name=f"long{n}") as run:
            for step in range(4000):
                gitexp.log_metric("loss", float((step * 7919 + n) % 1000), step=step)
        ids.append(run.id)
    with open_session(repo) as s:
        one = data.histories(s, ids[:1])["runs"][0]["metrics"]["loss"]
        four = data.histories(s, ids)["runs"]
    budget = data.CHART_POINTS // 8  # buckets per line for four lines
    assert len(one["step"]) == 4000  # one line within its bucket limit: every point
    for line in (r["metrics"]["loss"] for r in four):
        assert budget < len(line["step"]) <= 2 * budget + 2 and max(line["value"]) == 999.0


def test_pool_reads_a_damaged_cache_row_again_from_git(repo: Path) -> None:
    import sqlite3

    with gitexp.start_run(run_name="a"):
        gitexp.log_params({"lr": 0.5})
    with open_session(repo) as s:
        search(s)  # the cache index now has the run
    with sqlite3.connect(repo / ".git" / "gitexp" / "index.sqlite") as conn:
        assert conn.execute("UPDATE runs SET params = '{not json'").rowcount == 1
    pool = RunPool()
    with open_session(repo) as s:
        _version, runs = pool.runs(s)
    assert runs[0].params == {"lr": 0.5}  # decoded after that session closed: read from git in its own
