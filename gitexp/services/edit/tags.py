"""Tags of a run: a new commit on an ended run, or journal entries of a run still running here."""

from __future__ import annotations


from gitexp.errors import GitexpError, InvalidValue
from gitexp.names import check_key
from gitexp.services.edit.core import (
    EditResult, Target, _info, _refuse_running, edit_record, find_target, live_folder, queue_entries,
)
from gitexp.services.session import Session
from gitexp.services.tracking.localstate import ActiveDir
from gitexp.store.journal import read_journals
from gitexp.store.record import RunInfo, parse_mapping
from gitexp.store.repo import GitDB
from gitexp.store.runcommit import Record, RecordReader

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

_SUBJECT_VALUE = 40  # longest tag value shown in a commit subject


def set_tags(s: Session, run: str, tags: dict[str, Any] | None = None,
             delete: list[str] | tuple[str, ...] = ()) -> EditResult:
    """Set and/or delete tags of a run (any reference `resolve` accepts).

    An ended run gets a new commit; a run running here gets the change in its
    journal and its owner commits it at the end. Deleting a tag the run does
    not have is an error.
    """
    tags = {check_key(str(k).strip(), "tag key"): str(v) for k, v in (tags or {}).items()}
    delete = [check_key(str(k).strip(), "tag key") for k in delete]
    both = set(tags) & set(delete)
    if both:
        raise InvalidValue(f"tag {sorted(both)[0]!r} is both set and deleted", hint="give each key once")
    if not tags and not delete:
        raise InvalidValue("no tags to set or delete", hint="e.g. gitexp tag RUN stage=best")
    target = find_target(s, run)
    db = s.db
    folder = live_folder(db, target.info)
    if folder is not None:
        return _queue_tags(db, target, folder, tags, delete)
    _refuse_running(target, "change tags of",
                    hint="tag it from the machine it runs on, or after it ends")
    return _commit_tags(db, target, tags, delete)


def _commit_tags(db: GitDB, target: Target, tags: dict[str, str], delete: list[str]) -> EditResult:
    def mutate(state: Record) -> None:
        missing = [k for k in delete if k not in state.tags]
        if missing:
            raise _no_tag(state.info, missing[0], state.tags)
        state.tags.update(tags)
        for key in delete:
            del state.tags[key]

    new = edit_record(db, target.ref, target.tip, _tag_message(tags, delete), mutate)
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, new)


def _queue_tags(db: GitDB, target: Target, folder: ActiveDir, tags: dict[str, str],
                delete: list[str]) -> EditResult:
    if delete:
        current = {**_tags(db, target.tip), **read_journals(folder.path).tags}
        current = {k: v for k, v in current.items() if v is not None}
        missing = [k for k in delete if k not in current]
        if missing:
            raise _no_tag(target.info, missing[0], current)
    open_for_entries = queue_entries(folder, [("t", k, v) for k, v in tags.items()]
                                     + [("t", k, None) for k in delete])
    # The owner finalises under an exclusive lock, so written entries are in its
    # final commit. If it had already finished, apply the tags as an edit instead.
    tip = db.read_ref(target.ref)
    if tip is not None and (tip != target.tip or not open_for_entries):
        info = _info(db, tip)
        if info.status != "RUNNING":
            return _commit_tags(db, Target(target.ref, tip, info), tags,
                                [k for k in delete if k in _tags(db, tip)])
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, target.tip, queued=True)


def _tags(db: GitDB, commit: str) -> dict:
    return parse_mapping(RecordReader(db, commit).read("tags.yaml"), "tags.yaml")


def _no_tag(info: RunInfo, key: str, tags: dict) -> GitexpError:
    return InvalidValue(f"run {info.name} ({info.id}) has no tag {key!r}",
                        hint=f"its tags: {', '.join(sorted(tags)) or 'none'}")


def _tag_message(tags: dict[str, str], delete: list[str]) -> str:
    parts, full = [], []
    if tags:
        parts.append("tag " + " ".join(f"{k}={_short(v)}" for k, v in tags.items()))
        full = [f"{k}={v}" for k, v in tags.items() if _short(v) not in (v, f'"{v}"')]
    if delete:
        parts.append("delete tag " + " ".join(delete))
    body = "\n\n" + "\n".join(full) if full else ""
    return "gitexp: " + "; ".join(parts) + body


def _short(value: str) -> str:
    """A tag value for a one-line subject: newlines escaped, cut, quoted if it has spaces."""
    one_line = value.replace("\r", "").replace("\n", "\\n")
    if len(one_line) > _SUBJECT_VALUE:
        one_line = one_line[: _SUBJECT_VALUE - 1] + "…"
    return f'"{one_line}"' if not one_line or " " in one_line else one_line


