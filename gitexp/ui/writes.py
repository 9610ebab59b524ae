"""The UI's writes (opt-in): tag, note and rename, through the same edit services as the CLI."""

from __future__ import annotations


from gitexp.errors import InvalidValue
from gitexp.services.edit import rename_run, set_note, set_tags
from gitexp.services.session import Session

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

ACTIONS = ("tags", "note", "rename")


def apply(s: Session, run: str, action: str, body: Any) -> dict[str, Any]:
    """Do one write from a JSON body; each is a new commit on the run ref (or queued while it runs).

    tags: {"set": {key: value}, "delete": [key]} · note: {"text": str or null} · rename: {"name": str}
    """
    if action not in ACTIONS:
        raise InvalidValue(f"unknown action {action!r}", hint=f"one of {', '.join(ACTIONS)}")
    if not isinstance(body, dict):
        raise InvalidValue("the request body must be a JSON object")
    if action == "tags":
        tags, delete = body.get("set") or {}, body.get("delete") or []
        if not isinstance(tags, dict) or not isinstance(delete, list):
            raise InvalidValue("tags: 'set' must be an object and 'delete' a list")
        result = set_tags(s, run, {str(k): str(v) for k, v in tags.items()}, [str(k) for k in delete])
    elif action == "note":
        text = body.get("text")
        result = set_note(s, run, None if text in (None, "") else str(text))
    else:
        result = rename_run(s, run, str(body.get("name", "")))
    return {"ok": True, "id": result.run_id, "name": result.name, "commit": result.new, "queued": result.queued,
            "changed": result.changed}
