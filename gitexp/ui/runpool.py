"""A server's runs, decoded once, and its last few searches.

The CLI lists runs once per command; a server answers the same table many
times. The pool keeps every run (params, tags and summary decoded on first use,
then kept), keyed by (ref, commit): commits are immutable, so a run is read
again only when its ref moves, and only the runs whose refs moved are read
(from the cache index).
A search then filters these runs in memory with the same filter language
(`search(..., runs=...)`); its result is kept until a run ref moves.

A RUNNING run's journals change without its ref moving: the pool shows their
latest values on every request, as listing does; a search's cached result is
kept until some ref moves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from gitexp.model import LAZY_FIELDS, Run
from gitexp.services.catalog.listing import _overlay_live, run_refs
from gitexp.services.session import Session

T = TypeVar("T")


class RunPool:
    """Every run of a repository, newest first, fields decoded; searches memoised per version."""

    def __init__(self, results: int = 16) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, str] | None = None
        self._runs: list[Run] = []
        self.version = 0
        self._results: OrderedDict[tuple, Any] = OrderedDict()
        self._size = results

    def runs(self, s: Session) -> tuple[int, list[Run]]:
        """(version, runs): the version changes whenever a run ref moved since the last call."""
        s.recover()
        refs = run_refs(s)
        with self._lock:
            if refs != self._refs:
                self._runs = _refreshed(s, refs, {(r.ref, r.commit): r for r in self._runs})
                self._refs, self.version = refs, self.version + 1
                self._results.clear()
            version, runs = self.version, self._runs
        for run in runs:
            if run.status == "RUNNING":
                _overlay_live(s, run)
        return version, runs

    def decode(self) -> None:
        """Decode every run's params, tags and metrics now (the warm-up, after the first page),
        so the first filter does not pay for it."""
        with self._lock:
            runs = self._runs
        for run in runs:
            if run.error is None:
                _ = run.params, run.tags, run.metrics

    def memo(self, version: int, key: tuple, make: Callable[[], T]) -> T:
        """`make()`, remembered under `key` while the pool stays at `version`."""
        full = (version, *key)
        with self._lock:
            if full in self._results:
                self._results.move_to_end(full)
                return self._results[full]
        value = make()
        with self._lock:
            if version == self.version:
                self._results[full] = value
                while len(self._results) > self._size:
                    self._results.popitem(last=False)
        return value


def _refreshed(s: Session, refs: dict[str, str], known: dict[tuple[str | None, str], Run]) -> list[Run]:
    """The runs of `refs`: known ones reused, the others read from the cache index.

    Their fields stay JSON text until first used (a search decodes only the fields it
    reads, the column chooser only its sample's); a damaged cache row is then read
    again from git in a session of its own, as this one will be closed.
    """
    missing = {ref: sha for ref, sha in refs.items() if (ref, sha) not in known}
    fresh = s.cache.summaries(missing, fields=LAZY_FIELDS) if missing else []
    loader = _own_session_loader(s.db.repo.path)
    for run in fresh:
        if run.error is None:
            run.loader = loader
    runs = [known[(ref, sha)] for ref, sha in refs.items() if (ref, sha) in known] + fresh
    return sorted(runs, key=lambda r: (r.start_ms or 0, r.ref or ""), reverse=True)


def _own_session_loader(repo: str) -> Callable[[Run, str, bool], Any]:
    def load(run: Run, field: str, from_git: bool) -> Any:
        from gitexp.services.session import open_session

        with open_session(repo) as s:
            return s.cache.load_field(run, field, from_git)
    return load
