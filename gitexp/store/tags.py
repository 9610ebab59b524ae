"""Annotated tags: create-if-absent writes, compare-and-delete, and fast reads.

Only annotated tags are written (a Tag object, then `refs/tags/<name>` created
with `add_if_new`): never `porcelain.tag_create`, which overwrites an existing
tag. Reading a tag returns its target, tagger and message; a lightweight tag
(the ref names a commit) is reported as such, so callers can ignore it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dulwich.file import FileLocked
from dulwich.objects import Commit, Tag, ZERO_SHA
from dulwich.refs import check_ref_format

from gitexp.errors import ConcurrentUpdate, GitexpError, InvalidName
from gitexp.store.repo import GitDB

TAGS = "refs/tags/"
MAX_MESSAGE = 64 * 1024  # a tag message beyond this is not parsed (untrusted input)


@dataclass(frozen=True)
class TagInfo:
    """One tag as read from git: `annotated` is False for a lightweight tag."""

    name: str
    sha: str  # what the ref holds: the tag object, or the commit of a lightweight tag
    target: str  # the commit it finally points at ("" when it points at no commit)
    annotated: bool
    tagger: str = ""
    time: int = 0  # shown to people; never used to order events
    message: str = ""


def check_tag_name(name: str) -> str:
    if not name or not check_ref_format((TAGS + name).encode()[5:]):
        raise InvalidName(f"{name!r} is not a valid git tag name")
    return name


def create_tag(db: GitDB, name: str, commit: str, message: str, when: float | None = None) -> str | None:
    """Create the annotated tag `name` on `commit` unless a tag of that name exists.

    Returns the new tag object's id, or None when the name is taken (create-if-absent:
    the caller retries with another name, it never overwrites).
    """
    check_tag_name(name)
    tag = Tag()
    tag.tagger = db.identity()
    tag.name = name.encode()
    tag.message = (message if message.endswith("\n") else message + "\n").encode()
    tag.object = (Commit, commit.encode())
    tag.tag_time = int(time.time() if when is None else when)
    tag.tag_timezone = 0
    db.add_objects([tag])
    ref = TAGS + name
    db._reflog_folder(ref)
    try:
        ok = db.repo.refs.add_if_new(ref.encode(), tag.id, message=b"gitexp: registry " + name.encode())
    except FileLocked:
        return None  # another writer is creating this very name right now: it is taken
    except (OSError, ValueError) as exc:  # a ref that is a prefix of this name (a/b vs a)
        raise GitexpError(f"cannot create tag {name!r}: {exc}",
                          hint="a tag with a conflicting name exists; see: git tag -l") from None
    return tag.id.decode() if ok else None


def delete_tag(db: GitDB, name: str, sha: str) -> bool:
    """Compare-and-delete `refs/tags/<name>` (only if it still holds `sha`)."""
    ref = TAGS + name
    db._reflog_folder(ref)
    try:
        return bool(db.repo.refs.remove_if_equals(ref.encode(), sha.encode(), message=b"gitexp: registry back-off"))
    except FileLocked:
        raise ConcurrentUpdate(f"tag {name} is locked by another writer", hint="retry the command") from None


def tag_names(db: GitDB) -> dict[str, str]:
    """{tag name: sha the ref holds} for every tag (loose and packed), without reading objects."""
    return {ref[len(TAGS):]: sha for ref, sha in db.refs_under(TAGS).items()}


def peeled_targets(db: GitDB) -> dict[str, str]:
    """{tag name: peeled commit} from packed-refs' `^` lines: targets known without reading objects."""
    out: dict[str, str] = {}
    try:
        with open(db.common_dir / "packed-refs", "rb") as f:
            last = None
            for line in f:
                if line[:1] == b"^" and last is not None:
                    out[last] = line[1:41].decode()
                elif line[:1] != b"#":
                    name = line.rstrip(b"\n").partition(b" ")[2].decode("utf-8", "replace")
                    last = name[len(TAGS):] if name.startswith(TAGS) else None
    except FileNotFoundError:
        pass
    return out


def read_tag(db: GitDB, name: str, sha: str) -> TagInfo:
    """The tag `name` whose ref holds `sha`: annotated (a Tag object) or lightweight."""
    try:
        obj = db.repo.object_store[sha.encode()]
    except KeyError:
        return TagInfo(name, sha, "", False)
    if not isinstance(obj, Tag):
        return TagInfo(name, sha, sha if isinstance(obj, Commit) else "", False)
    target = obj.object[1].decode()
    kind = obj.object[0]
    depth = 0
    while kind is not Commit and depth < 5:  # a tag of a tag: peel
        try:
            inner = db.repo.object_store[target.encode()]
        except KeyError:
            target = ""
            break
        if not isinstance(inner, Tag):
            target = target if isinstance(inner, Commit) else ""
            break
        kind, target = inner.object[0], inner.object[1].decode()
        depth += 1
    raw = obj.message or b""
    message = raw[:MAX_MESSAGE].decode("utf-8", "replace")
    tagger = (obj.tagger or b"").decode("utf-8", "replace")
    return TagInfo(name, sha, target, True, tagger, int(obj.tag_time or 0), message)


def is_zero(sha: str) -> bool:
    return sha.encode() == ZERO_SHA
