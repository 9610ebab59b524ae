"""The command of `gitexp run` as a child process, started without the subprocess module.

`import subprocess` (with selectors and locale) was 8% of a `gitexp run -- true`. The
child cannot be made by `os.posix_spawn` (gitproc's way for git): before its exec it must
ask the kernel to kill it when `gitexp run` dies (PR_SET_PDEATHSIG). So it is started as
subprocess starts a child with a `preexec_fn`: fork, set up, exec, and an exec that fails
reports its errno through a close-on-exec pipe, raised here as subprocess raises it.
`Child` answers as much of `subprocess.Popen` as `gitexp run` uses. Where there is no
fork (Windows), subprocess starts it.

As with subprocess, the child inherits stdin, and SIGPIPE and SIGXFSZ (which Python ignores)
are reset to their defaults. Descriptors gitexp made are close-on-exec; any this process
inherited from its own parent pass on to the command, as a shell passes them.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from collections.abc import Callable
    from io import BufferedReader

_RESET = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))
_EXEC_FAILED = 255  # the child's exit code when its exec failed (the parent raises instead)


class Child:
    """A started command: `pid`, `args`, its stdout and stderr as pipes, and Popen's `poll`,
    `wait` and `send_signal` (one thread may wait while a signal handler or a timer polls)."""

    def __init__(self, args: list[str], env: dict[str, str], setup: Callable[[], None] | None = None) -> None:
        self.args = args
        self.returncode: int | None = None
        self._reaping = threading.Lock()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        report_r, report_w = os.pipe()
        try:
            self.pid = _fork()
        except BaseException:
            for fd in (out_r, out_w, err_r, err_w, report_r, report_w):
                os.close(fd)
            raise
        if self.pid == 0:  # the child: never returns
            _exec(args, env, setup, out_w, err_w, report_w)
        for fd in (out_w, err_w, report_w):
            os.close(fd)
        with open(report_r, "rb") as report:
            failure = report.read()  # empty: the exec closed the pipe
        if failure:
            os.close(out_r)
            os.close(err_r)
            self.wait()
            code = int(failure) if failure.isdigit() else errno.EINVAL
            raise OSError(code, os.strerror(code), args[0])  # FileNotFoundError, PermissionError, …
        self.stdout: BufferedReader = open(out_r, "rb")
        self.stderr: BufferedReader = open(err_r, "rb")

    def poll(self) -> int | None:
        """The exit code (negative: the signal that killed it), or None while it runs."""
        if self.returncode is None and self._reaping.acquire(blocking=False):
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere: as subprocess, taken as 0
                self.returncode = 0
            finally:
                self._reaping.release()
        return self.returncode

    def wait(self) -> int:
        """Wait for the child to end; its exit code as `poll` gives it."""
        while self.returncode is None:
            with self._reaping:
                if self.returncode is not None:
                    break
                try:
                    status = os.waitpid(self.pid, 0)[1]
                except ChildProcessError:
                    self.returncode = 0
                    break
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Send `signum` unless the child has ended (its pid may be another process's by then)."""
        if self.poll() is None:
            os.kill(self.pid, signum)


def _fork() -> int:
    """os.fork(), without Python 3.12's warning about forking beside threads: the child only execs
    after a few system calls (the flush thread's locks are never taken there), as subprocess's
    child with a `preexec_fn`, which that warning leaves alone."""
    if sys.version_info < (3, 12):
        return os.fork()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def start(args: list[str], env: dict[str, str], setup: Callable[[], None] | None = None) -> Child:
    """Run `args` (found on `env`'s PATH) with `env`, its stdout and stderr piped to us, after `setup`
    in the child (fork only; without fork, subprocess starts it and `setup` is not run)."""
    if hasattr(os, "fork"):
        return Child(args, env, setup)
    import subprocess  # pragma: no cover - Windows

    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # type: ignore[return-value]


def _exec(args: list[str], env: dict[str, str], setup: Callable[[], None] | None,
          out_w: int, err_w: int, report_w: int) -> None:
    """In the forked child: wire stdout and stderr, set up, exec; on failure say why and exit."""
    try:
        # A pipe may have got descriptor 0, 1 or 2 (this process started with one closed):
        # moved above 2 first, no dup2 below overwrites another.
        out_w, err_w, report_w = (_above_stdio(fd) for fd in (out_w, err_w, report_w))
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        if setup is not None:
            setup()
        os.execvpe(args[0], args, env)
    except BaseException as exc:
        try:
            os.write(report_w, str(getattr(exc, "errno", None) or errno.EINVAL).encode())
        except BaseException:
            pass
    finally:
        os._exit(_EXEC_FAILED)


def _above_stdio(fd: int) -> int:
    """`fd`, or a close-on-exec copy of it numbered 3 or more when it is 0, 1 or 2."""
    if fd > 2:
        return fd
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
