"""The command table: where each command lives and the first sentence of its help.

No click here: the console script looks a command up before deciding whether click is
needed (`cli/spec.py`); `cli/app.py` builds the lazy group from the same table.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

COMMANDS = {
    "run": "gitexp.cli.run_cmd:run",
    "ls": "gitexp.cli.ls_cmd:ls",
    "show": "gitexp.cli.show_cmd:show",
    "diff": "gitexp.cli.diff_cmd:diff",
    "compare": "gitexp.cli.diff_cmd:compare",
    "plot": "gitexp.cli.plot_cmd:plot",
    "tag": "gitexp.cli.edit_cmd:tag",
    "note": "gitexp.cli.edit_cmd:note",
    "rename": "gitexp.cli.edit_cmd:rename",
    "rm": "gitexp.cli.edit_cmd:rm",
    "demo": "gitexp.cli.demo_cmd:demo",
    "push": "gitexp.cli.sync_cmd:push",
    "fetch": "gitexp.cli.sync_cmd:fetch",
    "pull": "gitexp.cli.sync_cmd:pull",
    "remote": "gitexp.cli.setup_cmd:remote",
    "store": "gitexp.cli.setup_cmd:store",
    "gc": "gitexp.cli.sync_cmd:gc",
    "artifacts": "gitexp.cli.artifacts_cmd:artifacts",
    "hook": "gitexp.cli.hooks_cmd:hook",
    "hooks": "gitexp.cli.hooks_cmd:hooks",
    "log": "gitexp.cli.code_cmd:log",
    "apply": "gitexp.cli.code_cmd:apply",
    "branch": "gitexp.cli.code_cmd:branch",
    "reproduce": "gitexp.cli.code_cmd:reproduce",
    "models": "gitexp.cli.models_cmd:models",
    "ui": "gitexp.cli.ui_cmd:ui",
    "import": "gitexp.cli.import_cmd:import_",
}
# The first sentence of each command's help, for `gitexp --help`: listing the commands then
# imports none of their modules (tests/test_cli_app.py checks it against each help text).
SUMMARIES = {
    "run": "Run COMMAND as a tracked run; exit with COMMAND's exit code.",
    "ls": "List runs, newest first.",
    "show": "Show one run: info, params, tags, metric summaries, artifacts and code.",
    "diff": "Show what changed from run A to run B.",
    "compare": "Show two or more runs side by side.",
    "plot": "Plot runs to an image file (PNG, SVG or PDF) and print its path.",
    "tag": "Set or delete tags of RUN; with neither, print its tags (KEY=VALUE lines).",
    "note": "Set the note (description) of RUN to TEXT; without TEXT, print the note.",
    "rename": "Rename RUN to NAME; run names are unique in the repository.",
    "rm": "Remove runs: delete their refs (compare-and-delete), after confirmation.",
    "demo": "Create a demo repo in DIRECTORY, run a small sweep, and list the runs.",
    "push": "Send runs to REMOTE: the ones it lacks or has older, with their large artifacts.",
    "fetch": "Fetch REMOTE's runs and experiment records into refs/gitexp/remotes/REMOTE/; local ones are not touched.",
    "pull": "Fetch REMOTE's runs and integrate them: new runs appear, edits are merged.",
    "remote": "Set up a Git remote for gitexp runs.",
    "store": "Configure the artifact store of a remote (in the tracked .gitexp.yaml).",
    "gc": "Remove local side-store objects no ref and no active run reaches.",
    "artifacts": "List and download the artifacts of a run.",
    "hook": "Run the git hook NAME (git's hook scripts call this), or name runs for the next commit.",
    "hooks": "Install, remove or inspect gitexp's git hooks (they link commits to runs).",
    "log": "The commit history of REV with, under each commit, its runs.",
    "apply": "Put RUN's code snapshot into the working tree (never its record folder).",
    "branch": "Create the branch NAME at RUN's commit (an existing branch is refused).",
    "reproduce": "Run RUN's recorded command again, on its recorded code, as a new run.",
    "models": "The model registry: versions and stages as annotated Git tags.",
    "ui": "Browse, filter, chart and compare runs in a web browser.",
    "import": "Import runs from another tracker (MLflow) as ordinary gitexp runs.",
}


# The group's own help and options, for click (cli/app.py) and for the click-free
# `gitexp --help` (cli/helptext.py; tests/test_cli_app.py checks they print the same).
TOP_HELP = """gitexp: track machine-learning experiments in the Git repository your code lives in.

Every run is a commit on a hidden ref (refs/gitexp/runs/<experiment>/<id>)
holding the exact code, params, metric histories, tags and artifacts.

Output is plain when NO_COLOR is set. Shell completion (commands,
options, run names and ids): see docs/cli.md, "Shell completion".

\b
Example:
    gitexp run -p lr=0.01 -- python train.py
    gitexp ls
    gitexp show brisk-otter
"""
TOP_OPTIONS = {
    "--version": "Show the version and exit.",
    "--traceback": "Show the full traceback of unexpected errors (to report them): gitexp --traceback COMMAND …",
    "-h, --help": "Show this message and exit.",
}


def load(name: str) -> Any:
    """What COMMANDS names for command `name` (a Spec table or a click command), its module imported."""
    module, _, attr = COMMANDS[name].partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)
