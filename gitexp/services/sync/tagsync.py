"""Registry tags travelling with the runs (`refs/tags/<model>@v<semver>`, `<model>#<stage>#<n>`…).

- Push: a registry tag goes with its run. Its commit belongs to the run whose
  `run.yaml` it holds; the tags of every run the remote has or gets in this
  push are sent when the remote lacks them. Never forced: a tag the remote has
  with another value is reported, not overwritten (tags are create-only there).
- Fetch: every registry tag of the remote that is absent here is created
  (create-if-absent, after its objects arrived); a local tag of that name with
  another value is reported and kept.
Only annotated tags whose names parse as registry tags travel (`tagnames.parse`);
the registry ignores anything else anyway.
"""

from __future__ import annotations

import re

from gitexp.names import is_run_id
from gitexp.services.session import Session
from gitexp.slots import Slots
from gitexp.store.repo import GitDB
from gitexp.store.transport import TAGS, Remote, RefUpdate, fetch_objects

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:  # the registry's modules load only where there are tags to look at
    from gitexp.store.tags import TagInfo

_RUN_ID = re.compile(r"^id: ['\"]?([0-9a-z]+)['\"]?\s*$", re.M)


class TagPush(Slots):
    """Registry tags to send: updates (create-only), their (run id, commit), what the remote has."""

    __slots__ = ("send", "targets", "up_to_date", "conflicts")

    def __init__(self) -> None:
        self.send: list[RefUpdate] = []
        self.targets: list[tuple[str, str]] = []  # (run id, commit) of each tag sent
        self.up_to_date = 0
        self.conflicts: dict[str, str] = {}  # tag name → why


class TagFetch(Slots):
    """What bringing the remote's registry tags did."""

    __slots__ = ("created", "unchanged", "conflicts")

    def __init__(self) -> None:
        self.created: list[str] = []
        self.unchanged = 0
        self.conflicts: dict[str, str] = {}  # tag name → why


def registry_tags(db: GitDB) -> dict[str, TagInfo]:
    """{name: tag} of the annotated registry tags here that point at a commit."""
    from gitexp.services.registry.tagnames import parse
    from gitexp.store.tags import TagCache

    cache = TagCache(db)
    out = {}
    for name, sha in cache.tags().items():
        if parse(name) is None:
            continue
        info = cache.read(name, sha)
        if info.annotated and info.target:
            out[name] = info
    cache.save(prune=False)
    return out


def run_of_commit(db: GitDB, commit: str) -> str | None:
    """The id of the run whose record the commit holds, or None."""
    from gitexp.store.runcommit import RecordReader

    try:
        data = RecordReader(db, commit).read("run.yaml") or b""
    except Exception:  # no record, or not readable: the tag belongs to no run
        return None
    m = _RUN_ID.search(data[:64 * 1024].decode("utf-8", "replace"))
    return m.group(1) if m and is_run_id(m.group(1)) else None


def plan_tag_push(s: Session, remote: Remote, runs: set[str], theirs: dict[str, str]) -> TagPush:
    """The registry tags of `runs` (ids) that the remote lacks; `theirs`: {ref: sha} of the remote's tags."""
    plan = TagPush()
    if not runs or not s.db.refs_under(TAGS):
        return plan
    local = registry_tags(s.db)
    if not local:
        return plan
    owners: dict[str, str | None] = {}
    for name, info in sorted(local.items()):
        ref = TAGS + name
        remote_sha = theirs.get(ref)
        if remote_sha == info.sha:  # already there: whose run it is need not be read
            plan.up_to_date += 1
            continue
        if info.target not in owners:
            owners[info.target] = run_of_commit(s.db, info.target)
        run_id = owners[info.target]
        if run_id not in runs:
            continue
        if remote_sha is None:
            plan.send.append(RefUpdate(ref, info.sha, None))
            plan.targets.append((run_id, info.target))
        else:
            plan.conflicts[name] = (f"{remote.name} has this tag with another value ({remote_sha[:12]}, here "
                                    f"{info.sha[:12]}); not overwritten")
    return plan


def fetch_tags(s: Session, remote: Remote, theirs: dict[str, str]) -> TagFetch:
    """Create here every registry tag of the remote that is absent; report the ones that differ.

    `theirs`: {ref: sha} of the remote's tags, from the fetch's listing.
    """
    result = TagFetch()
    if not theirs:
        return result
    from gitexp.services.registry.tagnames import parse
    from gitexp.store.tags import TagCache, adopt_tag, read_tag

    db = s.db
    mine = TagCache(db).tags()
    wanted: dict[str, str] = {}
    for ref, sha in sorted(theirs.items()):
        name = ref[len(TAGS):]
        if parse(name) is None:
            continue
        local = mine.get(name)
        if local == sha:
            result.unchanged += 1
        elif local is not None:
            result.conflicts[name] = (f"differs here ({local[:12]}) and on {remote.name} ({sha[:12]}); "
                                      "kept the local one")
        else:
            wanted[ref] = sha
    if not wanted:
        return result
    fetch_objects(db, remote, wanted)
    for ref, sha in wanted.items():
        name = ref[len(TAGS):]
        if not db.has_object(sha):
            result.conflicts[name] = f"changed on {remote.name} while fetching; fetch again"
            continue
        if not read_tag(db, name, sha).annotated:
            continue  # a lightweight tag with a registry name: the registry ignores it, so does the fetch
        if adopt_tag(db, name, sha, f"fetch {remote.name}"):
            result.created.append(name)
        elif (db.read_ref(ref) or "") != sha:
            result.conflicts[name] = "a local tag took this name meanwhile; kept the local one"
    return result
