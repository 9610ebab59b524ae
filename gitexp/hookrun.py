"""What git's hook scripts run: `gitexp hook <name> …`, kept free of click.

A commit waits for every millisecond spent here. The scripts start `main` directly
with `python -I -S` when they know the way (services/hooks/scripts.py), and the
`gitexp` entry point calls `hook_main` before click is imported otherwise. The hooks
read the repository through the git command (store.gitlite), not a Session: neither
dulwich nor YAML is imported (tests/test_hooks.py checks it), nor anything outside
the standard library, which `python -S` cannot see.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from types import ModuleType

    from gitexp.services.hooks.commit import HookOutcome
    from gitexp.store.gitlite import HookRepo

GIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg")


def run_hook(name: str, args: list[str]) -> int:
    """Run one git hook; a failure never blocks the commit unless gitexp.hooks.strict is true.
    """
    from gitexp.errors import GitexpError
    from gitexp.services.hooks import commit
    from gitexp.store.gitlite import HookRepo

    strict = False
    try:
        with HookRepo(".") as repo:
            _leave_the_way(repo)
            strict = commit.is_strict(repo)
            outcome = _dispatch(commit, repo, name, args)
    except Exception as exc:  # a hook must never greet a commit with a traceback
        message = exc.message if isinstance(exc, GitexpError) else f"{type(exc).__name__}: {exc}"
        verdict = "commit refused (gitexp.hooks.strict is true)" if strict else "the commit goes on"
        print(f"gitexp: the {name} hook failed: {message}; {verdict}", file=sys.stderr)
        hint = getattr(exc, "hint", None) or ("git config gitexp.hooks.strict false, or fix the error above"
                                              if strict else None)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return 1 if strict else 0
    for note in outcome.notes:
        print(note, file=sys.stderr)
    if outcome.recorded:
        print(f"gitexp: recorded {len(outcome.recorded)} run(s) in the commit message: "
              + ", ".join(outcome.recorded), file=sys.stderr)
    if outcome.block and strict:
        print("gitexp: commit refused (gitexp.hooks.strict is true)", file=sys.stderr)
        return 1
    return 0


def _dispatch(commit: ModuleType, repo: HookRepo, name: str, args: list[str]) -> HookOutcome:
    if name == "pre-commit":
        return commit.pre_commit(repo)
    if not args:
        from gitexp.errors import GitexpError

        raise GitexpError(f"the {name} hook needs the commit message file as its first argument")
    if name == "prepare-commit-msg":
        return commit.prepare_commit_msg(repo, args[0])
    return commit.commit_msg(repo, args[0])


def _leave_the_way(repo: HookRepo) -> None:
    """A hook script that started gitexp the slow way (with `site`) asks for the fast way next time."""
    from gitexp.services.hooks.scripts import COMMAND_ENV, write_fast_start

    command = os.environ.get(COMMAND_ENV)
    if command and not sys.flags.no_site:
        write_fast_start(str(repo.local_dir), command)


def main() -> None:
    """`python -I -S -c '…main()' <hook> <git's arguments>`: what the hook scripts start directly.

    A short process that closes what it opens: no garbage collection while it runs, and
    no interpreter teardown at the end (`os._exit`), which together cost a tenth of it.
    """
    import gc

    gc.disable()
    code = hook_main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(2 if code is None else code)


def hook_main(argv: list[str]) -> int | None:
    """The fast path for `gitexp hook <git hook> …` (no click); None for anything else."""
    if argv and argv[0] in GIT_HOOKS and not {"-h", "--help"} & set(argv):
        return run_hook(argv[0], argv[1:])
    return None
