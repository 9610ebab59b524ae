"""Managing runs after the fact: tags, notes, names, removal.

`core` holds the edit primitive (a new commit on the run's ref, retried on
races) and how the run to edit is found; `tags` and `runs` are the edits.
"""

from gitexp.services.edit.core import (
    EditResult, NotEditable, RunIsActive, Target, edit_record, find_target, live_folder, with_retries,
)
from gitexp.services.edit.runs import Removed, find_removable, remove_run, remove_runs, rename_run, set_note
from gitexp.services.edit.tags import _queue_tags, set_tags

__all__ = ["EditResult", "NotEditable", "Removed", "RunIsActive", "Target", "edit_record", "find_removable",
           "find_target", "live_folder", "remove_run", "remove_runs", "rename_run", "set_note", "set_tags",
           "with_retries", "_queue_tags"]
