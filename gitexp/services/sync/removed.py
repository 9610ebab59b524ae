"""Runs removed here with `rm`: remembered so that a pull does not bring them back.

One file per run under `.git/gitexp/removed/<run-id>` holding the ref and the tip
that was removed. Local state: never pushed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from gitexp.names import is_run_id
from gitexp.store.repo import GitDB


def _folder(db: GitDB) -> Path:
    return db.local_dir / "removed"


def remember_removed(db: GitDB, run_id: str, ref: str, sha: str) -> None:
    folder = _folder(db)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{run_id}.{os.getpid()}"
    tmp.write_text(f"{ref} {sha}\n")
    os.replace(tmp, folder / run_id)


def forget_removed(db: GitDB, run_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (_folder(db) / run_id).unlink()


def removed_runs(db: GitDB) -> dict[str, tuple[str, str]]:
    """{run id: (ref, removed tip)} of every run removed here."""
    out: dict[str, tuple[str, str]] = {}
    folder = _folder(db)
    if not folder.is_dir():
        return out
    for path in folder.iterdir():
        if path.name.startswith(".") or not is_run_id(path.name):
            continue
        with contextlib.suppress(OSError, ValueError):
            ref, sha = path.read_text().split()
            out[path.name] = (ref, sha)
    return out
