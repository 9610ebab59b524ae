"""A session: one command's (or one request's) view of a repository, opened once.

It holds the repository, its settings and the cache index, each made on first
use, and finalises dead local runs once (as KILLED) before the first read, so
no read path has to remember to. Services take a Session; the CLI, the Python
API and the web UI open one per command, call or request.
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from collections.abc import Callable

from gitexp.store.repo import REMOTES_PREFIX, GitDB, open_repo

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    import sqlite3
    from types import ModuleType

    from gitexp.services.catalog.cache import RunIndex
    from gitexp.settings import Settings

INDEX_FILE = "index.sqlite"  # the cache index, under .git/gitexp/


class Session:
    """The repository, settings and cache that services share during one command."""

    def __init__(self, db: GitDB) -> None:
        self.db = db
        self._recovered: list[str] | None = None
        self._integrated = False
        # Problems worth a line on stderr that do not stop the command (a stale ref lock);
        # the CLI sets `on_warning`, else they become Python warnings.
        self.on_warning: Callable[[str], None] | None = None
        self._reader: sqlite3.Connection | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Session:
        """Open the repository containing `path`, or git's (GIT_DIR, the current folder) (NotARepository if none)."""
        return cls(open_repo(path))

    @cached_property
    def settings(self) -> Settings:
        from gitexp.settings import load_settings

        return load_settings(self.db)

    @cached_property
    def cache(self) -> RunIndex:
        from gitexp.services.catalog.cache import RunIndex

        return RunIndex(self.db)

    def has_cache_file(self) -> bool:
        """Whether the cache index exists, asked without loading the cache module (a run start)."""
        return "cache" in self.__dict__ or os.path.exists(self._index_path)

    def cache_rows(self, query: str, args: tuple = ()) -> list[tuple]:
        """The rows of a read-only `query` on the cache index; [] when there is none or it cannot answer.

        Never creates, checks or rebuilds the index, and loads neither the cache module nor the
        run model unless this command has opened the cache already: a run start asks the index
        for run names, and its cost must stay small and flat.
        """
        conn = self._index_connection()
        if conn is None:
            return []
        try:
            return conn.execute(query, args).fetchall()
        except sqlite_driver().Error:
            return []

    @property
    def _index_path(self) -> str:
        return os.path.join(self.db.local_path, INDEX_FILE)

    def _index_connection(self) -> sqlite3.Connection | None:
        """The cache's own connection when this command has opened the cache; else this session's
        read-only one, opened once if the index file exists (later queries look at no file)."""
        if "cache" in self.__dict__:
            return self.cache.connection()
        if self._reader is None and os.path.exists(self._index_path):
            driver = sqlite_driver()
            try:
                uri = file_uri(self._index_path) + "?mode=ro"
                self._reader = driver.connect(uri, uri=True, check_same_thread=False)
            except driver.Error:
                return None
        return self._reader

    @property
    def default_experiment(self) -> str:
        return self.settings.default_experiment

    def recover(self) -> list[str]:
        """Finalise local runs whose process died, once per session; their ids."""
        if self._recovered is None:
            from gitexp.services.tracking.localstate import active_dirs

            self._recovered = []
            if active_dirs(self.db.local_path):  # runs were started here: load finalising only then
                from gitexp.services.tracking.finalize import recover_dead_runs

                self._recovered = recover_dead_runs(self.db, int(time.time() * 1000), self.warn)
        return self._recovered

    def integrate_fetched(self) -> None:
        """Once per session, before runs are listed: integrate what a plain `git fetch` brought
        (after `gitexp remote setup`). Not on the run-start path, whose cost must stay flat."""
        if not self._integrated:
            self._integrated = True
            if self.db.refs_under(REMOTES_PREFIX):  # nothing fetched (most clones): sync is not even loaded
                from gitexp.services.sync.integrate import auto_integrate

                auto_integrate(self)

    def warn(self, message: str) -> None:
        if self.on_warning is not None:
            self.on_warning(message)
        else:
            import warnings

            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if "cache" in self.__dict__:
            self.cache.close()
        self.db.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(path: str | os.PathLike[str] | None = None) -> Session:
    """Open a session on the repository containing `path`; use it as a context manager."""
    return Session.open(path)


def sqlite_driver() -> ModuleType:
    """sqlite3's C module, which the cache index is read and written through: `import sqlite3`
    adds only its adapters (never used: the index holds no dates) and their `datetime` import,
    4% of a run start."""
    try:
        import _sqlite3

        return _sqlite3
    except ImportError:  # a Python whose sqlite3 is built otherwise
        import sqlite3

        return sqlite3


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def file_uri(path: str) -> str:
    """`Path(path).as_uri()` for an absolute path, without importing pathlib (and urllib) on POSIX."""
    if os.name != "posix":  # pragma: no cover - Windows: drive letters
        from pathlib import Path

        return Path(path).as_uri()
    return "file://" + "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in os.fsencode(path))
