"""Which tracking refs gitexp has handled, so that only what a plain `git fetch` brought is integrated
on the next command (`integrate.auto_integrate`). One small JSON file under `.git/gitexp/`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitexp.store.repo import REMOTES_PREFIX, GitDB


def _seen_path(db: GitDB) -> Path:
    return db.local_dir / "sync-seen.json"


def read_seen(db: GitDB) -> dict[str, str]:
    try:
        value = json.loads(_seen_path(db).read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def mark_seen(db: GitDB, changes: dict[str, str | None] | None = None) -> None:
    """Remember tracking refs as handled, so they are not integrated behind the user's back.

    `changes`: what gitexp itself just moved ({ref: sha, or None when it is gone}), on
    top of what was remembered; None: every tracking ref as it is now.
    """
    if changes is None:
        seen = db.refs_under(REMOTES_PREFIX)
    else:
        seen = read_seen(db)
        for ref, sha in changes.items():
            if sha is None:
                seen.pop(ref, None)
            else:
                seen[ref] = sha
    path = _seen_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(seen, sort_keys=True))
    os.replace(tmp, path)


def changes_between(before: dict[str, str], after: dict[str, str]) -> dict[str, str | None]:
    """{ref: new sha, or None when gone} of the refs that differ from `before` to `after`."""
    gone: dict[str, str | None] = {r: None for r in before if r not in after}
    return {**gone, **{r: sha for r, sha in after.items() if before.get(r) != sha}}
