"""The hook scripts gitexp installs: short POSIX sh that hands over to `gitexp hook <name>`.

`hooks/` at the project root holds exactly these texts (a test keeps them equal),
for people who wire hooks by hand or with `git config core.hooksPath`.

A commit waits for its hooks, so each script first decides in sh, without Python,
whether there is anything to do; and when there is, it starts gitexp's Python
directly, without the `site` set-up (`python -I -S`), if an earlier hook left
directions for this very `gitexp` in `.git/gitexp/hook-python` (see `fast_start_lines`).
"""

from __future__ import annotations

import os
import sys

MARKER = "# gitexp-hook-script"
VERSION = 2
HOOK_NAMES = ("pre-commit", "prepare-commit-msg", "commit-msg")
FAST_START_FILE = "hook-python"  # in .git/gitexp/
COMMAND_ENV = "GITEXP_HOOK_COMMAND"  # the gitexp command a hook script ran, as the script found it
PENDING_FILE = "gitexp-next-commit-runs.json"  # in each worktree's git dir: runs named for its next commit
CLOCK_SLACK_MINUTES = 10  # runs from a machine whose clock is this far behind still count

# A cheap test in sh before Python starts, so a hook with nothing to do costs a fork or two, not an interpreter.
_GUARDS = {
    "pre-commit": (
        "# Only a commit that changes a run record folder (.gitexp/) needs a look.\n"
        "git diff --cached --quiet -- .gitexp 2>/dev/null && exit 0\n"
    ),
    "commit-msg": (
        "# Only a message holding nothing but gitexp's trailers needs a look (git must see it as empty).\n"
        "if [ -r \"$1\" ]; then\n"
        "    while IFS= read -r line || [ -n \"$line\" ]; do\n"
        "        case $line in\n"
        "            *' >8 '*) break ;;\n"
        "            '#'* | Gitexp-Run:*) ;;\n"
        "            *[![:space:]]*) exit 0 ;;\n"
        "        esac\n"
        "    done <\"$1\"\n"
        "fi\n"
    ),
    "prepare-commit-msg": (
        "# Only a commit that may record a run needs a look: runs were named for it ('gitexp hook --runs'),\n"
        "# or a run ref was written since HEAD was committed (a run made from HEAD started after it, less\n"
        f"# {CLOCK_SLACK_MINUTES} minutes of clock skew). Writing a ref renames a file into its folder, so the\n"
        "# folders' times tell without a look at each ref. Anything unexpected: Python decides.\n"
        "may_record() {\n"
        "    [ -n \"$common\" ] || return 0\n"
        f"    for f in \"$common\"/{PENDING_FILE} \"$common\"/worktrees/*/{PENDING_FILE}; do\n"
        "        [ -e \"$f\" ] && return 0\n"
        "    done\n"
        "    since=$(git log -1 --no-show-signature --format=%ct HEAD -- 2>/dev/null) || return 1  # no commit yet\n"
        "    case $since$now in *[!0-9]* | '') return 0 ;; esac\n"
        "    set --\n"
        "    for f in \"$common/refs/gitexp/runs\" \"$common/refs/gitexp/runs\"/* \"$common/packed-refs\"; do\n"
        "        [ -e \"$f\" ] && set -- \"$@\" \"$f\"\n"
        "    done\n"
        "    [ $# -gt 0 ] || return 1\n"
        f"    minutes=$(( (now > since ? now - since : 0) / 60 + {CLOCK_SLACK_MINUTES + 2} ))\n"
        "    found=$(find \"$@\" -prune -mmin \"-$minutes\" 2>/dev/null) || return 0\n"
        "    [ -n \"$found\" ]\n"
        "}\n"
        "out=$(git rev-parse --git-common-dir --since=now 2>/dev/null)  # the folder, and '--max-age=<now>'\n"
        "common=${out%?--max-age=*} now=${out##*--max-age=}\n"
        "may_record || exit 0\n"
    ),
}

_PURPOSE = {
    "pre-commit": "Warns when a commit adds a run record folder (.gitexp/) to a branch.",
    "prepare-commit-msg": "Adds a 'Gitexp-Run: <run-id>' trailer for each run made from the staged code.",
    "commit-msg": "Lets git abort a commit whose message holds nothing but gitexp's trailers.",
}

_TEMPLATE = """\
#!/bin/sh
{marker} v{version}: installed by 'gitexp hooks install'; 'gitexp hooks uninstall' removes it.
# {purpose}
# A hook that was here before is kept as {name}.legacy and runs first.
# gitexp never blocks a commit unless 'git config gitexp.hooks.strict true'.
if [ -x "$0.legacy" ]; then
    "$0.legacy" "$@" || exit $?
fi
if ! exe=$(command -v gitexp); then
    echo "gitexp: not on PATH, so the {name} hook did nothing (pip install gitexp)" >&2
    exit 0
fi
{guard}# Straight into gitexp's Python without the site-packages set-up, when an earlier hook left the way for
# this gitexp: the command, its Python, gitexp's folder, and the folder that any (re)install changes.
way=${{common:-$(git rev-parse --git-common-dir 2>/dev/null)}}/gitexp/{fast_file}
if [ -f "$way" ] && {{ read -r cmd && read -r py && read -r lib && read -r site; }} <"$way" && [ "$cmd" = "$exe" ] &&
    [ -x "$py" ] && [ -f "$lib/gitexp/hookrun.py" ] && [ -d "$site" ] && ! [ "$site" -nt "$way" ]; then
    "$py" -I -S -c 'import sys; sys.path.append(sys.argv.pop(1)); from gitexp.hookrun import main; main()' \\
        "$lib" {name} "$@"
else
    {command_env}=$exe gitexp hook {name} "$@"
fi && exit 0
code=$?
if [ "$(git config --bool gitexp.hooks.strict 2>/dev/null)" = true ]; then
    exit $code
fi
echo "gitexp: the {name} hook failed (exit code $code); the commit goes on" >&2
exit 0
"""


def script_text(name: str) -> str:
    """The text of gitexp's hook script `name`."""
    return _TEMPLATE.format(marker=MARKER, version=VERSION, purpose=_PURPOSE[name], name=name,
                            guard=_GUARDS[name], fast_file=FAST_START_FILE, command_env=COMMAND_ENV)


def script_version(text: str) -> int | None:
    """The version of a gitexp hook script, or None for a hook gitexp did not write."""
    for line in text.splitlines()[:3]:
        if line.startswith(MARKER + " v"):
            digits = line[len(MARKER) + 2:].split(":", 1)[0]
            return int(digits) if digits.isdigit() else 0
    return None


def fast_start_lines(command: str) -> list[str] | None:
    """What `.git/gitexp/hook-python` tells the hook scripts about the running gitexp, or None.

    Four lines: the `gitexp` command the script found on PATH, this Python, the folder
    holding the `gitexp` package (appended to `sys.path`), and the folder holding gitexp's
    install record (`gitexp-*.dist-info`): a script trusts the file only while that folder is
    older than it, so installing, upgrading or removing anything there sends the next hook
    the slow way, which writes the file again. None when there is no install record to watch.
    """
    import gitexp

    lib = os.path.dirname(os.path.dirname(os.path.abspath(gitexp.__file__)))
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        if any(n.startswith("gitexp-") and n.endswith((".dist-info", ".egg-info")) for n in names):
            return [command, sys.executable, lib, os.path.abspath(entry or ".")]
    return None


def write_fast_start(local_dir: str, command: str) -> None:
    """Leave the way to this gitexp for the hook scripts (`fast_start_lines`); quiet on any failure."""
    lines = fast_start_lines(command)
    if lines is None or any("\n" in line or not line for line in lines):
        return
    path = os.path.join(local_dir, FAST_START_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(local_dir, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass

