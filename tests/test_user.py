"""The `user` recorded in run.yaml: the order of sources that docs/storage-format.md states."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

import gitexp
from gitexp.names import current_user
from tests.helpers import record

SOURCES = ["GITEXP_USER", "LOGNAME", "USER", "LNAME", "USERNAME"]


@pytest.fixture
def no_user_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in SOURCES:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_each_source_wins_over_the_ones_after_it(no_user_env: pytest.MonkeyPatch) -> None:
    for var in reversed(SOURCES):  # add sources from the last to the first: each new one wins
        no_user_env.setenv(var, f"from-{var.lower()}")
        assert current_user() == f"from-{var.lower()}", var


def test_empty_variables_are_skipped(no_user_env: pytest.MonkeyPatch) -> None:
    no_user_env.setenv("GITEXP_USER", "")
    no_user_env.setenv("LOGNAME", "")
    no_user_env.setenv("USER", "ann")
    assert current_user() == "ann"


def test_password_database_then_unknown(no_user_env: pytest.MonkeyPatch) -> None:
    no_user_env.setattr(pwd, "getpwuid", lambda uid: ("pw-ann",))  # getpass reads field 0
    assert current_user() == "pw-ann"

    def no_entry(uid: int) -> None:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    no_user_env.setattr(pwd, "getpwuid", no_entry)
    assert current_user() == "unknown"


def test_run_yaml_records_logname_before_user(repo: Path, no_user_env: pytest.MonkeyPatch) -> None:
    no_user_env.setenv("USER", "from-user")
    no_user_env.setenv("LOGNAME", "from-logname")
    with gitexp.start_run(run_name="who") as run:
        pass
    assert record(repo, run.ref)["user"] == "from-logname"
    assert gitexp.get_run("who").info.user == "from-logname"

    no_user_env.setenv("GITEXP_USER", "ci-bot")
    with gitexp.start_run(run_name="bot") as run:
        pass
    assert record(repo, run.ref)["user"] == "ci-bot"
