"""The stress suite: `python -m pytest -q -m stress` (short form, run by .ci/run);
`GITEXP_STRESS=long python -m pytest -q -m stress` by hand (the long form; counts in the summary).

Without `-m stress` these tests are skipped, so the README's test command stays fast.
"""

from __future__ import annotations

import os

import pytest

LONG = os.environ.get("GITEXP_STRESS", "short").lower() == "long"


def scale(short: int, long: int) -> int:
    """A size for the short form (CI) or the long form (GITEXP_STRESS=long)."""
    return long if LONG else short


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stress" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="stress suite: run with -m stress (GITEXP_STRESS=long for the long form)")
    for item in items:
        if item.get_closest_marker("stress") is not None:
            item.add_marker(skip)


_PENDING: list[str] = []


def report(title: str, counts: dict) -> None:
    """Record one line of counts; the terminal summary prints them (also under xdist, where a
    worker's stdout is not shown). The long form's numbers go into the release note."""
    line = f"STRESS {title} [{'long' if LONG else 'short'}]: " + ", ".join(f"{k}={v}" for k, v in counts.items())
    _PENDING.append(line)
    print("\n" + line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if call.when == "call" and _PENDING:
        outcome.get_result().user_properties.extend(("stress", line) for line in _PENDING)
        _PENDING.clear()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = [value for reports in terminalreporter.stats.values() for r in reports
             for key, value in getattr(r, "user_properties", ()) if key == "stress"]
    if lines:
        terminalreporter.section("stress counts")
        for line in sorted(lines):
            terminalreporter.write_line(line)
