"""`git` processes started without the subprocess module: a commit should not wait for it to load.

`import subprocess` pulls in signal, threading, selectors, locale and re: more work
than all the git processes a commit's hooks start. `os.posix_spawnp` with pipes does
what the hooks need: run git and read what it prints, or talk to one long-lived
`git cat-file --batch`. Where posix_spawn is missing (Windows), subprocess does it.
"""

from __future__ import annotations

import contextlib
import os
import time

from gitexp.errors import GitexpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: git hooks import this module
if TYPE_CHECKING:
    from typing import IO, Any, Protocol

    class Process(Protocol):
        stdin: IO[bytes] | None
        stdout: IO[bytes] | None
        stderr: IO[bytes] | None

        def wait(self) -> int: ...

        def kill(self) -> None: ...


class GitCommandError(GitexpError):
    """`git` failed or is not installed."""


def find_program(name: str) -> str | None:
    """The executable `name` on PATH, as `shutil.which` finds it (POSIX), without importing shutil."""
    search = os.environ.get("PATH")
    if search is None:
        search = os.confstr("CS_PATH") if hasattr(os, "confstr") else os.defpath
    if not search:
        return None
    for folder in search.split(os.pathsep):
        path = os.path.join(folder, name)
        if os.path.exists(path) and os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def not_installed() -> GitCommandError:
    return GitCommandError("the git command is not installed", hint="install git and retry")


def failure(args: tuple[str, ...] | list[str], code: int, stderr: bytes) -> GitCommandError:
    """The error for `git args…` that exited with `code`: git's own last line."""
    said = stderr.decode("utf-8", "replace").strip().splitlines()
    return GitCommandError(f"git {args[0]} failed: {said[-1] if said else f'exit code {code}'}")


class _Spawned:
    """`git -C cwd args…` started by os.posix_spawnp, with pipes for its stdout, and for its stdin and
    stderr when asked for (else stdin is empty and stderr is this process's, or /dev/null if `quiet`)."""

    def __init__(self, cwd: str, args: tuple[str, ...], stdin: bool, stderr: bool, quiet: bool = False) -> None:
        ends = {fd: os.pipe() for fd, wanted in ((0, stdin), (1, True), (2, stderr)) if wanted}  # fd: (read, write)
        actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_DUP2, pair[0] if fd == 0 else pair[1], fd)
                                          for fd, pair in ends.items()]
        if not stdin:
            actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
        if quiet and not stderr:
            actions.append((os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0))
        try:
            # Python ignores SIGPIPE; git should not inherit that (subprocess resets it too).
            self.pid = os.posix_spawnp("git", ["git", "-C", cwd, *args], os.environ, file_actions=actions,
                                       setsigdef=_SIGPIPE)
        except BaseException as exc:
            for pair in ends.values():
                os.close(pair[0])
                os.close(pair[1])
            if isinstance(exc, FileNotFoundError):
                raise not_installed() from None
            raise
        for fd, pair in ends.items():
            os.close(pair[0] if fd == 0 else pair[1])  # the child's ends; ours are close-on-exec
        self.stdin: IO[bytes] | None = open(ends[0][1], "wb") if stdin else None
        self.stdout: IO[bytes] | None = open(ends[1][0], "rb")
        self.stderr: IO[bytes] | None = open(ends[2][0], "rb") if stderr else None

    def wait(self) -> int:
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)  # SIGKILL


try:
    from _signal import SIGPIPE

    _SIGPIPE: tuple[int, ...] = (SIGPIPE,)
except ImportError:
    _SIGPIPE = ()


def start(cwd: str, *args: str, stdin: bool = False, stderr: bool = True, quiet: bool = False) -> Process:
    """`git args…` in `cwd`, its stdout (and stderr, and stdin when asked) as pipes; `quiet`: stderr to /dev/null."""
    if hasattr(os, "posix_spawnp"):
        return _Spawned(cwd, args, stdin, stderr, quiet)
    import subprocess

    pipe = subprocess.PIPE
    try:
        return subprocess.Popen(["git", "-C", cwd, *args], stdin=pipe if stdin else subprocess.DEVNULL, stdout=pipe,
                                stderr=pipe if stderr else subprocess.DEVNULL if quiet else None)
    except FileNotFoundError:
        raise not_installed() from None


_early: dict[tuple[str, ...], tuple[float, Process]] = {}  # by start_early: (when, process) for one run()
EARLY_MAX_AGE = 1.0  # seconds: an answer older than this is not used (a run start that waited for a lock)


def start_early(cwd: str, *args: str, stdin: bool = False, quiet: bool = False) -> None:
    """Start `git args…` in `cwd` now, for a later `run(cwd, *args)` (or `adopt`) to collect: git
    answers on the other core while this process loads its modules (a run start). One never
    collected is left to finish on its own (its output is small, and nothing waits for it; a
    process reading stdin ends when this one does), or is ended by `drop_early`."""
    key = (cwd, *args)
    if key not in _early:
        try:
            _early[key] = (time.monotonic(), start(cwd, *args, stdin=stdin, quiet=quiet))
        except (GitCommandError, OSError):
            pass  # run() starts it again and says what is wrong


def adopt(cwd: str, *args: str, quiet: bool = False) -> Process:
    """A long-lived `git args…` in `cwd` with stdin and stdout pipes (`git cat-file --batch`): the one
    `start_early` started, whatever its age (it answers what it is asked when it is asked), else a new one."""
    early = _early.pop((cwd, *args), None)
    return early[1] if early is not None else start(cwd, *args, stdin=True, stderr=False, quiet=quiet)


def drop_early() -> None:
    """End the early processes nobody collected (before a run's child starts: none lingers for hours)."""
    while _early:
        _stop(_early.popitem()[1][1])


def _collect_early(key: tuple[str, ...]) -> Process | None:
    """The process start_early started for `key`, if its answer is still fresh; a stale one is ended."""
    when, proc = _early.pop(key, (0.0, None))
    if proc is None or time.monotonic() - when <= EARLY_MAX_AGE:
        return proc
    _stop(proc)
    return None


def _stop(proc: Process) -> None:
    """Close our ends of its pipes (a git still writing gets SIGPIPE, one reading stdin its end) and reap it."""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    proc.wait()


def run(cwd: str, *args: str) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of `git args…` in `cwd` (started by `start_early` if it was).

    stdout is read to its end before stderr: fine for the short commands of a hook,
    whose stderr is a line or two (not tens of kilobytes, which would fill the pipe).
    """
    proc = _collect_early((cwd, *args)) or start(cwd, *args)
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        out = proc.stdout.read()
        err = proc.stderr.read()
    return proc.wait(), out, err


def git(cwd: str, *args: str) -> str:
    """`git args…` in `cwd`: its stdout as text, or GitCommandError with git's own message."""
    code, out, err = run(cwd, *args)
    if code != 0:
        raise failure(args, code, err)
    return out.decode("utf-8", "surrogateescape")


def index_tree(root: str) -> str:
    """The tree id of what is staged (`git write-tree`: honours GIT_INDEX_FILE, milliseconds)."""
    return git(root, "write-tree").strip()
