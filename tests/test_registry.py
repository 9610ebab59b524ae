"""The model registry: tag grammar, every event round-tripped through real git, ordering without
timestamps, concurrent writers, hand-made tags, deployment with `models get`, the API and URIs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gitexp
import gitexp.api as _api
from gitexp.services.registry import tagnames as tn
from gitexp.services.registry.message import compose, parse as parse_message
from tests.helpers import git, invoke


def make_run(name: str, model: bytes = b"model-bytes", acc: float = 0.9) -> str:
    with gitexp.start_run(run_name=name) as run:
        gitexp.log_metric("acc", acc)
        _api._log_bytes(model, "model.pkl")
        _api._log_bytes(b"{}", "model_dir/conf.json")
        _api._log_bytes(b"w" * 10, "model_dir/weights.bin")
        run_id = run.id
    return run_id


def ok(runner, *args: str):
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return result


def one_line_error(runner, *args: str, needle: str) -> str:
    result = invoke(runner, *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and needle in lines[0], result.stderr
    assert all(line.startswith(("Error: ", "hint: ")) for line in lines), result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "-l").split()


# -- grammar ------------------------------------------------------------------------------------
@pytest.mark.parametrize("tag, expected", [
    ("churn@v1.2.0", tn.TagName("churn", "register", version="v1.2.0")),
    ("churn@v1.2.0-rc.1+b5", tn.TagName("churn", "register", version="v1.2.0-rc.1+b5")),
    ("churn@v1.2.0!", tn.TagName("churn", "deregister", version="v1.2.0")),
    ("churn#prod#3", tn.TagName("churn", "assign", stage="prod", number=3)),
    ("churn#prod!#4", tn.TagName("churn", "unassign", stage="prod", number=4)),
    ("churn@deprecated#5", tn.TagName("churn", "deprecate", number=5)),
    ("team/Churn_2#dev", tn.TagName("team/Churn_2", "assign", stage="dev")),
    ("models/a.b=churn@v0.0.1", tn.TagName("models/a.b:churn", "register", version="v0.0.1")),
])
def test_parse_and_build_round_trip(tag, expected):
    assert tn.parse(tag) == expected
    assert tn.build(expected) == tag


@pytest.mark.parametrize("tag", ["v1.0.0", "churn@1.0.0", "churn@v1.0", "-churn@v1.0.0", "churn-@v1.0.0",
                                 "churn#prod#x", "churn#-prod#1", "churn@v01.0.0", "churn@deprecated!"])
def test_non_registry_names(tag):
    assert tn.parse(tag) is None


def test_builders_refuse_bad_names():
    with pytest.raises(gitexp.GitexpError, match="invalid model name"):
        tn.register_tag("bad name", "v1.0.0")
    with pytest.raises(gitexp.GitexpError, match="invalid stage"):
        tn.assign_tag("churn", "prod!", 1)
    with pytest.raises(gitexp.GitexpError, match="invalid version"):
        tn.register_tag("churn", "1.0")
    assert tn.register_tag("churn", "1.2.3") == "churn@v1.2.3"


def test_semver_precedence():
    order = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1",
             "v1.0.0", "v1.0.1", "v1.10.0", "v2.0.0"]
    assert sorted(order[::-1], key=tn.SemVer) == order


def test_message_block_round_trip_and_is_safe():
    text = compose("Register churn v1.0.0", {"run": "abc", "description": "two\nlines: x", "evil": "1"}, "hello")
    human, fields = parse_message(text)
    assert human.startswith("Register churn v1.0.0") and "hello" in human
    assert fields == {"run": "abc", "description": "two\nlines: x"}
    assert parse_message("just text\n") == ("just text", {})
    assert parse_message("x\n\ngitexp-registry: 1\n" + "run: a\n" * 10_000)[1] == {"run": "a"}


# -- the lifecycle through the CLI, checked with real git ---------------------------------------
def test_lifecycle_round_trip(repo, runner):
    make_run("first")
    make_run("second", b"model-2", acc=0.95)
    out = ok(runner, "models", "register", "churn", "first", "--artifact", "model.pkl", "-m", "baseline")
    assert "created tag churn@v0.0.1" in out.stderr and "git push origin 'refs/tags/churn@v0.0.1'" in out.stderr
    ok(runner, "models", "register", "churn", "second", "--artifact", "model_dir", "--bump-minor")
    ok(runner, "models", "assign", "churn", "v0.0.1", "--stage", "production")
    ok(runner, "models", "promote", "churn", "v0.1.0", "--stage", "production")
    ok(runner, "models", "assign", "churn", "0.0.1", "--stage", "staging")
    ok(runner, "models", "unassign", "churn", "v0.0.1", "--stage", "staging")
    assert set(tags(repo)) == {"churn@v0.0.1", "churn@v0.1.0", "churn#production#1", "churn#production#2",
                               "churn#staging#3", "churn#staging!#4"}
    # every tag is annotated and points at the run's commit
    for tag in tags(repo):
        assert git(repo, "cat-file", "-t", tag).strip() == "tag"
    first_commit = git(repo, "rev-parse", "churn@v0.0.1^{commit}").strip()
    assert git(repo, "rev-parse", "churn#staging!#4^{commit}").strip() == first_commit
    assert "run_name: first" in git(repo, "cat-file", "-p", "churn@v0.0.1")
    git(repo, "fsck", "--strict", "--no-progress")

    data = json.loads(ok(runner, "models", "ls", "--json").stdout)
    assert data == [{"name": "churn", "latest": "v0.1.0", "stages": {"production": "v0.1.0"},
                     "deprecated": False, "versions": 2}]
    shown = json.loads(ok(runner, "models", "show", "churn", "--json").stdout)
    assert [(v["version"], v["run_name"], v["stages"], v["metrics"]["acc"]) for v in shown["versions"]] == \
        [("v0.1.0", "second", ["production"], 0.95), ("v0.0.1", "first", [], 0.9)]
    history = json.loads(ok(runner, "models", "history", "churn", "--json").stdout)
    assert [(e["action"], e["version"], e["stage"]) for e in history] == [
        ("register", "v0.0.1", None), ("register", "v0.1.0", None), ("assign", "v0.0.1", "production"),
        ("assign", "v0.1.0", "production"), ("assign", "v0.0.1", "staging"), ("unassign", "v0.0.1", "staging")]

    # deregistering the production version: production falls back to v0.0.1
    ok(runner, "models", "deregister", "churn", "v0.1.0")
    assert "churn@v0.1.0!" in tags(repo)
    data = json.loads(ok(runner, "models", "ls", "--json").stdout)[0]
    assert data["latest"] == "v0.0.1" and data["stages"] == {"production": "v0.0.1"}
    ok(runner, "models", "deprecate", "churn")
    assert "churn@deprecated#5" in tags(repo)
    assert json.loads(ok(runner, "models", "ls", "--json").stdout)[0]["deprecated"] is True
    text = ok(runner, "models", "ls").stdout
    assert "churn (deprecated)" in text and "production" in text
    git(repo, "fsck", "--strict", "--no-progress")


def test_history_order_without_timestamps(repo, runner):
    """Many events in the same second: the order comes from counters and `after`/`seq`, not tag times."""
    for name in ("r1", "r2", "r3"):
        make_run(name)
    steps = [("register", "churn", "r1"), ("assign", "churn", "v0.0.1", "--stage", "dev"),
             ("register", "churn", "r2"), ("deregister", "churn", "v0.0.1"),
             ("assign", "churn", "v0.0.2", "--stage", "dev"), ("register", "churn", "r3"),
             ("assign", "churn", "v0.0.3", "--stage", "prod"), ("unassign", "churn", "v0.0.3", "--stage", "prod")]
    for step in steps:
        ok(runner, "models", *step)
    # Make every tag time identical: order must not depend on it.
    history = json.loads(ok(runner, "models", "history", "--json").stdout)
    assert [(e["action"], e["version"]) for e in history] == [
        ("register", "v0.0.1"), ("assign", "v0.0.1"), ("register", "v0.0.2"), ("deregister", "v0.0.1"),
        ("assign", "v0.0.2"), ("register", "v0.0.3"), ("assign", "v0.0.3"), ("unassign", "v0.0.3")]
    assert len({e["time"] for e in history}) <= 3  # same second(s): order is not from the clock


def test_errors_are_one_line(repo, runner):
    make_run("r1")
    make_run("r2")
    one_line_error(runner, "models", "show", "nope", needle="unknown model 'nope'")
    ok(runner, "models", "register", "churn", "r1", "--version", "v1.0.0")
    one_line_error(runner, "models", "register", "churn", "r1", needle="already churn v1.0.0")
    one_line_error(runner, "models", "register", "churn", "r2", "--version", "v1.0.0", needle="already registered")
    one_line_error(runner, "models", "register", "churn", "r2", "--version", "v0.9.0", needle="not greater")
    one_line_error(runner, "models", "register", "churn", "nosuchrun", needle="no run matches")
    one_line_error(runner, "models", "register", "churn", "r2", "--artifact", "nope.pkl", needle="no artifact")
    one_line_error(runner, "models", "register", "bad name", "r2", needle="invalid model name")
    one_line_error(runner, "models", "register", "churn", "r2", "--version", "1.0", needle="invalid version")
    one_line_error(runner, "models", "assign", "churn", "v2.0.0", "--stage", "prod", needle="no version v2.0.0")
    one_line_error(runner, "models", "assign", "churn", "v1.0.0", "--stage", "pro d", needle="invalid stage")
    one_line_error(runner, "models", "get", "churn#prod", needle="no version of churn is in stage prod")
    ok(runner, "models", "register", "churn", "r2", "--version", "v0.9.0", "--force")
    ok(runner, "models", "deregister", "churn", "v0.9.0")
    one_line_error(runner, "models", "assign", "churn", "v0.9.0", "--stage", "prod", needle="deregistered")
    one_line_error(runner, "models", "deregister", "churn", "v0.9.0", needle="already deregistered")
    ok(runner, "models", "assign", "churn", "v1.0.0", "--stage", "prod")
    one_line_error(runner, "models", "assign", "churn", "v1.0.0", "--stage", "prod", needle="already in stage")
    one_line_error(runner, "models", "unassign", "churn", "v0.9.0", "--stage", "prod", needle="not in stage")


def test_allowed_stages_from_settings(repo, runner):
    (repo / ".gitexp.yaml").write_text("registry:\n  stages: [dev, staging, production]\n")
    make_run("r1")
    ok(runner, "models", "register", "churn", "r1")
    one_line_error(runner, "models", "assign", "churn", "v0.0.1", "--stage", "prod", needle="not allowed")
    ok(runner, "models", "assign", "churn", "v0.0.1", "--stage", "production")


# -- tags made by hand ---------------------------------------------------------------------------
def test_hand_made_tags_are_read_and_malformed_ones_warned_once(repo, runner):
    make_run("r1")
    make_run("r2")
    r1 = git(repo, "rev-parse", "refs/gitexp/runs/default/" + _id(repo, "r1")).strip()
    r2 = git(repo, "rev-parse", "refs/gitexp/runs/default/" + _id(repo, "r2")).strip()
    git(repo, "tag", "-a", "fraud@v1.0.0", "-m", "by hand", r1)
    git(repo, "tag", "-a", "fraud#prod#1", "-m", "by hand", r1)
    git(repo, "tag", "-a", "fraud@v1.1.0", "-m", "by hand", r2)
    git(repo, "tag", "fraud#prod#7", r2)  # lightweight: ignored
    git(repo, "tag", "-a", "fraud@v1.x", "-m", "broken", r2)  # malformed: ignored
    git(repo, "tag", "-a", "fraud#prod#2", "-m", "no version here", "HEAD")  # not a version's commit
    git(repo, "tag", "v3.0.0", "HEAD")  # an ordinary release tag: silently not ours
    result = ok(runner, "models", "ls", "--json")
    assert json.loads(result.stdout)[0] == {"name": "fraud", "latest": "v1.1.0", "stages": {"prod": "v1.0.0"},
                                            "deprecated": False, "versions": 2}
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "ignored 3 malformed registry tags" in warnings[0], result.stderr
    assert "v3.0.0" not in result.stderr
    # the next counter follows the highest one of every tag of the model (#7 included, as GTO counts)
    ok(runner, "models", "assign", "fraud", "v1.1.0", "--stage", "prod")
    assert "fraud#prod#8" in tags(repo)
    # run listings show the versions a run carries
    listing = json.loads(ok(runner, "ls", "--json").stdout)
    assert {r["name"]: r.get("registry") for r in listing} == {"r1": ["fraud@v1.0.0"], "r2": ["fraud@v1.1.0 [prod]"]}


def _id(repo: Path, name: str) -> str:
    for line in git(repo, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split():
        if gitexp.get_run(line.rsplit("/", 1)[-1]).name == name:
            return line.rsplit("/", 1)[-1]
    raise AssertionError(name)


# -- deployment -----------------------------------------------------------------------------------
def test_get_writes_the_verified_model(repo, runner, tmp_path):
    make_run("r1", b"model-one")
    make_run("r2", b"model-two")
    ok(runner, "models", "register", "churn", "r1", "--artifact", "model.pkl")
    ok(runner, "models", "register", "churn", "r2", "--artifact", "model.pkl")
    ok(runner, "models", "assign", "churn", "v0.0.1", "--stage", "production")
    ok(runner, "models", "get", "churn#production", "-o", str(tmp_path / "prod.pkl"))
    assert (tmp_path / "prod.pkl").read_bytes() == b"model-one"
    ok(runner, "models", "get", "churn", "-o", str(tmp_path))
    assert (tmp_path / "model.pkl").read_bytes() == b"model-two"
    ok(runner, "models", "get", "churn@v0.0.1", "-o", str(tmp_path / "v1.pkl"))
    assert (tmp_path / "v1.pkl").read_bytes() == b"model-one"


def test_get_a_folder_model_and_refuse_a_changed_one(repo, runner, tmp_path):
    make_run("r1")
    ok(runner, "models", "register", "churn", "r1", "--artifact", "model_dir")
    ok(runner, "models", "get", "churn", "-o", str(tmp_path / "m"))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["conf.json", "weights.bin"]
    # A register tag whose recorded digest does not match: refused, nothing written.
    commit = git(repo, "rev-parse", "churn@v0.0.1^{commit}").strip()
    message = compose("Register churn v0.0.2", {"run": "x", "artifact": "model.pkl", "sha256": "0" * 64})
    git(repo, "tag", "-a", "churn@v0.0.2", "-m", message, commit)
    one_line_error(runner, "models", "get", "churn@v0.0.2", "-o", str(tmp_path / "bad.pkl"), needle="sha256")
    assert not (tmp_path / "bad.pkl").exists()


def test_python_api_with_mlflow_names(repo, tmp_path):
    run_id = make_run("r1", b"api-model")
    v = gitexp.register_model(f"runs:/{run_id}/model.pkl", "churn")
    assert (v.name, v.version, v.run_id, v.source) == ("churn", "v0.0.1", run_id, f"runs:/{run_id}/model.pkl")
    gitexp.transition_model_version_stage("churn", "v0.0.1", "staging")
    gitexp.set_registered_model_alias("churn", "champion", "v0.0.1")
    got = gitexp.get_model_version("churn", stage="champion")
    assert got.version == "v0.0.1" and sorted(got.aliases) == ["champion", "staging"]
    assert gitexp.get_model_version_by_alias("churn", "staging").commit == got.commit
    path = gitexp.download_artifacts("models:/churn@staging", dst_path=str(tmp_path / "a"))
    assert Path(path).read_bytes() == b"api-model"
    path = gitexp.download_artifacts("models:/churn/v0.0.1", dst_path=str(tmp_path / "b"))
    assert Path(path).read_bytes() == b"api-model"
    path = gitexp.download_artifacts("models:/churn/latest", dst_path=str(tmp_path / "c"))
    assert Path(path).read_bytes() == b"api-model"
    path = gitexp.download_artifacts(f"runs:/{run_id}/model_dir", dst_path=str(tmp_path / "d"))
    assert sorted(p.name for p in Path(path).iterdir()) == ["conf.json", "weights.bin"]
    path = gitexp.download_artifacts(run_id="r1", artifact_path="model.pkl", dst_path=str(tmp_path / "e"))
    assert Path(path).read_bytes() == b"api-model"
    with pytest.raises(gitexp.GitexpError, match="unknown model"):
        gitexp.get_model_version("nope")


# -- runs and the registry ------------------------------------------------------------------------
def test_show_diff_rm_know_the_registry(repo, runner):
    make_run("r1")
    make_run("r2")
    ok(runner, "models", "register", "churn", "r1", "--artifact", "model.pkl")
    ok(runner, "models", "assign", "churn", "v0.0.1", "--stage", "prod")
    ok(runner, "tag", "r1", "later=edit")  # moves the run ref; the version stays on the old commit
    assert "churn@v0.0.1 [prod]" in ok(runner, "show", "r1").stdout
    assert json.loads(ok(runner, "show", "r1", "--json").stdout)["registry"] == ["churn@v0.0.1 [prod]"]
    assert json.loads(ok(runner, "diff", "r1", "r2", "--json").stdout)["registry"] == \
        {"a": ["churn@v0.0.1 [prod]"], "b": []}
    assert "churn@v0.0.1 [prod]" in ok(runner, "diff", "r1", "r2").stdout
    assert "registry" not in json.loads(ok(runner, "show", "r2", "--json").stdout)
    assert "registry" in ok(runner, "ls").stdout
    err = one_line_error(runner, "rm", "-y", "r1", needle="registered model version")
    assert "gitexp rm --force r1" in err
    ok(runner, "rm", "-y", "--force", "r1")
    git(repo, "gc", "--prune=now", "--quiet")
    ok(runner, "models", "get", "churn#prod", "-o", "out.pkl")  # the tag keeps the run's objects
    assert (repo / "out.pkl").read_bytes() == b"model-bytes"


@pytest.mark.slow  # over 0.85 s: the README's selection stays under 90 s
def test_run_register_option(repo, runner):
    (repo / "train.py").write_text(textwrap.dedent("""
        import gitexp
        gitexp.log_metric("acc", 0.8)
        gitexp.log_text("trained", "model.pkl")
    """))
    proc = subprocess.run([sys.executable, "-m", "gitexp", "run", "--register", "churn", "--artifact", "model.pkl",
                           "--", sys.executable, "train.py"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "registered churn v0.0.1" in proc.stderr
    assert git(repo, "cat-file", "-t", "churn@v0.0.1").strip() == "tag"
    proc = subprocess.run([sys.executable, "-m", "gitexp", "run", "--artifact", "x", "--", "true"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--artifact needs --register" in proc.stderr


# -- concurrency -----------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, gitexp
    from gitexp.services.session import open_session
    from gitexp.services.registry.writes import assign
    stage, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        with open_session(".") as s:
            assign(s, "churn", "v0.0.1", stage, force=True)
""")


def test_concurrent_writers_get_distinct_counters(repo, runner):
    make_run("r1")
    ok(runner, "models", "register", "churn", "r1")
    (repo / "writer.py").write_text(WRITER)
    procs = [subprocess.Popen([sys.executable, "writer.py", stage, "6"], cwd=repo, stderr=subprocess.PIPE)
             for stage in ("dev", "staging", "prod")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    counted = [tn.parse(t) for t in tags(repo) if "#" in t]
    numbers = sorted(t.number for t in counted)
    assert numbers == list(range(1, 19)), numbers  # each of the 18 landed once, distinct counters
    assert {t.stage for t in counted} == {"dev", "staging", "prod"}
    git(repo, "fsck", "--strict", "--no-progress")


def test_create_if_absent_never_overwrites(repo):
    from gitexp.services.session import open_session
    from gitexp.store.tags import create_tag

    head = git(repo, "rev-parse", "HEAD").strip()
    with open_session(repo) as s:
        assert create_tag(s.db, "x@v1.0.0", head, "one") is not None
        before = git(repo, "rev-parse", "x@v1.0.0").strip()
        assert create_tag(s.db, "x@v1.0.0", head, "two") is None
    assert git(repo, "rev-parse", "x@v1.0.0").strip() == before


@pytest.mark.parametrize("packed", [False, True])
def test_a_write_reads_only_its_models_tags(repo, runner, monkeypatch, packed):
    """`models assign` never lists every tag: it reads the model's tags (once, plus the look
    after creating its tag), never the unrelated ones nor the other models'."""
    import gitexp.store.tags as st

    make_run("r1")
    ok(runner, "models", "register", "team/churn", "r1")
    ok(runner, "models", "assign", "team/churn", "v0.0.1", "--stage", "qa/eu")  # a stage with '/'
    ok(runner, "models", "register", "team/churn-2", "r1")  # a model whose name extends the first
    ok(runner, "models", "register", "team", "r1")
    head = git(repo, "rev-parse", "HEAD").strip()
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, check=True, text=True,
                   input="".join(f"create refs/tags/rel-{i} {head}\n" for i in range(50)))
    if packed:
        git(repo, "pack-refs", "--all")
    read: list[str] = []
    real = st._read_loose_refs

    def counting(dirpath, lead, files, hex_length):
        found = real(dirpath, lead, files, hex_length)
        read.extend(found)
        return found

    def listing_all(*_a, **_k):
        raise AssertionError("every tag was listed")

    with monkeypatch.context() as mp:
        mp.setattr(st, "_read_loose_refs", counting)
        mp.setattr(st, "tag_names", listing_all)
        mp.setattr(st.TagCache, "tags", listing_all)
        out = ok(runner, "models", "assign", "team/churn", "v0.0.1", "--stage", "prod")
    assert "team/churn#prod#2" in out.stderr
    ours = {"team/churn@v0.0.1", "team/churn#qa/eu#1"}
    if packed:  # the model's tags come from packed-refs; only the new one is loose
        assert read == ["team/churn#prod#2"]
    else:  # once to read the model, once to look for a rival after creating the tag
        assert sorted(read) == sorted([*ours, *ours, "team/churn#prod#2"])
    data = {m["name"]: m for m in json.loads(ok(runner, "models", "ls", "--json").stdout)}
    assert data["team/churn"]["stages"] == {"qa/eu": "v0.0.1", "prod": "v0.0.1"}
    assert set(data) == {"team/churn", "team/churn-2", "team"}
