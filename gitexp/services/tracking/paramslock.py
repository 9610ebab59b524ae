"""The params-file lock: a run that rewrote `params.yaml` holds it for its whole life.

Parallel `gitexp run -p …` in one working tree would otherwise read each other's
overrides (a run records lr=0.11 but trains with 0.33) and restore each other's
versions. So a run with overrides holds an exclusive flock, and a run without
overrides (which reads the file as its params) a shared one, both until the run has
ended and the file is restored. A second run waits for it, or with `--no-wait`
refuses. The kernel drops a flock when its process dies, even on kill -9; the bytes
to restore are kept next to the lock, so the next run puts back a file that a killed
run left rewritten. (Truly parallel overridden trials, each in its own worktree, are
a later sweeps feature.)

The lock lives in `.git/gitexp/params/`, named after the file's path: linked
worktrees have their own params.yaml and do not wait for each other.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from gitexp.errors import ConcurrentUpdate
from gitexp.store.flock import sha1_hex

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no waiting, as no run is ever seen as alive
    fcntl = None  # type: ignore[assignment]

Notify = Callable[[str], None]


class ParamsBusy(ConcurrentUpdate):
    """Another run holds the params file and the caller asked not to wait."""


class ParamsLock:
    """The lock of one params file: `acquire` (waiting or not), `release`, leftovers of a killed run."""

    def __init__(self, local_dir: Path, params_path: Path, exclusive: bool) -> None:
        digest = sha1_hex(str(params_path.resolve()).encode())[:16]
        self.folder = local_dir / "params"
        self.params_path = params_path
        self.exclusive = exclusive
        self.lock_path = self.folder / f"{digest}.lock"
        self.holder_path = self.folder / f"{digest}.holder.json"
        self.backup_path = self.folder / f"{digest}.orig"
        self.written_path = self.folder / f"{digest}.written"
        self._fd: int | None = None

    def acquire(self, wait: bool = True, notify: Notify | None = None, describe: str = "") -> None:
        """Take the lock; if a run holds it, wait (saying so once through `notify`) or raise ParamsBusy."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH if fcntl else 0
        try:
            if fcntl is not None and not _try(fd, mode):
                holder = self.holder()
                name = self.params_path.name
                if not wait:
                    raise ParamsBusy(f"{holder} holds {name} until it ends",
                                     hint="wait for it (leave out --no-wait), or run in another worktree "
                                          "(git worktree add)")
                if notify:
                    notify(f"waiting for {holder} to end: it holds {name} (runs with -p overrides take turns)")
                fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if self.exclusive:
            self._write_holder(describe)

    def holder(self) -> str:
        """Who holds the lock, as 'run brisk-otter (pid 123)', from what the holder wrote."""
        try:
            info = json.loads(self.holder_path.read_text())
        except (OSError, ValueError):
            return "another run"
        what = f"run {info['run']}" if info.get("run") else "another gitexp run"
        return f"{what} (pid {info.get('pid', '?')}{', ' + info['overrides'] if info.get('overrides') else ''})"

    def _write_holder(self, overrides: str, run: str | None = None) -> None:
        tmp = self.holder_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "run": run, "overrides": overrides, "since": time.time()}))
        os.replace(tmp, self.holder_path)

    def name_run(self, run: str, overrides: str) -> None:
        """Record the run's name once it exists, for the message of whoever waits."""
        if self._fd is not None and self.exclusive:
            self._write_holder(overrides, run)

    def keep_backup(self, original: bytes, written: bytes) -> None:
        """Keep the bytes to restore, in case this process is killed before it restores them."""
        for path, data in ((self.backup_path, original), (self.written_path, written)):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)

    def drop_backup(self) -> None:
        for path in (self.written_path, self.backup_path):
            path.unlink(missing_ok=True)

    def restore_leftover(self) -> bool:
        """Put back a file that a killed run left rewritten (only if it still holds that run's bytes)."""
        try:
            original, written = self.backup_path.read_bytes(), self.written_path.read_bytes()
        except OSError:
            return False
        restored = False
        try:
            if self.params_path.read_bytes() == written:
                from gitexp.services.tracking.paramsfile import write_atomic

                write_atomic(self.params_path, original)
                restored = True
        except OSError:
            pass
        if self.exclusive:
            self.drop_backup()
        return restored

    def release(self) -> None:
        if self._fd is None:
            return
        if self.exclusive:
            self.holder_path.unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
