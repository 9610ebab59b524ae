"""The garbage collector stays off while a `gitexp` command starts.

A command's start allocates a few hundred thousand objects and keeps nearly all
of them (modules, classes, functions); the collector's passes over them are
about 5% of a `gitexp run` start, and they find nothing to free. The console
script pauses it first thing; a command that goes on for long (the child of
`gitexp run`, the web UI, any command click runs) resumes it, with what was
allocated so far frozen so that no later pass looks at it again. A short
command ends with the collector still off, as a process that frees its memory
at exit anyway. Only a pause made here is resumed: a program that turned the
collector off itself keeps it off.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Turn the collector off (if it is on) until `resume`."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Undo `pause`: freeze what exists now and turn the collector back on."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
