"""The registry's tag grammar (GTO 1.10's names), built and parsed in this one module.

- `<model>@v<semver>` registers a version; `<model>@v<semver>!` deregisters it;
- `<model>#<stage>#<n>` assigns a stage; `<model>#<stage>!#<n>` unassigns it;
- `<model>@deprecated#<n>` deprecates the model.
`<n>` is one counter per model, shared by stage and deprecation tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitexp.errors import GitexpError
from gitexp.store.repo import GitDB

TAGS_PREFIX = "refs/tags/"
_NAME = r"(?P<model>[a-z0-9](?:[a-z0-9._/:-]*[a-z0-9])?)"
_SEMVER = (r"(?P<version>v(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
           r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)")
_TAG = re.compile(
    rf"{_NAME}(?:@{_SEMVER}(?P<deregister>!)?"
    rf"|#(?P<stage>[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)(?P<unassign>!)?#(?P<n>[1-9]\d*)"
    rf"|@deprecated#(?P<dn>[1-9]\d*))\Z"
)


@dataclass(frozen=True)
class TagName:
    """A parsed registry tag name: what it does (`action`) to which model."""

    model: str
    action: str  # register, deregister, assign, unassign, deprecate
    version: str | None = None
    stage: str | None = None
    number: int | None = None


def parse(tag: str) -> TagName | None:
    """The registry meaning of a tag name, or None for any other tag."""
    m = _TAG.match(tag)
    if m is None:
        return None
    if m["version"]:
        return TagName(m["model"], "deregister" if m["deregister"] else "register", version=m["version"])
    if m["stage"]:
        return TagName(m["model"], "unassign" if m["unassign"] else "assign", stage=m["stage"], number=int(m["n"]))
    return TagName(m["model"], "deprecate", number=int(m["dn"]))


def registry_tags(db: GitDB, tip: str, baseline: str | None) -> list[str]:
    """Registry tags that point at a commit of this run (its ref's first-parent chain)."""
    candidates = [ref for ref in db.refs_under(TAGS_PREFIX) if parse(ref[len(TAGS_PREFIX):])]
    if not candidates:
        return []
    chain: set[str] = set()
    commit: str | None = tip
    while commit and commit != baseline and commit not in chain and len(chain) < 10_000:
        chain.add(commit)
        parents = db.commit_info(commit)[1]
        commit = parents[0] if parents else None
    hits = []
    for ref in sorted(candidates):
        try:
            if db.resolve(ref) in chain:
                hits.append(ref[len(TAGS_PREFIX):])
        except (KeyError, GitexpError):
            continue
    return hits
