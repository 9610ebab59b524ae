"""Opt-in plain-git interop (`gitexp remote setup`) and remote artifact stores (`gitexp store set`).

`remote setup` adds to `.git/config`, for remote NAME:

    remote.NAME.fetch = +refs/gitexp/runs/*:refs/gitexp/remotes/NAME/runs/*
    remote.NAME.fetch = +refs/gitexp/experiments/*:refs/gitexp/remotes/NAME/experiments/*
    remote.NAME.push  = HEAD
    remote.NAME.push  = refs/gitexp/runs/*:refs/gitexp/runs/*
    remote.NAME.push  = refs/gitexp/experiments/*:refs/gitexp/experiments/*

The fetch lines fill the remote-tracking namespace only (the `+` is safe there:
it is a copy of the remote); local run refs and experiment records are
integrated by gitexp on its next command. The push lines have no `+`, so a diverged run is rejected, not
clobbered; `HEAD` keeps a bare `git push` pushing the current branch (once any
push line exists, git pushes only those). `--undo` removes exactly these lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitexp.errors import ConfigError, GitexpError
from gitexp.services.session import Session
from gitexp.settings import SETTINGS_FILE
from gitexp.store import yamlio
from gitexp.store.remotestore import open_store
from gitexp.store.transport import find_remote, git_config


@dataclass
class ConfigChange:
    key: str
    value: str
    changed: bool  # False when it was already there (setup) or absent (undo)


def setup_lines(name: str) -> list[tuple[str, str]]:
    return [
        (f"remote.{name}.fetch", f"+refs/gitexp/runs/*:refs/gitexp/remotes/{name}/runs/*"),
        (f"remote.{name}.fetch", f"+refs/gitexp/experiments/*:refs/gitexp/remotes/{name}/experiments/*"),
        (f"remote.{name}.push", "HEAD"),
        (f"remote.{name}.push", "refs/gitexp/runs/*:refs/gitexp/runs/*"),
        (f"remote.{name}.push", "refs/gitexp/experiments/*:refs/gitexp/experiments/*"),
    ]


def remote_setup(s: Session, name: str, undo: bool = False) -> list[ConfigChange]:
    """Add (or with `undo` remove) the lines above; idempotent both ways."""
    find_remote(s.db, name)
    changes = []
    for key, value in setup_lines(name):
        present = value in _values(s, key)
        if undo and present:
            _git_config(s, "--unset", "--fixed-value", key, value)
        elif not undo and not present:
            if key.endswith(".push") and value == "HEAD" and _values(s, key):
                changes.append(ConfigChange(key, value, False))  # the user already chose push lines
                continue
            _git_config(s, "--add", key, value)
        changes.append(ConfigChange(key, value, present == undo))
    return changes


def _values(s: Session, key: str) -> list[str]:
    proc = git_config(s.db, "--get-all", key)
    return proc.stdout.splitlines() if proc.returncode == 0 else []


def _git_config(s: Session, *args: str) -> None:
    proc = git_config(s.db, *args)
    if proc.returncode != 0:
        raise ConfigError(f"git config {' '.join(args)} failed: {proc.stderr.strip()}")


def set_store(s: Session, remote: str, location: str) -> str:
    """Record `location` as `remote`'s artifact store in the tracked `.gitexp.yaml`."""
    if s.db.root is None:
        raise GitexpError("a bare repository has no .gitexp.yaml to set a store in")
    open_store(location, s.db.root)  # refuses an fsspec URL without fsspec installed
    path = s.db.root / SETTINGS_FILE
    text = path.read_text() if path.exists() else ""
    raw = (yamlio.load(text, SETTINGS_FILE) if text.strip() else None) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{SETTINGS_FILE} must be a mapping", hint=f"fix {path}")
    stores = dict(raw.get("remote_stores") or {})
    stores[remote] = location
    new_text, _ = yamlio.roundtrip_set(text, {"remote_stores": stores})
    path.write_text(new_text)
    s.__dict__.pop("settings", None)
    return str(path)
