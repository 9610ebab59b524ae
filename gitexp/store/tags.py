"""Annotated tags: create-if-absent writes, compare-and-delete, and fast reads.

Only annotated tags are written (a Tag object, then `refs/tags/<name>` created
with `add_if_new`): never `porcelain.tag_create`, which overwrites an existing
tag. Reading a tag returns its target, tagger and message; a lightweight tag
(the ref names a commit) is reported as such, so callers can ignore it.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass

from dulwich.file import FileLocked
from dulwich.objects import Commit, Tag
from dulwich.refs import check_ref_format

from gitexp.errors import ConcurrentUpdate, GitexpError, InvalidName
from gitexp.store.atomic import write_atomic
from gitexp.store.ids import to_oid, to_ref
from gitexp.store.refs import read_loose_refs as _read_loose_refs
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
    if not name or not check_ref_format(to_ref((TAGS + name)[5:])):
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
    tag.object = (Commit, to_oid(commit))
    tag.tag_time = int(time.time() if when is None else when)
    tag.tag_timezone = 0
    obj = db.make("tag", tag.as_raw_string())
    db.add_objects([obj])
    ref = TAGS + name
    db._reflog_folder(ref)
    try:
        ok = db.repo.refs.add_if_new(to_ref(ref), to_oid(obj.id), message=b"gitexp: registry " + name.encode())
    except FileLocked:
        return None  # another writer is creating this very name right now: it is taken
    except (OSError, ValueError) as exc:  # a ref that is a prefix of this name (a/b vs a)
        raise GitexpError(f"cannot create tag {name!r}: {exc}",
                          hint="a tag with a conflicting name exists; see: git tag -l") from None
    return obj.id if ok else None


def delete_tag(db: GitDB, name: str, sha: str) -> bool:
    """Compare-and-delete `refs/tags/<name>` (only if it still holds `sha`)."""
    ref = TAGS + name
    db._reflog_folder(ref)
    try:
        return bool(db.repo.refs.remove_if_equals(to_ref(ref), to_oid(sha), message=b"gitexp: registry back-off"))
    except FileLocked:
        raise ConcurrentUpdate(f"tag {name} is locked by another writer", hint="retry the command") from None


def tag_names(db: GitDB) -> dict[str, str | None]:
    """{tag name: sha the ref holds, or None for a loose ref not read yet} for every tag.

    Loose tags are listed by file name only (a repository may hold thousands of
    unrelated tags); `ref_value` reads the ones a caller needs.
    """
    names: dict[str, str | None] = {ref[len(TAGS):]: sha for ref, sha in db._packed_refs(TAGS).items()}
    root = db.common_dir / "refs" / "tags"
    for dirpath, _dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in files:
            if not name.endswith(".lock"):
                names[name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")] = None
    return names


def tags_starting(db: GitDB, prefix: str, then: str = "") -> dict[str, str]:
    """{tag name: sha} of the tags whose name starts with `prefix` followed by one of `then`.

    Reads only those tags: the loose files of one folder whose names match (plus
    the folders under it that match), and the matching lines of packed-refs; never
    every tag of a repository that holds thousands of unrelated ones.
    """
    head, _, base = prefix.rpartition("/")
    root = os.path.join(db.common_dir, "refs", "tags", *head.split("/")) if head else \
        os.path.join(db.common_dir, "refs", "tags")
    lead = f"{head}/" if head else ""

    def wanted(name: str) -> bool:
        return name.startswith(base) and (not then or name[len(base):len(base) + 1] in tuple(then))

    # Loose refs first, then packed-refs (as RefsMixin.refs_under: `git pack-refs` writes
    # packed-refs before it deletes the loose files, so a tag is always seen in one of them).
    loose: dict[str, str] = {}
    try:
        entries = [e for e in os.scandir(root) if wanted(e.name)]
    except OSError:
        entries = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            for dirpath, _dirs, files in os.walk(entry.path):
                rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
                loose.update(_read_loose_refs(dirpath, lead + rel + "/", files, db.hex_length))
        else:
            loose.update(_read_loose_refs(root, lead, [entry.name], db.hex_length))
    out: dict[str, str] = {}
    start = (TAGS + prefix).encode()
    try:
        with open(db.common_dir / "packed-refs", "rb") as f:
            for line in f:
                sha, _, ref = line.rstrip(b"\n").partition(b" ")
                if ref.startswith(start) and len(sha) == db.hex_length and line[:1] not in (b"#", b"^"):
                    name = ref.decode("utf-8", "replace")[len(TAGS):]
                    if wanted(name[len(lead):]):
                        out[name] = sha.decode()
    except FileNotFoundError:
        pass
    out.update(loose)
    return out


def ref_value(db: GitDB, name: str, known: str | None = None) -> str | None:
    """The sha `refs/tags/<name>` holds: the loose file if there is one, else `known` (packed)."""
    try:
        with open(os.path.join(db.common_dir, "refs", "tags", name), "rb") as f:
            value = f.read(100).strip()
    except OSError:
        return known
    return value.decode() if len(value) == 40 else known


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
        obj = db.repo.object_store[to_oid(sha)]
    except KeyError:
        return TagInfo(name, sha, "", False)
    if not isinstance(obj, Tag):
        return TagInfo(name, sha, sha if isinstance(obj, Commit) else "", False)
    target = obj.object[1].decode()
    kind = obj.object[0]
    depth = 0
    while kind is not Commit and depth < 5:  # a tag of a tag: peel
        try:
            inner = db.repo.object_store[to_oid(target)]
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


class TagCache:
    """Parsed tag objects by object id, kept in `.git/gitexp/tags.json`.

    A tag object never changes (its id is its content's hash), so an entry is
    valid forever; entries no tag refers to any more are dropped on a full read.
    Derived data: a missing or damaged file is rebuilt.
    """

    def __init__(self, db: GitDB) -> None:
        self.db = db
        self.path = db.local_dir / "tags.json"
        self.entries: dict[str, list] = {}
        self.dirs: dict[str, list] = {}  # folder -> [mtime_ns, {ref: sha}] (see RefsMixin.refs_under)
        self.used: set[str] = set()
        self.dirty = False
        try:
            raw = json.loads(self.path.read_bytes())
            if isinstance(raw, dict) and raw.get("format") == 1 and isinstance(raw.get("tags"), dict):
                self.entries = raw["tags"]
                dirs = raw.get("dirs")
                self.dirs = dirs if isinstance(dirs, dict) else {}
        except (OSError, ValueError):
            pass

    # DirCache: the loose tag refs of a folder, remembered for one mtime of it
    def get(self, folder: str, mtime_ns: int) -> dict[str, str] | None:
        hit = self.dirs.get(folder)
        return hit[1] if isinstance(hit, list) and len(hit) == 2 and hit[0] == mtime_ns else None

    def put(self, folder: str, mtime_ns: int, refs: dict[str, str]) -> None:
        self.dirs[folder] = [mtime_ns, refs]
        self.dirty = True

    def tags(self) -> dict[str, str]:
        """{tag name: sha} of every tag, loose files read only in folders that changed."""
        return {ref[len(TAGS):]: sha for ref, sha in self.db.refs_under(TAGS, self).items()}

    def read(self, name: str, sha: str) -> TagInfo:
        self.used.add(sha)
        hit = self.entries.get(sha)
        if isinstance(hit, list) and len(hit) == 5:
            target, annotated, tagger, when, message = hit
            return TagInfo(name, sha, str(target), bool(annotated), str(tagger), int(when), str(message))
        info = _read_loose_tag(self.db, name, sha) or read_tag(self.db, name, sha)
        self.entries[sha] = [info.target, info.annotated, info.tagger, info.time, info.message]
        self.dirty = True
        return info

    def save(self, prune: bool) -> None:
        if prune and set(self.entries) - self.used:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
            self.dirty = True
        if not self.dirty:
            return
        try:
            data = json.dumps({"format": 1, "tags": self.entries, "dirs": self.dirs}).encode()
            write_atomic(self.path, data, prefix=".tags-")
        except OSError:
            pass  # a cache that cannot be written is only slower


def _read_loose_tag(db: GitDB, name: str, sha: str) -> TagInfo | None:
    """A loose tag object parsed straight from its file (dulwich's generic path is ~20x slower);
    None when the object is not loose or not a plain tag of a commit, to let dulwich decide."""
    path = os.path.join(db.repo.object_store.path, sha[:2], sha[2:])
    try:
        with open(path, "rb") as f:
            raw = zlib.decompress(f.read())
    except (OSError, zlib.error):
        return None
    header, _, body = raw.partition(b"\0")
    if not header.startswith(b"tag "):
        return None
    head, _, message = body.partition(b"\n\n")
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\n"):
        key, _, value = line.partition(b" ")
        fields.setdefault(key, value)
    if fields.get(b"type") != b"commit" or len(fields.get(b"object", b"")) != 40 or b"gpgsig" in fields:
        return None
    tagger = fields.get(b"tagger", b"")
    parts = tagger.rsplit(b" ", 2)
    try:
        when = int(parts[1]) if len(parts) == 3 else 0
    except ValueError:
        when = 0
    who = parts[0] if len(parts) == 3 else tagger
    return TagInfo(name, sha, fields[b"object"].decode(), True, who.decode("utf-8", "replace"), when,
                   message[:MAX_MESSAGE].decode("utf-8", "replace"))


def adopt_tag(db: GitDB, name: str, sha: str, why: str) -> bool:
    """Create `refs/tags/<name>` at the existing object `sha` unless that name is taken.

    Create-if-absent, as `create_tag`: a tag of that name (or one whose name is a
    folder of it) is never overwritten; False then.
    """
    check_tag_name(name)
    ref = TAGS + name
    db._reflog_folder(ref)
    try:
        return bool(db.repo.refs.add_if_new(to_ref(ref), to_oid(sha), message=b"gitexp: " + why.encode()))
    except (FileLocked, OSError, ValueError):
        return False
