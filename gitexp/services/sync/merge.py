"""Three-way merge of two tips of one run: edits that do not conflict are combined.

Each part of the record is merged key by key against the merge base: run.yaml
fields (name, note, status…), params, tags, metric histories and artifacts. A
key changed on one side only takes that side's value; changed on both sides to
the same value is fine; changed to different values is a conflict, resolved by
`prefer` ("ours" or "theirs") or reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitexp.store.record import Artifact, RunInfo
from gitexp.store.repo import Entry, GitDB
from gitexp.store.runcommit import Record, RecordReader, read_record, write_run_commit

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

_MISSING = object()


@dataclass
class Conflict:
    """One key both sides changed differently."""

    part: str  # "tag", "param", "info", "metric", "artifact"
    key: str
    ours: Any
    theirs: Any

    def describe(self) -> str:
        show = (lambda v: "(removed)" if v is _MISSING else repr(v)) if self.part != "metric" else \
            (lambda v: "(removed)" if v is _MISSING else f"{len(v)} points")
        return f"{self.part} {self.key!r} is {show(self.ours)} here and {show(self.theirs)} on the remote"


def merge3(base: dict, ours: dict, theirs: dict, part: str, prefer: str | None,
           conflicts: list[Conflict]) -> dict:
    """Merge two mappings against their base, key by key."""
    out: dict = {}
    for key in [*ours, *(k for k in theirs if k not in ours), *(k for k in base if k not in ours and k not in theirs)]:
        b, o, t = base.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING)
        if o == t or t == b:
            value = o
        elif o == b:
            value = t
        else:
            if prefer is None:
                conflicts.append(Conflict(part, str(key), o, t))
            value = t if prefer == "theirs" else o
        if value is not _MISSING:
            out[key] = value
    return out


def merge_records(base: Record | None, ours: Record, theirs: Record, prefer: str | None
                  ) -> tuple[Record, list[Conflict]]:
    """The merged record and the conflicts left (none when `prefer` is given)."""
    empty = Record(ours.info, {}, {}, {}, [])
    b = base or empty
    conflicts: list[Conflict] = []
    info_b = b.info.as_dict() if base else {}
    info = merge3(info_b, ours.info.as_dict(), theirs.info.as_dict(), "info", prefer, conflicts)
    info["id"] = ours.info.id  # ids come from the ref, never from a merge
    arts = {k: _art_key(a) for k, a in ((a.path, a) for a in b.artifacts)}
    merged_arts = merge3(arts, {a.path: _art_key(a) for a in ours.artifacts},
                         {a.path: _art_key(a) for a in theirs.artifacts}, "artifact", prefer, conflicts)
    record = Record(
        RunInfo.from_dict(info),
        merge3(b.params, ours.params, theirs.params, "param", prefer, conflicts),
        merge3(b.tags, ours.tags, theirs.tags, "tag", prefer, conflicts),
        merge3(b.metrics, ours.metrics, theirs.metrics, "metric", prefer, conflicts),
        [Artifact(p, *v) for p, v in merged_arts.items()],
    )
    return record, conflicts


def _art_key(a: Artifact) -> tuple:
    return (a.size, a.sha256, a.inline, a.blob)


def write_merge(db: GitDB, ours_tip: str, theirs_tip: str, record: Record, remote: str) -> str:
    """A commit with both tips as parents, the local code tree and the merged record."""
    rec = RecordReader(db, ours_tip)
    existing = db.list_tree(rec.record_tree) if rec.record_tree else {}
    files: dict[str, bytes | Entry] = {
        p: e for p, e in existing.items() if not p.startswith(("metrics/", "artifacts/"))
    }
    files.update(record.files())
    tree, _ = db.commit_info(ours_tip)
    return write_run_commit(db, tree, None, files, [ours_tip, theirs_tip],
                            f"gitexp: merge edits from {remote}")


def load_three(db: GitDB, ours: str, theirs: str, base: str | None) -> tuple[Record | None, Record, Record]:
    return (read_record(db, base) if base else None), read_record(db, ours), read_record(db, theirs)
