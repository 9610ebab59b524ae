"""Experiment records: refs/gitexp/experiments/<slug> holding experiment.yaml (store and service)."""

from __future__ import annotations

from pathlib import Path

import pytest

import gitexp
from gitexp.errors import CorruptRecord, NewerFormat
from gitexp.names import experiment_id
from gitexp.services import experiments as svc
from gitexp.services.session import open_session
from gitexp.store.experiments import (
    EXPERIMENTS_PREFIX, ExperimentRecord, experiment_refs, read_experiment, write_experiment,
)
from tests.helpers import git


def test_ids_are_stable_digits_and_zero_is_default() -> None:
    assert experiment_id("default") == "0"
    ident = experiment_id("wine-quality")
    assert ident == experiment_id("wine-quality") and ident.isdigit() and len(ident) == 18
    assert len({experiment_id(f"e{i}") for i in range(2000)}) == 2000


def test_record_is_plain_git_and_listed_for_sync(repo: Path) -> None:
    exp = gitexp.set_experiment("Wine Quality")
    gitexp.set_experiment_tag("team", "vision")
    with open_session(repo) as s:
        assert list(experiment_refs(s.db)) == [f"{EXPERIMENTS_PREFIX}wine-quality"]
        rec, tip = read_experiment(s.db, "wine-quality")
    assert (rec.name, rec.id, rec.tags) == ("Wine Quality", exp.experiment_id, {"team": "vision"})
    text = git(repo, "show", "refs/gitexp/experiments/wine-quality:experiment.yaml")
    assert text.startswith("format: 1\n") and "slug: wine-quality" in text
    git(repo, "gc", "-q", "--prune=now")
    git(repo, "fsck", "--strict")
    assert gitexp.get_experiment_by_name("Wine Quality").tags == {"team": "vision"}


def _write_raw(repo: Path, slug: str, yaml_text: str) -> None:
    path = repo.parent / f"{slug}.yaml"
    path.write_text(yaml_text)
    blob = git(repo, "hash-object", "-w", str(path)).strip()
    tree_in = repo.parent / f"{slug}.tree"
    tree_in.write_text(f"100644 blob {blob}\texperiment.yaml\n")
    import subprocess

    tree = subprocess.run(["git", "mktree"], cwd=repo, stdin=tree_in.open(), capture_output=True,
                          text=True, check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-m", "hand-made").strip()
    git(repo, "update-ref", f"refs/gitexp/experiments/{slug}", commit)


def test_bad_records_are_refused_and_hide_nothing(repo: Path) -> None:
    gitexp.set_experiment("Good One")
    _write_raw(repo, "forged", "format: 1\nid: '0'\nslug: forged\nname: Forged\n")
    _write_raw(repo, "future", "format: 9\nslug: future\nname: Future\n")
    _write_raw(repo, "weird", "- a list\n")
    with open_session(repo) as s:
        with pytest.raises(CorruptRecord, match="another slug or id"):
            read_experiment(s.db, "forged")
        with pytest.raises(NewerFormat):
            read_experiment(s.db, "future")
        with pytest.raises(CorruptRecord):
            read_experiment(s.db, "weird")
        names = {e.name for e in svc.list_experiments(s)}
    assert names == {"Good One", "Default"}


def test_compare_and_swap_refuses_a_stale_write(repo: Path) -> None:
    from gitexp.errors import ConcurrentUpdate

    with open_session(repo) as s:
        tip = write_experiment(s.db, ExperimentRecord("cas", "CAS"), None, "gitexp: create experiment CAS", 1000)
        with pytest.raises(ConcurrentUpdate):
            write_experiment(s.db, ExperimentRecord("cas", "CAS again"), None, "gitexp: create", 2000)
        write_experiment(s.db, ExperimentRecord("cas", "CAS", tags={"a": "1"}), tip, "gitexp: tag", 3000)
        with pytest.raises(ConcurrentUpdate):
            write_experiment(s.db, ExperimentRecord("cas", "CAS", tags={"b": "2"}), tip, "gitexp: tag", 4000)
        rec, _ = read_experiment(s.db, "cas")
    assert rec.tags == {"a": "1"}


def test_runs_without_a_record_form_an_experiment(repo: Path) -> None:
    with gitexp.start_run(experiment="plain-slug"):
        pass
    [exp] = [e for e in gitexp.search_experiments() if e.slug == "plain-slug"]
    assert exp.name == "plain-slug" and not exp.has_record and exp.creation_time
    assert exp.experiment_id == experiment_id("plain-slug")
    assert gitexp.get_experiment(exp.experiment_id).slug == "plain-slug"
    # a free-text name whose slug only has runs adopts them
    assert gitexp.set_experiment("Plain Slug").slug == "plain-slug"
    assert len(gitexp.search_runs(experiment_names=["Plain Slug"])) == 1
