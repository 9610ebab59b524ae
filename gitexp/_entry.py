"""The `gitexp` console script: `gitexp hook <name>` (what git's hooks run) before click loads.

A commit waits for every millisecond a hook spends, so the hook path imports
neither click nor YAML; everything else goes to the click CLI.
"""

from __future__ import annotations

import sys


def entry() -> None:
    if sys.argv[1:2] == ["hook"]:
        from gitexp.hookrun import hook_main

        code = hook_main(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    from gitexp.cli.app import entry as cli_entry

    cli_entry()
