"""The cache index (`.git/gitexp/index.sqlite`): fresh from the refs on every read, rebuilt when damaged."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import gitexp
import gitexp.api as api
from gitexp.services.catalog import cache as index
from tests.helpers import cli, git, invoke, repo_made_once, run_refs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = "refs/gitexp/runs/default"
HOUR_NS = 3600 * 10**9


def make_run(name: str, experiment: str | None = None, **params: object) -> str:
    with gitexp.start_run(run_name=name, experiment=experiment, params=params or {"n": name}) as run:
        gitexp.log_metric("acc", 0.5)
        return run.id


def cache_file(repo: Path) -> Path:
    return repo / ".git" / "gitexp" / "index.sqlite"


def drop_cache(repo: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{cache_file(repo)}{suffix}").unlink(missing_ok=True)


def query(repo: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(cache_file(repo))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def refdirs(repo: Path) -> dict[str, tuple[int, dict]]:
    return {f: (m, json.loads(r)) for f, m, r in query(repo, "SELECT folder, mtime_ns, refs FROM refdirs")}


def age_ref_folders(repo: Path, age_ns: int = HOUR_NS) -> int:
    """Make every folder under refs/gitexp look last modified `age_ns` ago; return that mtime."""
    then = time.time_ns() - age_ns
    for dirpath, _dirs, _files in os.walk(repo / ".git" / "refs" / "gitexp"):
        os.utime(dirpath, ns=(then, then))
    return then


def listed(*args: str) -> list[dict]:
    """`gitexp ls --json --limit 0 ARGS`, in process."""
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls", "--json", "--limit", "0", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def names(runs: list) -> list[str]:
    return [r["name"] if isinstance(r, dict) else r.name for r in runs]


def ok(result) -> None:
    assert result.exit_code == 0, result.stderr


# -- freshness: the refs are read on every call ----------------------------------------------------

def test_tag_edit_moves_the_ref_and_shows_at_once(repo: Path, runner) -> None:
    a = make_run("a")
    make_run("b")
    age_ref_folders(repo)  # a listing long after the runs: the ref folder is remembered by mtime
    assert [r["tags"] for r in listed()] == [{}, {}]
    assert DEFAULT_DIR in refdirs(repo)
    before = git(repo, "rev-parse", f"refs/gitexp/runs/default/{a}").strip()

    ok(invoke(runner, "tag", "a", "stage=best"))
    after = git(repo, "rev-parse", f"refs/gitexp/runs/default/{a}").strip()
    assert after != before
    runs = {r["name"]: r for r in listed()}
    assert runs["a"]["tags"] == {"stage": "best"} and runs["a"]["commit"] == after
    assert runs["b"]["tags"] == {}
    assert names(gitexp.search_runs("tags.stage = 'best'")) == ["a"]
    ok(invoke(runner, "tag", "a", "stage=dev"))  # again, right away (same mtime tick as the listing?)
    assert names(gitexp.search_runs("tags.stage = 'dev'")) == ["a"]
    assert gitexp.search_runs("tags.stage = 'best'") == []
    assert json.loads(cli("ls", "--json", "-f", "tags.stage = 'dev'", cwd=repo).stdout)[0]["id"] == a


def test_removed_run_disappears(repo: Path, runner) -> None:
    a, b = make_run("a"), make_run("b")
    age_ref_folders(repo)
    assert names(listed()) == ["b", "a"]
    ok(invoke(runner, "rm", "-y", "a"))
    assert run_refs(repo) == [f"refs/gitexp/runs/default/{b}"]
    assert names(listed()) == ["b"]
    assert names(gitexp.search_runs()) == ["b"]
    assert names(gitexp.search_runs("params.n = 'a'")) == []
    ok(invoke(runner, "rm", "-y", b))
    assert listed() == [] and listed("--all") == []
    assert a not in cli("ls", "--all", cwd=repo).stdout


@pytest.mark.parametrize("packing", ["loose", "packed-after-fetch", "packed-before-fetch"])
def test_runs_fetched_from_another_clone(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         packing: str) -> None:
    mine = make_run("mine")
    age_ref_folders(repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    monkeypatch.setattr(api, "_repo_path", str(clone))
    theirs = [make_run("theirs-1"), make_run("theirs-2", experiment="sweep")]
    monkeypatch.setattr(api, "_repo_path", str(repo))
    assert names(listed("--all")) == ["mine"]  # warm cache, folders remembered
    if packing == "packed-before-fetch":
        git(repo, "pack-refs", "--all")
        assert names(listed("--all")) == ["mine"]

    git(repo, "fetch", "-q", str(clone), "refs/gitexp/*:refs/gitexp/*")
    if packing == "packed-after-fetch":
        git(repo, "pack-refs", "--all")
        packed = (repo / ".git" / "packed-refs").read_text()
        assert all(run_id in packed for run_id in [mine, *theirs])
        assert not (repo / ".git" / DEFAULT_DIR / mine).exists()
    assert len(run_refs(repo)) == 3

    every = listed("--all")
    assert names(every) == ["theirs-2", "theirs-1", "mine"]
    assert [r["experiment"] for r in every] == ["sweep", "default", "default"]
    assert every[0]["id"] == theirs[1] and every[0]["params"] == {"n": "theirs-2"}
    assert names(listed()) == ["theirs-1", "mine"]
    assert names(listed("-e", "sweep")) == ["theirs-2"]
    proc = cli("ls", "--all", cwd=repo)
    assert proc.returncode == 0 and all(n in proc.stdout for n in ("mine", "theirs-1", "theirs-2"))
    assert names(gitexp.search_runs("params.n LIKE 'theirs%'", order_by="run_name")) == ["theirs-1", "theirs-2"]


@pytest.mark.parametrize("pack", [["gc", "-q"], ["pack-refs", "--all"]])
def test_packed_run_refs_list_and_later_updates_are_seen(repo: Path, runner, pack: list[str]) -> None:
    a, b = make_run("a"), make_run("b")
    assert names(listed()) == ["b", "a"]
    git(repo, *pack)
    packed = (repo / ".git" / "packed-refs").read_text()
    assert a in packed and b in packed and not (repo / ".git" / DEFAULT_DIR / a).exists()
    assert names(listed()) == ["b", "a"]
    drop_cache(repo)  # cold, from packed refs (and, after gc, packed objects)
    assert names(listed()) == ["b", "a"]

    ok(invoke(runner, "tag", "a", "stage=best"))  # a loose ref now overrides the packed one
    tip = git(repo, "rev-parse", f"refs/gitexp/runs/default/{a}").strip()
    runs = {r["name"]: r for r in listed()}
    assert runs["a"]["commit"] == tip and runs["a"]["tags"] == {"stage": "best"}
    git(repo, "pack-refs", "--all")  # and packed again
    assert f"{tip} refs/gitexp/runs/default/{a}" in (repo / ".git" / "packed-refs").read_text()
    assert {r["name"]: r["tags"] for r in listed()} == {"a": {"stage": "best"}, "b": {}}

    ok(invoke(runner, "rm", "-y", "b"))  # deleting a packed ref
    assert b not in (repo / ".git" / "packed-refs").read_text()
    assert names(listed()) == ["a"]
    ok(invoke(runner, "tag", "a", "stage=dev"))
    assert names(gitexp.search_runs("tags.stage = 'dev'")) == ["a"]


# -- the ref-folder mtime cache (refdirs) ------------------------------------------------------------

def test_run_created_right_after_a_listing_is_seen(repo: Path) -> None:
    made = []
    for i in range(6):
        made.append(f"r{i}")
        make_run(f"r{i}")  # start_run itself lists the runs (for a unique name) just before
        assert names(gitexp.search_runs()) == list(reversed(made))
        assert names(listed()) == list(reversed(made))


def test_old_folder_is_read_from_the_cache_and_a_new_ref_still_seen(repo: Path, tmp_path: Path) -> None:
    a, b = make_run("a"), make_run("b")
    folder = repo / ".git" / DEFAULT_DIR
    os.rename(folder / b, tmp_path / b)  # hide b
    then = age_ref_folders(repo)
    assert names(gitexp.search_runs()) == ["a"]
    cached = refdirs(repo)[DEFAULT_DIR]
    assert cached == (then, {f"{DEFAULT_DIR}/{a}": git(repo, "rev-parse", f"{DEFAULT_DIR}/{a}").strip()})

    # The cached listing is really used: a change that leaves the folder's mtime alone goes unseen.
    os.rename(tmp_path / b, folder / b)
    os.utime(folder, ns=(then, then))
    assert names(gitexp.search_runs()) == ["a"]

    # A real ref update renames a lock file into the folder, which moves its mtime.
    c = make_run("c")
    assert os.stat(folder).st_mtime_ns != then
    assert names(gitexp.search_runs()) == ["c", "b", "a"]
    assert [r["id"] for r in listed()] == [c, b, a]
    assert cli("ls", cwd=repo).stdout.count("\n") == 5  # header, rule, 3 runs


@pytest.mark.parametrize("tick", ["1 s", "fine"])
def test_recently_modified_folder_is_not_trusted(repo: Path, tmp_path: Path, tick: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Within its racy window a later change may share a folder's mtime: 2 s where mtimes are whole
    seconds, RACY_FINE_NS where they have finer ticks (widened here, so a slow machine keeps the
    folder within it for the whole test)."""
    monkeypatch.setattr(index, "RACY_FINE_NS", index.RACY_NS)
    make_run("a")
    b = make_run("b")
    folder = repo / ".git" / DEFAULT_DIR
    os.rename(folder / b, tmp_path / b)
    if tick == "1 s":
        racy = time.time_ns() // 10**9 * 10**9  # this second's start: under a second ago
    else:
        racy = time.time_ns() - index.RACY_FINE_NS // 4
        racy += racy % 10**9 == 0  # not by chance a whole second
    assert index.racy_window(racy) == (index.RACY_NS if tick == "1 s" else index.RACY_FINE_NS)
    os.utime(folder, ns=(racy, racy))
    assert names(gitexp.search_runs()) == ["a"]
    assert refdirs(repo).get(DEFAULT_DIR, (None,))[0] != racy  # not remembered

    os.rename(tmp_path / b, folder / b)
    os.utime(folder, ns=(racy, racy))  # a change within the same mtime
    assert names(gitexp.search_runs()) == ["b", "a"]


def test_a_folder_with_fine_mtimes_is_remembered_a_tenth_of_a_second_after_its_change(repo: Path) -> None:
    make_run("a")
    folder = repo / ".git" / DEFAULT_DIR
    settled = time.time_ns() - 2 * index.RACY_FINE_NS
    settled += settled % 10**9 == 0
    os.utime(folder, ns=(settled, settled))
    assert names(gitexp.search_runs()) == ["a"]
    assert refdirs(repo)[DEFAULT_DIR][0] == settled


def test_folder_mtime_in_the_future_is_not_trusted(repo: Path, tmp_path: Path) -> None:
    make_run("a")
    b = make_run("b")
    folder = repo / ".git" / DEFAULT_DIR
    os.rename(folder / b, tmp_path / b)
    later = time.time_ns() + HOUR_NS  # clock skew (a shared or restored folder)
    os.utime(folder, ns=(later, later))
    assert names(gitexp.search_runs()) == ["a"]
    os.rename(tmp_path / b, folder / b)
    os.utime(folder, ns=(later, later))
    assert names(gitexp.search_runs()) == ["b", "a"]


def test_new_experiment_folder_is_seen(repo: Path) -> None:
    make_run("a")
    age_ref_folders(repo)
    assert names(listed("--all")) == ["a"]
    make_run("x", experiment="sweep")
    assert names(listed("--all")) == ["x", "a"]
    age_ref_folders(repo)
    assert names(listed("--all")) == ["x", "a"]
    assert {DEFAULT_DIR, "refs/gitexp/runs/sweep"} <= set(refdirs(repo))
    make_run("y", experiment="sweep")
    assert names(listed("-e", "sweep")) == ["y", "x"]


def test_unchanged_ref_folders_are_not_even_listed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder whose mtime holds gives its refs and subfolders from the cache: no scandir at all."""
    a, x = make_run("a"), make_run("x", experiment="sweep")
    age_ref_folders(repo)
    assert names(listed("--all")) == ["x", "a"]  # remembers every folder, subfolders included
    scanned: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": scanned.append(str(path)) or real_scandir(path))
    assert [r["id"] for r in listed("--all")] == [x, a]
    runs = [p for p in scanned if "refs/gitexp/runs" in p]  # (tags and fetched runs: small, never remembered)
    assert runs == []
    b = make_run("b")  # its ref's rename moves the default folder's mtime: that folder alone is listed again
    scanned.clear()
    assert [r["id"] for r in listed("--all")] == [b, x, a]
    assert {os.path.relpath(p, repo / ".git") for p in scanned if "refs/gitexp/runs" in p} == {DEFAULT_DIR}


def test_a_name_resolves_to_a_run_the_cache_has_not_seen(repo: Path) -> None:
    a = make_run("a")
    listed()  # the cache knows every run, and that these refs are complete
    b = make_run("b")
    assert cli("diff", "a", "b", "--json", cwd=repo).stdout.count(b) >= 1
    result = json.loads(cli("diff", "b", "a", "--json", cwd=repo).stdout)
    assert (result["a"]["id"], result["b"]["id"]) == (b, a)
    assert query(repo, "SELECT count(*) FROM runs") == [(2,)]  # b's row was added on the way
    conn = sqlite3.connect(cache_file(repo))  # a row whose columns lost their types is read from git again
    conn.execute("UPDATE runs SET start_ms = 'x' WHERE name = 'a'")
    conn.execute("DELETE FROM verified")  # (the refs are not known complete any more)
    conn.commit()
    conn.close()
    damaged = cli("diff", "a", "b", "--json", cwd=repo)
    assert damaged.returncode == 0, damaged.stderr  # once, not "ambiguous name" (its row and its record)
    assert json.loads(damaged.stdout)["a"]["id"] == a


# -- a damaged or unusable cache ----------------------------------------------------------------------

@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_deleted_cache_is_rebuilt_silently(repo: Path) -> None:
    for n in ("a", "b", "c"):
        make_run(n)
    first = cli("ls", cwd=repo)
    assert first.returncode == 0
    drop_cache(repo)
    again = cli("ls", cwd=repo)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == first.stdout
    assert query(repo, "SELECT count(*) FROM runs") == [(3,)]
    assert query(repo, "SELECT value FROM meta WHERE key = 'schema'") == [(index.SCHEMA,)]


@pytest.mark.parametrize("schema", ["1", "99"])
@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_cache_of_another_schema_is_rebuilt(repo: Path, schema: str) -> None:
    ids = [make_run(n) for n in ("a", "b")]
    first = cli("ls", "--json", cwd=repo)
    conn = sqlite3.connect(cache_file(repo))  # what an older (or newer) gitexp left behind
    conn.executescript(
        "DROP TABLE runs; DROP TABLE refdirs;"
        "CREATE TABLE runs (commit_id TEXT PRIMARY KEY, data TEXT);"
        f"INSERT INTO runs VALUES ('{'0' * 40}', 'old format');"
        f"UPDATE meta SET value = '{schema}' WHERE key = 'schema';")
    conn.close()
    again = cli("ls", "--json", cwd=repo)
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout == first.stdout
    assert [r["id"] for r in json.loads(again.stdout)] == ids[::-1]
    assert query(repo, "SELECT value FROM meta WHERE key = 'schema'") == [(index.SCHEMA,)]
    assert sorted(r[0] for r in query(repo, "SELECT run_id FROM runs")) == sorted(ids)


def test_garbage_cache_is_rebuilt(repo: Path) -> None:
    make_run("a")
    first = cli("ls", cwd=repo).stdout
    drop_cache(repo)
    cache_file(repo).write_bytes(os.urandom(8192))
    again = cli("ls", cwd=repo)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == first
    assert query(repo, "SELECT run_id FROM runs") and cache_file(repo).read_bytes()[:16] == b"SQLite format 3\x00"


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_unopenable_cache_still_lists(repo: Path, runner) -> None:
    """A cache that cannot be opened or replaced (here: a folder in its place) is done without."""
    a, b = make_run("a"), make_run("b")
    first = cli("ls", cwd=repo)
    drop_cache(repo)
    cache_file(repo).mkdir()
    (cache_file(repo) / "keep").write_text("not ours")
    proc = cli("ls", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == first.stdout
    assert names(listed()) == ["b", "a"]
    assert names(gitexp.search_runs("params.n = 'a'", output="dicts")) == ["a"]
    ok(invoke(runner, "tag", "a", "stage=best"))
    assert listed()[1]["tags"] == {"stage": "best"}
    c = make_run("c")
    assert [r["id"] for r in listed()] == [c, b, a]
    assert (cache_file(repo) / "keep").read_text() == "not ours"  # left alone


@pytest.mark.stress  # six processes filling one cold cache
def test_concurrent_cold_loads_agree(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel sweeps all list runs at start: many processes filling one cold cache at once."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from gen_runs import generate

    generate(repo, 120, 3, 2, 3)
    expected = cli("ls", "--all", "--json", "--limit", "0", cwd=repo)
    assert expected.returncode == 0 and len(json.loads(expected.stdout)) == 120
    for _ in range(1):
        drop_cache(repo)
        procs = [subprocess.Popen([sys.executable, "-m", "gitexp", "ls", "--all", "--json", "--limit", "0"],
                                  cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "Error" not in err and out == expected.stdout
    assert query(repo, "SELECT count(*) FROM runs") == [(120,)]


# -- progress and bulk loading on many runs --------------------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with 1,500 generated runs (5 params, 2 metrics, 10 steps), made once."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gen_runs import generate
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return repo_made_once(tmp_path_factory, "big", lambda path: generate(path, 1500, 5, 2, 10))


@pytest.mark.slow  # a 1,500-run repository (its in-process twin below runs with a fake clock)
def test_slow_cold_load_shows_a_progress_bar_on_stderr(big: Path) -> None:
    """A real cold `ls --all` in its own process, with the bar due at once (not after 1 s).

    Whether a load takes over a second depends on the machine's load, so the threshold is set
    to zero rather than this test waiting on timing.
    """
    drop_cache(big)
    prelude = ("import sys; from gitexp.services.catalog import cache; cache.PROGRESS_AFTER_S = 0.0; "
               "from gitexp.cli.app import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", prelude, "ls", "--all"], cwd=big, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "gitexp: indexing runs [" in proc.stderr
    updates = re.split(r"[\r\n]", proc.stderr)
    bars = [u for u in updates if u.startswith("gitexp: indexing runs")]
    assert bars and all(re.fullmatch(r"gitexp: indexing runs \[[# ]{30}\] \d+/1500", u) for u in bars), bars
    assert bars[-1] == "gitexp: indexing runs [" + "#" * 30 + "] 1500/1500"
    done = [int(u.rsplit(" ", 1)[1].split("/")[0]) for u in bars]
    assert done == sorted(done)
    assert "] 1500/1500\n" in proc.stderr  # the bar's line is finished before anything else is written
    assert "(1450 more; use --limit 0 to list all)" in proc.stderr

    lines = proc.stdout.splitlines()  # the table only
    assert "indexing" not in proc.stdout and "\r" not in proc.stdout
    assert lines[0].split()[:3] == ["id", "name", "experiment"] and len(lines) == 52

    warm = cli("ls", "--all", "--json", cwd=big)  # warm: nothing to index, no bar
    assert warm.returncode == 0 and warm.stderr == ""
    assert len(json.loads(warm.stdout)) == 50


@pytest.mark.slow  # seconds of real processes: in the slow set
def test_progress_bar_with_a_slow_clock(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic twin of the test above: a clock that runs 0.4 s per loaded chunk."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from gen_runs import generate

    generate(repo, 250, 2, 1, 2)
    drop_cache(repo)
    clock = iter(range(10**6))
    monkeypatch.setattr(index, "time", types.SimpleNamespace(monotonic=lambda: next(clock) * 0.4,
                                                             time_ns=time.time_ns))
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls", "--all", "--limit", "3")
    assert result.exit_code == 0, result.stderr
    bars = [u for u in re.split(r"[\r\n]", result.stderr) if u]
    assert bars[:3] == ["gitexp: indexing runs [" + "#" * 12 + " " * 18 + "] 100/250",
                        "gitexp: indexing runs [" + "#" * 24 + " " * 6 + "] 200/250",
                        "gitexp: indexing runs [" + "#" * 30 + "] 250/250"]
    assert bars[3:] == ["(247 more; use --limit 0 to list all)"]
    assert "indexing" not in result.stdout and len(result.stdout.splitlines()) == 5
    again = invoke(CliRunner(), "ls", "--all", "--limit", "3")  # nothing left to index: no bar
    assert "indexing" not in again.stderr and again.stdout == result.stdout


def test_dicts_and_json_read_fields_with_the_rows(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full output reads every field of every run in one query, not one cache query per field and run."""
    for n in range(5):
        make_run(f"r{n}")
    listed()
    calls: list[str] = []
    original = index.RunIndex.load_field
    monkeypatch.setattr(index.RunIndex, "load_field",
                        lambda self, s, field, from_git: calls.append(field) or original(self, s, field, from_git))
    assert len(gitexp.search_runs(output="dicts")) == 5
    assert len(listed("--all")) == 5
    pd = pytest.importorskip("pandas")
    assert isinstance(gitexp.search_runs(output="pandas"), pd.DataFrame)
    assert calls == []


@pytest.mark.slow  # a 1,500-run repository, loaded three times
def test_bulk_cold_load_equals_warm_and_one_by_one_loads(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(big)
    monkeypatch.setattr(api, "_repo_path", str(big))
    drop_cache(big)
    bulk = gitexp.search_runs(output="dicts")  # records read through git cat-file
    warm = gitexp.search_runs(output="dicts")  # from the cache just written
    drop_cache(big)
    monkeypatch.setattr(index, "BULK_FROM", 10**9)
    one_by_one = gitexp.search_runs(output="dicts")  # each record through dulwich
    assert len(bulk) == 1500 and bulk == one_by_one and warm == one_by_one
    assert {r["experiment"] for r in bulk} == {"default", "sweep"}
    assert all(r["status"] == "FINISHED" and len(r["params"]) == 5 and set(r["metrics"]) == {"acc", "loss"}
               and r["metrics"]["acc"]["count"] == 10 for r in bulk)
    one = gitexp.get_run(bulk[700]["id"])
    assert one.params == bulk[700]["params"] and one.metrics["acc"] == bulk[700]["metrics"]["acc"]["last"]
    assert sorted(names(gitexp.search_runs("params.lr = 0.01", output="dicts"))) \
        == sorted(r["name"] for r in one_by_one if r["params"]["lr"] == 0.01)


# -- short ids ------------------------------------------------------------------------------------------

def test_short_ids() -> None:
    from gitexp.services.catalog.query import short_ids

    assert short_ids([]) == {}
    assert short_ids(["0123456789abcdef"]) == {"0123456789abcdef": "01234567"}
    ids = ["1m8brvnsq9274enn", "1m8brvnsq9a00000", "1m8brvnz00000000", "2aaaaaaaaaaaaaaa"]
    out = short_ids(ids)
    assert out == {"1m8brvnsq9274enn": "1m8brvnsq92", "1m8brvnsq9a00000": "1m8brvnsq9a",
                   "1m8brvnz00000000": "1m8brvnz", "2aaaaaaaaaaaaaaa": "2aaaaaaa"}
    for run_id, prefix in out.items():  # each prefix tells its id apart, and no shorter one would
        assert len(prefix) >= 8 and run_id.startswith(prefix)
        assert [i for i in ids if i.startswith(prefix)] == [run_id]
        if len(prefix) > 8:
            assert len([i for i in ids if i.startswith(prefix[:-1])]) > 1
    assert short_ids(ids * 2) == out  # duplicates do not matter
    assert short_ids(ids, minimum=4)["2aaaaaaaaaaaaaaa"] == "2aaa"
    assert short_ids(ids, minimum=4)["1m8brvnz00000000"] == "1m8brvnz"  # shares 7 chars with another
    a, b = "0000000000000001", "0000000000000002"
    assert short_ids([a, b]) == {a: a, b: b}  # differ only in the last character

