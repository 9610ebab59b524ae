"""The stress suite: `python -m pytest -q -m stress` (short form, run by .ci/run);
`GITEXP_STRESS=long python -m pytest -q -m stress -s` by hand (the long form, with counts printed).

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


def report(title: str, counts: dict) -> None:
    """Print one line of counts (shown with -s; the long form's numbers go into the release note)."""
    print(f"\nSTRESS {title} [{'long' if LONG else 'short'}]: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
