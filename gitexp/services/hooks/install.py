"""Install, remove and inspect gitexp's git hooks, the way git itself finds hooks.

The folder is the one git really uses: `git rev-parse --git-path hooks` resolves
`core.hooksPath` and, in a linked worktree, the common dir every worktree shares.
A hook that is not gitexp's is kept as `<name>.legacy` and still runs (first);
gitexp's own scripts carry a marker, so installing again upgrades them in place
and uninstalling removes only them and puts the legacy hook back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitexp.errors import GitexpError
from gitexp.services.hooks.scripts import HOOK_NAMES, VERSION, script_text, script_version
from gitexp.store import gitcli


@dataclass
class HookState:
    """One hook: what is in its file, and what an install or uninstall did to it."""

    name: str
    path: Path
    state: str  # "gitexp", "outdated", "foreign", "absent"
    legacy: bool = False
    action: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "state": self.state, "legacy": self.legacy,
                **({"action": self.action} if self.action else {})}


@dataclass
class HooksReport:
    folder: Path
    hooks_path: str | None  # core.hooksPath, when set
    hooks: list[HookState]

    def to_dict(self) -> dict[str, object]:
        return {"folder": str(self.folder), "core.hooksPath": self.hooks_path,
                "hooks": [h.to_dict() for h in self.hooks]}


def hooks_folder(root: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """(the hooks folder git uses, core.hooksPath or None)."""
    folder = gitcli.git(root, "rev-parse", "--path-format=absolute", "--git-path", "hooks").strip()
    try:
        configured = gitcli.git(root, "config", "--get", "core.hooksPath").strip() or None
    except gitcli.GitCommandError:
        configured = None
    return Path(folder), configured


def _state(path: Path) -> str:
    if not path.exists() and not path.is_symlink():
        return "absent"
    try:
        version = script_version(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:  # a dangling symlink or a folder: not ours
        return "foreign"
    if version is None:
        return "foreign"
    return "gitexp" if version == VERSION else "outdated"


def _legacy(path: Path) -> Path:
    return path.with_name(path.name + ".legacy")


def status(root: str | os.PathLike[str]) -> HooksReport:
    """What each hook gitexp ships looks like in this repository."""
    folder, configured = hooks_folder(root)
    hooks = [HookState(n, folder / n, _state(folder / n), _legacy(folder / n).exists()) for n in HOOK_NAMES]
    return HooksReport(folder, configured, hooks)


def install(root: str | os.PathLike[str], force: bool = False) -> HooksReport:
    """Install (or upgrade) every hook; idempotent. A foreign hook becomes `<name>.legacy`.

    Refuses, before changing anything, when a foreign hook cannot be kept because
    `<name>.legacy` is already taken by another file; `force` then overwrites that file.
    """
    report = status(root)
    blocked = [h for h in report.hooks if h.state == "foreign" and h.legacy]
    if blocked and not force:
        names = ", ".join(h.name for h in blocked)
        raise GitexpError(f"cannot keep the existing {names} hook: {blocked[0].path}.legacy already exists",
                          hint="move one of the two away, or 'gitexp hooks install --force' "
                               "to overwrite the .legacy file")
    report.folder.mkdir(parents=True, exist_ok=True)
    for hook in report.hooks:
        hook.action = _install_one(hook, force)
    return report


def _install_one(hook: HookState, force: bool) -> str:
    text = script_text(hook.name)
    if hook.state == "gitexp" and not force and hook.path.read_text(encoding="utf-8") == text:
        return "up to date"
    action = {"gitexp": "reinstalled", "outdated": "upgraded", "absent": "installed"}.get(hook.state, "")
    if hook.state == "foreign":
        os.replace(hook.path, _legacy(hook.path))
        hook.legacy = True
        action = f"installed; the previous hook now runs as {hook.name}.legacy"
    tmp = hook.path.with_name(f".{hook.name}.gitexp-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o755)
    os.replace(tmp, hook.path)
    hook.state = "gitexp"
    return action


def uninstall(root: str | os.PathLike[str]) -> HooksReport:
    """Remove gitexp's hooks only, and put each `<name>.legacy` back in its place."""
    report = status(root)
    for hook in report.hooks:
        if hook.state not in ("gitexp", "outdated"):
            hook.action = "not gitexp's, left alone" if hook.state == "foreign" else "not installed"
            continue
        hook.path.unlink()
        hook.state, hook.action = "absent", "removed"
        if hook.legacy:
            os.replace(_legacy(hook.path), hook.path)
            hook.state, hook.legacy, hook.action = "foreign", False, "removed; the previous hook is back"
    return report
