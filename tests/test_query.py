"""Search: `gitexp ls --filter/--sort/--limit` and `gitexp.search_runs` end-to-end on real runs."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

import gitexp
from gitexp.errors import FilterSyntaxError, GitexpError, InvalidName
from tests.helpers import cli, git, init_repo, invoke, isolate, sampled

DEFAULT = ["alpha", "beta", "gamma", "delta"]  # creation order (list order is the reverse)


def make_runs() -> dict[str, str]:
    """Four runs in `default` and one in `other`, in the current repository; returns {name: id}."""
    ids = {}
    specs = [
        ("alpha", {"lr": 0.1, "opt": {"name": "adam"}, "layers": 2}, {"stage": "dev"},
         {"acc": [0.5, 0.9], "loss": 0.3}),
        ("beta", {"lr": 0.01, "opt": {"name": "sgd"}, "layers": 12}, {"stage": "best"}, {"acc": 0.95}),
        ("gamma", {"lr": 0.001, "opt": {"name": "adam"}, "layers": 3}, {"stage": "best"}, {"acc": 0.5, "loss": 0.7}),
    ]
    for name, params, tags, metrics in specs:
        with gitexp.start_run(run_name=name, params=params, tags=tags) as run:
            for key, values in metrics.items():
                for value in values if isinstance(values, list) else [values]:
                    gitexp.log_metric(key, value)
            ids[name] = run.id
    run = gitexp.start_run(run_name="delta")  # no params, metrics or tags; failed
    ids["delta"] = run.id
    gitexp.end_run("FAILED")
    with gitexp.start_run(run_name="omega", experiment="other", params={"lr": 0.01},
                          tags={"stage": "best"}) as run:
        gitexp.log_metric("acc", 0.99)
        ids["omega"] = run.id
    return ids


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A repository with the runs of `make_runs`, made once per module (tests get a copy)."""
    import gitexp.api as api

    path = tmp_path_factory.mktemp("template") / "repo"
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp_path_factory.mktemp("template-home"))
        init_repo(path)
        mp.chdir(path)
        mp.setattr(api, "_repo_path", str(path))
        mp.setattr(api, "_experiment", None)
        ids = make_runs()
    return path, ids


@pytest.fixture
def runs(repo: Path, template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """The `repo` fixture holding a fresh copy of the template's runs; returns {name: id}."""
    source, ids = template
    shutil.rmtree(repo / ".git")
    shutil.copytree(source / ".git", repo / ".git", symlinks=True)
    assert sorted(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/gitexp/").split()) \
        == sorted(f"gitexp/runs/{'other' if n == 'omega' else 'default'}/{i}" for n, i in ids.items())
    return dict(ids)


def names(result) -> list[str]:
    return [s.name for s in result]


def ls_rows(*args: str) -> list[str]:
    """The table rows of in-process `gitexp ls -c id,name,status ARGS` (in order)."""
    from click.testing import CliRunner

    return invoke(CliRunner(), "ls", "-c", "id,name,status", *args).stdout.splitlines()[2:]


def ls_names(*args: str) -> list[str]:
    """Names listed by in-process `gitexp ls -c name ARGS` (in order)."""
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls", "-c", "name", *args)
    assert result.exit_code == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines()[2:]]


# -- the filter grammar on real runs ---------------------------------------------------------------

def test_mlflow_example_filter(runs: dict[str, str]) -> None:
    expr = "metrics.acc > 0.9 and params.lr = 0.01 and tags.stage = 'best' and status = 'FINISHED'"
    assert names(gitexp.search_runs(expr)) == ["omega", "beta"]  # every experiment, newest first
    assert names(gitexp.search_runs(expr, experiment="default")) == ["beta"]
    assert ls_names("-f", expr) == ["beta"]
    assert ls_names("--all", "--filter", expr) == ["omega", "beta"]


@pytest.mark.parametrize("expr, expected", sampled([
    ("params.lr = 0.01", {"beta"}),
    ("params.lr == 0.01", {"beta"}),
    ("params.lr = 1e-2", {"beta"}),
    ("params.lr = '0.01'", {"beta"}),
    ("params.lr != 0.01", {"alpha", "gamma"}),  # a run without the key never matches
    ("metrics.acc < 0.9", {"gamma"}),
    ("metrics.acc <= 0.9", {"alpha", "gamma"}),  # the last value counts (alpha logged 0.5 then 0.9)
    ("metrics.acc > 0.9", {"beta"}),
    ("metrics.acc >= 0.9", {"alpha", "beta"}),
    ("metrics.loss >= 0", {"alpha", "gamma"}),
    ("params.layers < 10", {"alpha", "gamma"}),  # numbers, not text: '12' < '10' and '2' > '10' as text
    ("params.layers > 2.5", {"beta", "gamma"}),
    ("params.layers >= 12", {"beta"}),
    ("params.layers <= 2", {"alpha"}),
    ("tags.stage LIKE 'b%'", {"beta", "gamma"}),
    ("tags.stage LIKE 'B%'", set()),
    ("tags.stage ILIKE 'B_ST'", {"beta", "gamma"}),
    ("attributes.run_name LIKE '%a'", {"alpha", "beta", "gamma", "delta"}),
    ("run_name ILIKE 'G%'", {"gamma"}),
    ("params.opt.name = 'adam'", {"alpha", "gamma"}),
    ("params.opt.name != 'adam'", {"beta"}),
    ("params.opt.name IN ('adam', 'rmsprop')", {"alpha", "gamma"}),
    ("params.opt.name NOT IN ('adam')", {"beta"}),
    ("params.lr IN (0.01, 0.1)", {"alpha", "beta"}),
    ("params.lr NOT IN (0.01, 0.1)", {"gamma"}),
    ("tags.stage IN ('best')", {"beta", "gamma"}),
    ("status = 'FAILED'", {"delta"}),
    ("attributes.status != 'FINISHED'", {"delta"}),
    ("status IN ('FINISHED', 'FAILED')", set(DEFAULT)),
    ("metrics.acc > 0.9 or tags.stage = 'dev'", {"alpha", "beta"}),
    ("METRICS.acc > 0.9 OR tags.stage = 'dev'", {"alpha", "beta"}),
    ("not tags.stage = 'best'", {"alpha", "delta"}),
    ("not (tags.stage = 'best' or status = 'FAILED')", {"alpha"}),
    ("(metrics.acc > 0.9 or params.lr = 0.001) and tags.stage = 'best'", {"beta", "gamma"}),
    ("metrics.acc > 0.9 or params.lr = 0.001 and tags.stage = 'dev'", {"beta"}),  # AND binds tighter
    ("params.lr = 0.01 and params.opt.name = 'sgd' and params.layers = 12", {"beta"}),
    ("", set(DEFAULT)),
]))
def test_operators_on_real_runs(runs: dict[str, str], expr: str, expected: set[str]) -> None:
    found = names(gitexp.search_runs(expr, experiment="default"))
    assert set(found) == expected, expr
    assert len(found) == len(set(found))
    assert [n for n in reversed(DEFAULT) if n in expected] == found  # newest first without --sort


def test_cli_filter_matches_the_api(runs: dict[str, str]) -> None:
    for expr in ("params.layers < 10", "tags.stage ILIKE 'B%'", "not tags.stage = 'best'",
                 "params.opt.name IN ('adam')", "(metrics.acc > 0.9 or params.lr = 0.001) and tags.stage = 'best'"):
        assert ls_names("-f", expr) == names(gitexp.search_runs(expr, experiment="default")), expr


def test_param_from_gitexp_run_compares_as_a_number(repo: Path) -> None:
    proc = cli("run", "-n", "from-cli", "-p", "lr=0.01", "-p", "epochs=10", "-p", "opt=adam", "--",
               sys.executable, "train.py", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    with gitexp.start_run(run_name="text-lr", params={"lr": "0.010", "epochs": 9}):
        pass
    assert names(gitexp.search_runs("params.lr = 0.01")) == ["text-lr", "from-cli"]  # '0.010' is 0.01 too
    assert names(gitexp.search_runs("params.lr > 0.001 and params.lr < 0.1 and params.epochs >= 10")) == ["from-cli"]
    assert names(gitexp.search_runs("params.epochs > 9.5")) == ["from-cli"]
    assert names(gitexp.search_runs("params.opt = 'adam'")) == ["from-cli"]
    run = gitexp.search_runs("params.lr = 0.01", max_results=1, order_by="params.epochs desc")[0]
    assert run.name == "from-cli" and run.params["lr"] == 0.01 and run.params["epochs"] == 10
    assert ls_names("-f", "params.lr = 0.01 and params.epochs = 10") == ["from-cli"]


# -- sorting ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("order, expected", sampled([
    (["metrics.acc desc"], ["beta", "alpha", "gamma", "delta"]),  # a run without the key comes last
    (["metrics.acc DESC"], ["beta", "alpha", "gamma", "delta"]),
    (["metrics.acc:desc"], ["beta", "alpha", "gamma", "delta"]),
    (["metrics.acc"], ["gamma", "alpha", "beta", "delta"]),
    (["metrics.acc asc"], ["gamma", "alpha", "beta", "delta"]),
    (["metrics.acc:asc"], ["gamma", "alpha", "beta", "delta"]),
    (["metrics.loss:desc"], ["gamma", "alpha", "delta", "beta"]),  # runs lacking it keep their (newest first) order
    (["params.lr"], ["gamma", "beta", "alpha", "delta"]),
    (["params.lr:desc"], ["alpha", "beta", "gamma", "delta"]),
    (["params.layers"], ["alpha", "gamma", "beta", "delta"]),  # numeric: 2 < 3 < 12
    (["params.opt.name", "metrics.acc:desc"], ["alpha", "gamma", "beta", "delta"]),
    (["tags.stage", "metrics.acc desc"], ["beta", "gamma", "alpha", "delta"]),
    (["tags.stage:desc", "params.lr"], ["alpha", "gamma", "beta", "delta"]),
    (["run_name"], ["alpha", "beta", "delta", "gamma"]),
    (["attributes.run_name:desc"], ["gamma", "delta", "beta", "alpha"]),
    (["start_time"], ["alpha", "beta", "gamma", "delta"]),
    (["start_time desc"], ["delta", "gamma", "beta", "alpha"]),
    (["status", "run_name desc"], ["delta", "gamma", "beta", "alpha"]),
]))
def test_sort(runs: dict[str, str], order: list[str], expected: list[str]) -> None:
    assert names(gitexp.search_runs(order_by=order, experiment="default")) == expected
    cli_args = [a for key in order for a in ("-s", key)]
    assert ls_names(*cli_args) == expected


def test_sort_accepts_one_string_and_combines_with_filter(runs: dict[str, str]) -> None:
    assert names(gitexp.search_runs("tags.stage = 'best'", order_by="metrics.acc desc")) == ["omega", "beta", "gamma"]
    assert names(gitexp.search_runs("tags.stage = 'best'", order_by="metrics.acc", experiment="default")) \
        == ["gamma", "beta"]
    assert ls_names("--all", "-f", "params.lr = 0.01", "-s", "metrics.acc:desc") == ["omega", "beta"]


# -- limits and experiments -------------------------------------------------------------------------

def test_max_results_and_limit(runs: dict[str, str]) -> None:
    assert names(gitexp.search_runs(order_by=["metrics.acc desc"], max_results=2)) == ["omega", "beta"]
    assert names(gitexp.search_runs(max_results=0)) == []
    assert len(gitexp.search_runs(max_results=100)) == 5
    assert names(gitexp.search_runs("tags.stage = 'best'", max_results=1, experiment="default")) == ["gamma"]
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls", "-c", "name", "-s", "metrics.acc:desc", "--limit", "2")
    assert result.exit_code == 0
    assert [line.strip() for line in result.stdout.splitlines()[2:]] == ["beta", "alpha"]
    assert "(2 more; use --limit 0 to list all)" in result.stderr
    assert ls_names("-n", "1", "-f", "tags.stage = 'best'") == ["gamma"]
    assert ls_names("--limit", "0", "--all") == ["omega", *reversed(DEFAULT)]
    data = json.loads(invoke(CliRunner(), "ls", "--json", "-n", "3", "-s", "run_name").stdout)
    assert [d["name"] for d in data] == ["alpha", "beta", "delta"]


@pytest.mark.parametrize("bad", [-1, 2.5, "3", True])
def test_bad_max_results_is_a_clear_error(runs: dict[str, str], bad: object) -> None:
    with pytest.raises(GitexpError) as info:
        gitexp.search_runs(max_results=bad)  # type: ignore[arg-type]
    assert "max_results" in info.value.message


def test_running_run_is_filtered_and_sorted_by_its_live_values(repo: Path) -> None:
    """`ls` shows a running run's latest logged values; filters and sorting must use the same ones."""
    with gitexp.start_run(run_name="done", params={"lr": 0.1}):
        gitexp.log_metric("acc", 0.5)
    gitexp.start_run(run_name="live", params={"lr": 0.2})
    gitexp.log_metric("acc", 0.1)
    gitexp.flush()
    gitexp.log_metric("acc", 0.95)
    gitexp.set_tag("stage", "best")
    gitexp.flush()
    live = gitexp.search_runs("status = 'RUNNING'")
    assert names(live) == ["live"] and live[0].summary["acc"]["last"] == 0.95
    assert live[0].metrics() == {"acc": 0.95}
    assert names(gitexp.search_runs("metrics.acc > 0.9")) == ["live"]
    assert names(gitexp.search_runs("metrics.acc < 0.2")) == []
    assert names(gitexp.search_runs("tags.stage = 'best'")) == ["live"]
    assert names(gitexp.search_runs(order_by="metrics.acc:desc")) == ["live", "done"]
    assert names(gitexp.search_runs(order_by="metrics.acc")) == ["done", "live"]
    assert ls_names("-f", "metrics.acc > 0.9") == ["live"]
    assert ls_names("-s", "metrics.acc") == ["done", "live"]
    row = gitexp.search_runs("metrics.acc > 0.9", output="dicts")[0]
    assert row["metrics"]["acc"]["last"] == 0.95 and row["status"] == "RUNNING"
    gitexp.end_run()
    assert names(gitexp.search_runs("metrics.acc > 0.9")) == ["live"]
    assert names(gitexp.search_runs("status = 'RUNNING'")) == []


def test_experiment_selection(runs: dict[str, str], repo: Path) -> None:
    everything = ["omega", *reversed(DEFAULT)]
    assert names(gitexp.search_runs()) == everything  # None: every experiment
    assert names(gitexp.search_runs(experiment=None)) == everything
    assert names(gitexp.search_runs(experiment="default")) == list(reversed(DEFAULT))
    assert names(gitexp.search_runs(experiment="other")) == ["omega"]
    assert names(gitexp.search_runs(experiment=["default", "other"])) == everything
    assert names(gitexp.search_runs(experiment=["other"])) == ["omega"]
    assert names(gitexp.search_runs(experiment=("other", "nope"))) == ["omega"]
    assert names(gitexp.search_runs(experiment="nope")) == []
    assert names(gitexp.search_runs(experiment=[])) == []
    assert names(gitexp.search_runs("params.lr = 0.01", experiment=["default", "other"])) == ["omega", "beta"]
    with pytest.raises(InvalidName):
        gitexp.search_runs(experiment="Bad Name")
    with pytest.raises(InvalidName):
        gitexp.search_runs(experiment=["other", "../x"])

    assert ls_names() == list(reversed(DEFAULT))  # `ls`: the default experiment only
    assert ls_names("-e", "other") == ["omega"]
    assert ls_names("--all") == everything
    from click.testing import CliRunner

    conflict = invoke(CliRunner(), "ls", "-a", "-e", "other")  # one rule with plot: a usage error
    assert conflict.exit_code == 2 and "-e and --all cannot be combined" in conflict.stderr

    table = invoke(CliRunner(), "ls", "--all").stdout.splitlines()
    assert table[0].split()[:3] == ["id", "name", "experiment"]
    assert "experiment" not in invoke(CliRunner(), "ls").stdout.splitlines()[0].split()
    git(repo, "config", "gitexp.defaultexperiment", "other")  # the configured default experiment
    assert ls_names() == ["omega"]
    empty = invoke(CliRunner(), "ls", "-f", "metrics.acc > 5")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "No runs in experiment 'other' match the filter." in empty.stderr


# -- bad expressions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, position", sampled([
    ("metrics.acc >> 0.9", 13),
    ("metrics.acc > 0.9 and", 21),
    ("tags.stage = 'best", 13),
    ("foo.bar = 1", 0),
    ("params.lr = 0.01)", 16),
    ("(params.lr = 0.01", 0),
    ("tags.stage = best", 13),
    ("metrics.acc > 0.9 params.lr = 1", 18),
    ("params.opt IN 'adam'", 14),
    ("tags.stage LIKE 3", 16),
    ("attributes.color = 'red'", 11),
]))
def test_bad_filter_points_at_the_position(runs: dict[str, str], expr: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        gitexp.search_runs(expr)
    assert info.value.position == position
    assert isinstance(info.value, GitexpError) and info.value.expression == expr
    assert info.value.message.endswith(f"at position {position}")

    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls", "-f", expr)
    assert result.exit_code == 2 and result.stdout == ""
    assert_caret(result.stderr, expr, position)


def assert_caret(stderr: str, expr: str, position: int) -> None:
    lines = stderr.splitlines()
    assert lines[0].startswith("Error: ") and lines[0].endswith(f"at position {position}"), stderr
    assert "Traceback" not in stderr
    expr_line = next(i for i, line in enumerate(lines) if line.strip() == expr.strip())
    caret = lines[expr_line + 1]
    assert caret.strip() == "^", stderr
    offset = lines[expr_line].index(expr)
    assert caret.index("^") - offset == position, stderr


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_bad_filter_in_a_real_process(runs: dict[str, str], repo: Path) -> None:
    proc = cli("ls", "--filter", "metrics.acc > 0.9 and params.lr = = 0.01", cwd=repo)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_caret(proc.stderr, "metrics.acc > 0.9 and params.lr = = 0.01", 34)
    proc = cli("ls", "-s", "metrics.acc:up", cwd=repo)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_caret(proc.stderr, "metrics.acc:up", 12)


def test_bad_sort_key_through_the_api(runs: dict[str, str]) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        gitexp.search_runs(order_by=["metrics.acc desc", "metrics.acc sideways"])
    assert info.value.position == 12
    with pytest.raises(FilterSyntaxError):
        gitexp.search_runs(order_by="")


# -- output shapes ----------------------------------------------------------------------------------

def test_pandas_output(runs: dict[str, str]) -> None:
    pd = pytest.importorskip("pandas")
    df = gitexp.search_runs(output="pandas")
    assert isinstance(df, pd.DataFrame) and len(df) == 5
    for col in ("run_id", "run_name", "experiment", "status", "start_time", "end_time", "params.lr",
                "params.opt.name", "params.layers", "metrics.acc", "metrics.loss", "tags.stage"):
        assert col in df.columns, col
    assert list(df["run_id"]) == [runs[n] for n in ["omega", *reversed(DEFAULT)]]
    rows = df.set_index("run_name")
    assert rows.loc["beta", "params.lr"] == 0.01 and rows.loc["beta", "params.layers"] == 12
    assert rows.loc["alpha", "metrics.acc"] == 0.9  # the last value
    assert rows.loc["gamma", "metrics.loss"] == 0.7
    assert rows.loc["alpha", "params.opt.name"] == "adam" and rows.loc["beta", "tags.stage"] == "best"
    assert rows.loc["delta", "status"] == "FAILED" and rows.loc["omega", "experiment"] == "other"
    assert math.isnan(rows.loc["delta", "metrics.acc"])
    assert pd.isna(rows.loc["omega", "params.opt.name"])

    best = gitexp.search_runs("tags.stage = 'best'", order_by=["metrics.acc desc"], experiment="default",
                              output="pandas")
    assert list(best["run_name"]) == ["beta", "gamma"]
    assert list(best["metrics.acc"]) == [0.95, 0.5]


def test_pandas_output_with_no_match_still_has_columns(runs: dict[str, str]) -> None:
    pytest.importorskip("pandas")
    df = gitexp.search_runs("metrics.acc > 5", output="pandas")
    assert len(df) == 0
    assert "run_id" in df.columns and "status" in df.columns


def test_dicts_output(runs: dict[str, str], repo: Path) -> None:
    dicts = gitexp.search_runs("params.opt.name = 'adam'", order_by="run_name", output="dicts")
    assert [d["name"] for d in dicts] == ["alpha", "gamma"]
    alpha = dicts[0]
    assert set(alpha) == {"id", "name", "experiment", "status", "start_time", "end_time", "duration", "user",
                          "params", "tags", "metrics", "ref", "commit"}
    assert alpha["id"] == runs["alpha"] and alpha["experiment"] == "default" and alpha["status"] == "FINISHED"
    assert alpha["params"] == {"lr": 0.1, "opt": {"name": "adam"}, "layers": 2}
    assert alpha["tags"] == {"stage": "dev"}
    assert alpha["metrics"]["acc"] == {"last": 0.9, "step": 1, "min": 0.5, "max": 0.9, "count": 2}
    assert alpha["ref"] == f"refs/gitexp/runs/default/{runs['alpha']}"
    assert alpha["commit"] == git(repo, "rev-parse", alpha["ref"]).strip()
    json.dumps(dicts)  # plain data
    listed = gitexp.search_runs("params.opt.name = 'adam'", order_by="run_name")
    assert [s.id for s in listed] == [d["id"] for d in dicts]


def test_unknown_output_is_a_clear_error(runs: dict[str, str]) -> None:
    with pytest.raises(GitexpError) as info:
        gitexp.search_runs(output="csv")
    assert "csv" in info.value.message
    assert "pandas" in (info.value.hint or "") and "dicts" in (info.value.hint or "")


def test_pandas_missing_is_a_clear_error(runs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    with pytest.raises(GitexpError) as info:
        gitexp.search_runs(output="pandas")
    assert "pandas" in info.value.message
    assert "pip install 'gitexp[pandas]'" in (info.value.hint or "")
    assert "pip install 'gitexp[pandas]'" in str(info.value)
    assert len(gitexp.search_runs(output="dicts")) == 5  # other outputs still work


# -- ls --json and --columns ---------------------------------------------------------------------------

@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_ls_json_with_a_filter(runs: dict[str, str], repo: Path) -> None:
    proc = cli("ls", "--json", "-f", "params.opt.name = 'adam' and metrics.acc >= 0.5", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, list) and [d["name"] for d in data] == ["gamma", "alpha"]
    gamma = data[0]
    assert set(gamma) == {"id", "name", "experiment", "status", "start_time", "end_time", "duration", "user",
                          "params", "tags", "metrics", "ref", "commit"}
    assert gamma["id"] == runs["gamma"] and gamma["status"] == "FINISHED" and gamma["user"] == "tester"
    assert gamma["params"] == {"lr": 0.001, "opt": {"name": "adam"}, "layers": 3}
    assert gamma["metrics"]["loss"]["last"] == 0.7 and gamma["tags"] == {"stage": "best"}
    assert gamma["duration"] is not None and gamma["duration"] >= 0
    assert gamma["start_time"].endswith("Z") and gamma["end_time"] >= gamma["start_time"]
    empty = cli("ls", "--json", "-f", "metrics.acc > 5", cwd=repo)
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
    every = json.loads(cli("ls", "--json", "--all", "-f", "tags.stage = 'best'", "-s", "metrics.acc:desc",
                           cwd=repo).stdout)
    assert [(d["name"], d["experiment"]) for d in every] == [("omega", "other"), ("beta", "default"),
                                                            ("gamma", "default")]


def test_ls_columns_with_nested_params(runs: dict[str, str]) -> None:
    from click.testing import CliRunner

    result = invoke(CliRunner(), "ls", "-c", "id,name,params.opt.name,metrics.acc", "-s", "run_name")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "p.opt.name", "m.acc"]
    rows = [line.split() for line in lines[2:]]
    assert [r[1:] for r in rows] == [["alpha", "adam", "0.9"], ["beta", "sgd", "0.95"], ["delta", "-", "-"],
                                     ["gamma", "adam", "0.5"]]
    for row in rows:
        assert len(row[0]) >= 8 and runs[row[1]].startswith(row[0])



def cells(rows: list[str]) -> list[list[str]]:
    """A table's rows as cells: a column's width depends on every row shown (an id needs a 9th
    character when another shown run's id starts the same), so a page can be narrower."""
    return [row.split() for row in rows]


def test_ls_page_counts_every_run_it_does_not_show(runs: dict[str, str], repo: Path) -> None:
    """`ls -n K` reads only the shown rows, yet shows the first K of the full listing (running and
    corrupt runs included) and counts the rest exactly."""
    from click.testing import CliRunner

    (repo / "bad.yaml").write_text("id: [unclosed\nstatus: FINISHED\n")
    blob = git(repo, "hash-object", "-w", "bad.yaml").strip()
    inner = git(repo, "mktree", input_text=f"100644 blob {blob}\trun.yaml\n").strip()
    tree = git(repo, "mktree", input_text=f"040000 tree {inner}\t.gitexp\n").strip()
    commit = git(repo, "commit-tree", tree, "-m", "corrupt").strip()
    git(repo, "update-ref", "refs/gitexp/runs/default/1zzzzzzzzzzzzzzz", commit)
    gitexp.start_run(run_name="live")  # running: its live values come from the journals
    gitexp.log_metric("acc", 0.3)
    gitexp.flush()
    full = ls_rows("-n", "0")
    assert len(full) == len(DEFAULT) + 2 and "live" in full[0] and "CORRUPT" in full[-1], full
    for shown in range(1, len(full) + 1):
        result = invoke(CliRunner(), "ls", "-c", "id,name,status", "-n", str(shown))
        assert cells(result.stdout.splitlines()[2:]) == cells(full[:shown])
        more = len(full) - shown
        assert (f"({more} more; use --limit 0 to list all)" in result.stderr) == (more > 0), result.stderr
    assert cells(ls_rows("--all", "-n", "2")) == cells(ls_rows("--all", "-n", "0")[:2])
    assert cells(ls_rows("-s", "metrics.acc", "-n", "3")) == cells(ls_rows("-s", "metrics.acc", "-n", "0")[:3])
    gitexp.end_run()
