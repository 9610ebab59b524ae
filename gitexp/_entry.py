"""The `gitexp` console script: `gitexp hook <name>` and `gitexp run … -- CMD` before click loads.

A commit waits for every millisecond a hook spends, so the hook path imports
neither click nor YAML; a run start waits for its imports too, so ordinary
`gitexp run` arguments are parsed without click (`runcli.py`). Everything else
goes to the click CLI.
"""

from __future__ import annotations

import sys


def entry() -> None:
    command = sys.argv[1:2]
    code = None
    if command == ["hook"]:
        from gitexp.hookrun import hook_main

        code = hook_main(sys.argv[2:])
    elif command == ["run"]:
        from gitexp.runcli import fast_main

        code = fast_main(sys.argv[2:])
    if code is not None:
        sys.exit(code)
    from gitexp.cli.app import entry as cli_entry

    cli_entry()
