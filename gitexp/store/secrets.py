"""File names that look like credentials: never snapshotted, and flagged before a push."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

SECRET_PATTERNS = (".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                   ".netrc", "_netrc", "*credentials*.json", "*.p12", "*.pfx", ".git-credentials", ".pgpass")


def secret_pattern(path: str, extra: Iterable[str] = ()) -> str | None:
    """The pattern `path`'s file name matches, or None (patterns with a `/` match the whole path)."""
    name = path.rsplit("/", 1)[-1]
    for pattern in (*SECRET_PATTERNS, *extra):
        target = path if "/" in pattern else name
        if fnmatch.fnmatchcase(target, pattern) or fnmatch.fnmatchcase(target.lower(), pattern):
            return pattern
    return None
