"""The hook scripts gitexp installs: short POSIX sh that hands over to `gitexp hook <name>`.

`hooks/` at the project root holds exactly these texts (a test keeps them equal),
for people who wire hooks by hand or with `git config core.hooksPath`.
"""

from __future__ import annotations

MARKER = "# gitexp-hook-script"
VERSION = 1
HOOK_NAMES = ("pre-commit", "prepare-commit-msg", "commit-msg")

# A cheap test in sh before Python starts, so a hook with nothing to do costs a fork, not an interpreter.
_GUARDS = {
    "pre-commit": (
        "# Only a commit that changes a run record folder (.gitexp/) needs a look.\n"
        "git diff --cached --quiet -- .gitexp 2>/dev/null && exit 0\n"
    ),
    "commit-msg": (
        "# Only a message holding nothing but gitexp's trailers needs a look (git must see it as empty).\n"
        "sed -e '/ >8 /,$d' -e '/^#/d' -e '/^Gitexp-Run:/d' \"$1\" 2>/dev/null | grep -q '[^[:space:]]' && exit 0\n"
    ),
    "prepare-commit-msg": "",
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
{guard}if ! command -v gitexp >/dev/null 2>&1; then
    echo "gitexp: not on PATH, so the {name} hook did nothing (pip install gitexp)" >&2
    exit 0
fi
gitexp hook {name} "$@" && exit 0
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
                            guard=_GUARDS[name])


def script_version(text: str) -> int | None:
    """The version of a gitexp hook script, or None for a hook gitexp did not write."""
    for line in text.splitlines()[:3]:
        if line.startswith(MARKER + " v"):
            digits = line[len(MARKER) + 2:].split(":", 1)[0]
            return int(digits) if digits.isdigit() else 0
    return None
