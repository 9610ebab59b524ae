"""The `gitexp` console script: `gitexp hook <name>` and the table-driven commands before click loads.

A commit waits for every millisecond a hook spends, so the hook path imports
neither click nor YAML; a run start and the everyday read and sync commands
(`run`, `ls`, `show`, `diff`, `compare`, `push`, `fetch`, `pull`, `gc`) wait for their
imports too, so their ordinary arguments are parsed without click (`cli/spec.py`),
and `gitexp --help` prints click's page without click (`cli/helptext.py`).
Everything else goes to the click CLI.
"""

from __future__ import annotations

import os
import sys

from gitexp import gcpause


def entry() -> None:
    gcpause.pause()  # see gcpause: a command's start has nothing for the collector to free
    _closed_streams_to_devnull()
    if sys.argv[1:2] == ["hook"]:
        from gitexp.hookrun import hook_main

        code = hook_main(sys.argv[2:])
    else:
        from gitexp.cli.spec import fast_main

        code = fast_main(sys.argv[1:])
    if code is not None:
        if sys.argv[1:2] == ["run"]:
            _end_now(code)
        sys.exit(code)
    gcpause.resume()  # the click commands include long ones (the web UI, imports)
    from gitexp.cli.app import entry as cli_entry

    cli_entry()


def _closed_streams_to_devnull() -> None:
    """Started with stdout or stderr closed (`gitexp run -- cmd >&-`), Python has None for it: what would
    go there goes nowhere instead, as it would for git, and the command still runs and is recorded."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def _end_now(code: int) -> None:
    """Exit at once, skipping the interpreter's teardown of every module (4% of a `gitexp run -- true`).

    By now the run is committed and every file gitexp wrote is closed: what teardown would
    still do is run the atexit handlers (run here), flush stdout and stderr (done here) and
    wait for threads that are not daemons (if one lives, the process exits as usual).
    """
    import atexit
    import threading

    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
