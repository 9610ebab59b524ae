"""Search in SQL (`services/catalog/sqlsearch.py`, `sqlfilter.py`) agrees with the Python evaluator.

The runs below carry the values where SQL and Python differ most easily: NaN and
infinities, numbers written as text, booleans, nested and dotted params, lists, huge
integers, missing keys, ties in start time. Hundreds of generated filters and sorts
must give exactly the runs, in exactly the order, that evaluating every run gives.
"""

from __future__ import annotations

import math
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest

import gitexp
from gitexp.errors import FilterSyntaxError
from gitexp.model import Run
from gitexp.names import new_run_id
from gitexp.services.catalog import cache as cache_module
from gitexp.services.catalog.filterexpr import parse_filter, parse_sort
from gitexp.services.catalog.listing import list_runs, run_refs
from gitexp.services.catalog.query import search
from gitexp.services.catalog.sqlsearch import evaluate, search_sql
from gitexp.services.session import Session
from gitexp.store.record import RunInfo, encode_record, iso_from_ms
from gitexp.store.repo import RUNS_PREFIX, open_repo
from gitexp.store.runcommit import write_run_commit
from tests.helpers import repo_made_once, sampled

NAN, INF = float("nan"), float("inf")
PARAM_VALUES = [0.001, 0.01, 0.1, 1, 5, "5", "0.01", " 7 ", "1_0", "1e3", "nan", "inf", "abc", "", "ünï", True,
                False, "TRUE", "false", None, 2 ** 60, -0.0, [1, 2], {"x": 1}]
METRIC_VALUES = [0.5, 0.9, 0.95, 0.99, 0.0, -1.0, NAN, INF, -INF, 1e-5, 7.0]
TAG_VALUES = ["dev", "best", "5", "true", "NaN", "", "Ω", "a%b", "a_b"]


def _record(rng: random.Random, n: int) -> tuple[dict, dict, dict[str, list]]:
    params = {"lr": rng.choice(PARAM_VALUES), "s": rng.choice(PARAM_VALUES), "n": rng.randrange(4),
              "opt": {"name": rng.choice(["adam", "sgd", "Adam"]), "beta": rng.choice([0.9, 0.99, "0.9"])}}
    if n % 5 == 0:
        params["opt.name"] = "flat"  # a dotted top-level key wins over the nested path
    if n % 7 == 0:
        del params["s"]
    tags = {"stage": rng.choice(TAG_VALUES)} if n % 6 else {}
    metrics = {"acc": [rng.choice(METRIC_VALUES)], "loss": [rng.random()]}
    if n % 4 == 0:
        del metrics["loss"]
    return params, tags, {k: [(i, v, 1000 + i) for i, v in enumerate(vs)] for k, vs in metrics.items()}


def make_runs(path: Path, count: int, seed: int = 7) -> None:
    """`count` finished runs in two experiments, written as `end_run` writes them."""
    rng = random.Random(seed)
    with open_repo(path) as db:
        head = db.head()
        assert head is not None
        tree, _ = db.commit_info(head)
        for n in range(count):
            start = 1_700_000_000_000 + (n // 3) * 1000  # runs three by three share a start time
            exp = "default" if n % 3 else "other"
            info = RunInfo(id=new_run_id(start + n), name=f"run-{n}", experiment=exp,
                           status=rng.choice(["FINISHED", "FAILED", "KILLED"]), start_time=iso_from_ms(start) or "",
                           end_time=None if n % 8 == 0 else iso_from_ms(start + rng.randrange(5000)),
                           user=rng.choice(["alice", "bob", ""]))
            params, tags, history = _record(rng, n)
            commit = write_run_commit(db, tree, None, dict(encode_record(info, params, tags, history, [])), [head],
                                      f"gitexp: end run {info.name}")
            db.set_ref(f"{RUNS_PREFIX}{exp}/{info.id}", None, commit, "test")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repo_made_once(tmp_path_factory, "sqlsearch", lambda path: make_runs(path, 60))


@pytest.fixture
def many(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "repo"
    subprocess.run(["cp", "-a", str(template), str(dst)], check=True)
    return dst


KEYS = ["metrics.acc", "metrics.loss", "metrics.none", "params.lr", "params.s", "params.n", "params.opt",
        "params.opt.name", "params.opt.beta", "params.none", "tags.stage", "tags.none", "status", "run_name",
        "user", "start_time", "end_time", "duration", "experiment", "run_id"]
LITERALS = ["0", "0.5", "0.9", "1", "-1", "5", "1e3", "1e400", "1152921504606846976", "'5'", "'adam'", "'nan'",
            "'true'", "'TRUE'", "''", "'ünï'", "'FINISHED'", "'alice'", "'0.01'", "'inf'", "'dev'", "true", "false"]
PATTERNS = ["'%'", "'a%'", "'%a%'", "'_'", "'%A%'", "'5'", "'n%n'", "'ru%-1_'", "'a\\%b'"]
OPS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"]


def random_condition(rng: random.Random) -> str:
    key, op = rng.choice(KEYS), rng.choice(OPS)
    if op in ("LIKE", "ILIKE"):
        return f"{key} {op} {rng.choice(PATTERNS)}"
    if op in ("IN", "NOT IN"):
        return f"{key} {op} ({', '.join(rng.sample(LITERALS, rng.randrange(1, 4)))})"
    return f"{key} {op} {rng.choice(LITERALS)}"


def random_filter(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 2 or roll < 0.45:
        return random_condition(rng)
    if roll < 0.55:
        return f"not ({random_filter(rng, depth + 1)})"
    word = rng.choice(["and", "or"])
    return f"({random_filter(rng, depth + 1)}) {word} ({random_filter(rng, depth + 1)})"


def both_ways(s: Session, text: str | None, order: list[str], limit: int | None,
              experiment: str | None = None) -> tuple[list[str], list[str]]:
    """(ids found in SQL, ids found by evaluating every listed run), each in result order."""
    predicate, keys = parse_filter(text), [parse_sort(k) for k in order]
    refs = run_refs(s, experiment)
    found = search_sql(s, predicate, keys, refs, [experiment] if experiment else None, limit, [])
    assert found is not None, f"the index did not serve {text!r}"
    expected = evaluate(list_runs(s, experiment), predicate, keys)[:limit]
    return [r.id for r in found], [r.id for r in expected]


@pytest.mark.slow  # 250 generated queries: seconds; CI runs it with -m slow
def test_generated_filters_and_sorts_agree_with_the_evaluator(many: Path) -> None:
    rng = random.Random(2026)
    checked = 0
    with Session.open(many) as s:
        while checked < 250:
            text = random_filter(rng)
            order = [f"{rng.choice(KEYS)} {rng.choice(['asc', 'desc'])}" for _ in range(rng.choice([0, 1, 1, 2]))]
            limit = rng.choice([None, 0, 1, 3, 10, 100])
            try:
                got, want = both_ways(s, text, order, limit, rng.choice([None, None, "default"]))
            except FilterSyntaxError:
                continue  # `true < 1` and the like: refused by the parser either way
            assert got == want, (text, order, limit)
            checked += 1


@pytest.mark.parametrize("text, order", sampled([
    ("metrics.acc != 0.5", ["metrics.acc desc"]),  # NaN != 0.5 holds; NaN sorts after numbers
    ("metrics.acc != 'nan'", []), ("metrics.acc = 'inf'", ["metrics.acc"]),
    ("params.lr > 0.005", ["params.lr desc"]),  # '0.01', ' 7 ', '1e3', 'inf' are numbers to a filter
    ("params.lr = true", ["params.lr"]), ("params.lr != false", ["params.lr desc"]),
    ("params.opt.name = 'flat'", ["params.opt.name"]), ("params.opt.beta >= 0.9", ["params.opt.beta desc"]),
    ("params.n >= 0 or params.opt != 'x'", ["params.opt"]),  # a mapping never matches; sorts apart from missing
    ("params.lr = 1152921504606846976", ["params.s desc"]),  # beyond 2**53: the evaluator decides
    ("tags.stage LIKE '%a%'", ["tags.stage desc", "start_time"]), ("tags.stage ILIKE 'NAN'", []),
    ("duration > 2", ["duration desc"]), ("user = ''", ["end_time"]), ("run_name LIKE 'run-1%'", ["run_name"]),
    (None, ["metrics.loss"]), (None, ["params.n", "status desc"]),
]))
def test_hand_picked_cases_agree(many: Path, text: str | None, order: list[str]) -> None:
    with Session.open(many) as s:
        for limit in (None, 5):
            got, want = both_ways(s, text, order, limit)
            assert got == want and (limit is None or len(got) <= limit)
    assert want, "each case matches some runs"


def test_search_runs_builds_runs_only_for_the_rows_shown(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gitexp.set_repository(many)
    top = gitexp.search_runs("metrics.acc > 0.1", ["metrics.acc DESC"], max_results=3)  # fills vals for acc
    built = []
    init = Run.__init__
    monkeypatch.setattr(Run, "__init__", lambda self, *a, **k: built.append(a[1]) or init(self, *a, **k))
    again = gitexp.search_runs("metrics.acc > 0.1", ["metrics.acc DESC"], max_results=3)
    assert [r.id for r in again] == [r.id for r in top] and len(top) == 3
    assert len(built) == 3  # not one per run of the 60
    assert top[0].metrics["acc"] == math.inf and top[1].metrics["acc"] >= top[2].metrics["acc"]


def test_a_running_run_is_searched_with_its_live_values(repo: Path) -> None:
    with gitexp.start_run(run_name="done"):
        gitexp.log_metric("acc", 0.8)
    run = gitexp.start_run(run_name="live")
    gitexp.log_metric("acc", 0.1)
    gitexp.flush()
    assert [r.name for r in gitexp.search_runs("metrics.acc < 0.5")] == ["live"]  # now a row of the cache
    gitexp.log_metric("acc", 0.9)
    gitexp.flush()  # into its local journal: the cached row still says 0.1
    found = gitexp.search_runs("metrics.acc > 0.5", ["metrics.acc DESC"], max_results=1)
    assert [r.name for r in found] == ["live"] and found[0].metrics["acc"] == 0.9
    assert [r.name for r in gitexp.search_runs("metrics.acc < 0.85", max_results=5)] == ["done"]
    assert gitexp.search_runs("status = 'RUNNING'", max_results=5)[0].metrics["acc"] == 0.9
    gitexp.end_run()
    assert run.id == gitexp.search_runs("metrics.acc > 0.85")[0].id


def test_a_key_searched_before_has_values_of_runs_made_after(repo: Path) -> None:
    with gitexp.start_run(run_name="a", params={"lr": 0.1}):
        pass
    assert [r.name for r in gitexp.search_runs("params.lr >= 0.1")] == ["a"]
    with gitexp.start_run(run_name="b", params={"lr": 0.5}):
        pass
    assert [r.name for r in gitexp.search_runs("params.lr >= 0.1", ["params.lr desc"])] == ["b", "a"]
    gitexp.tag_run("a", {"lr-note": "edited"})  # a new commit for `a`: its old row is left behind
    assert [r.name for r in gitexp.search_runs("params.lr >= 0.1", ["params.lr desc"], max_results=5)] == ["b", "a"]


def index_conn(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / ".git" / "gitexp" / "index.sqlite")


def test_damaged_rows_are_decided_from_git(many: Path) -> None:
    with Session.open(many) as s:
        before = both_ways(s, "params.lr > 0.005 or tags.stage = 'dev'", ["params.lr desc"], 10)
    with index_conn(many) as conn:  # values filled, then every row's JSON lost
        conn.execute("UPDATE runs SET params = '{not json', tags = '{not json'")
        conn.execute("DELETE FROM vkeys WHERE kind = 'tags'")  # refilled from the damaged rows: LOOSE values
    with Session.open(many) as s:
        after = both_ways(s, "params.lr > 0.005 or tags.stage = 'dev'", ["params.lr desc"], 10)
    assert after == before and after[0] == after[1]


def test_a_commit_under_two_refs_is_searched_the_usual_way(many: Path) -> None:
    with Session.open(many) as s:
        ref, commit = next(iter(run_refs(s, "default").items()))
    copy = ref.replace("/default/", "/copied/")
    subprocess.run(["git", "update-ref", copy, commit], cwd=many, check=True)
    with Session.open(many) as s:
        refs = run_refs(s)
        assert search_sql(s, parse_filter("experiment = 'copied'"), [], refs, None, None, []) is None
        found = search(s, "experiment = 'copied'", max_results=5)
    assert [(r.ref, r.experiment) for r in found] == [(copy, "copied")]


def test_unreadable_records_are_searched_too(many: Path) -> None:
    with Session.open(many) as s:
        ref = next(iter(run_refs(s, "other")))
    bad = subprocess.run(["git", "commit-tree", "-m", "not a run", "HEAD^{tree}"], cwd=many, check=True,
                         capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "update-ref", ref, bad], cwd=many, check=True)
    with Session.open(many) as s:
        got, want = both_ways(s, "status = 'CORRUPT' or metrics.acc > 0.9", ["status"], 30)
    assert got == want and got[0] == ref.rsplit("/", 1)[-1]


def test_a_cache_of_the_schema_before_is_rebuilt_with_the_search_tables(many: Path) -> None:
    gitexp.set_repository(many)
    expected = [r.id for r in gitexp.search_runs("metrics.acc > 0.5", ["metrics.acc desc"])]
    with index_conn(many) as conn:
        conn.executescript("DROP TABLE vals; DROP TABLE vkeys; UPDATE meta SET value = '4' WHERE key = 'schema';")
    assert [r.id for r in gitexp.search_runs("metrics.acc > 0.5", ["metrics.acc desc"])] == expected
    with index_conn(many) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == cache_module.SCHEMA
        assert conn.execute("SELECT kind, key FROM vkeys").fetchall() == [("metrics", "acc")]
        assert conn.execute("SELECT count(*) FROM vals").fetchone()[0] == 60  # every run has acc


def test_a_key_dropped_by_another_process_meanwhile_is_not_trusted(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Session.open(many) as s:
        expected = both_ways(s, "params.n = 1", [], None)[1]
        key_ids = cache_module.RunIndex.key_ids

        def then_dropped(self, conn, keys):  # another process evicts the key (MAX_KEYS) right after
            kids = key_ids(self, conn, keys)
            with index_conn(many) as other:
                other.execute("DELETE FROM vals WHERE kid IN (SELECT kid FROM vkeys WHERE key = 'n')")
                other.execute("DELETE FROM vkeys WHERE key = 'n'")
            return kids
        monkeypatch.setattr(cache_module.RunIndex, "key_ids", then_dropped)
        assert search_sql(s, parse_filter("params.n = 1"), [], run_refs(s), None, None, []) is None
        assert [r.id for r in search(s, "params.n = 1")] == expected and expected
