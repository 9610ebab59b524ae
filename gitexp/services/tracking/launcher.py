"""`gitexp run`: run a command as a tracked run, streaming and recording its output."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from io import BufferedReader

from gitexp import gcpause
from gitexp.errors import CommandNotFound, GitexpError, NotExecutable
from gitexp.services.tracking import child as children
from gitexp.services.tracking import run as tracking
from gitexp.services.session import Session
from gitexp.settings import PARAMS_FILE
from gitexp.slots import Value
from gitexp.store import gitproc
from gitexp.store.atomic import read_file, write_atomic
from gitexp.store.gitproc import find_program
from gitexp.store.repo import GitDB

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import IO, Any

    from gitexp.services.tracking.paramsfile import Override, ParamsFile
    from gitexp.services.tracking.paramslock import Notify, ParamsLock

# Seconds before a Ctrl-C or hang-up from `kill` is forwarded (a group-wide kill reached the child too).
FORWARD_GRACE = 0.5


class LaunchSpec:
    """What to run and how to record it (a plain class: a dataclass takes a run start ~1 ms to make).

    `overrides` are `-p` as typed (without them `params` are plain sets); `force` lets them add
    keys and change shapes (`--force`); `wait` waits for a run holding params.yaml (False: refuse).
    """

    def __init__(self, command: list[str], experiment: str | None = None, name: str | None = None,
                 params: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                 restore_params_file: bool = True, overrides: list[Override] | None = None,
                 force: bool = False, wait: bool = True) -> None:
        self.command, self.experiment, self.name = command, experiment, name
        self.params, self.tags = params if params is not None else {}, tags if tags is not None else {}
        self.restore_params_file, self.overrides = restore_params_file, overrides or []
        self.force, self.wait = force, wait


class LaunchResult(Value):
    run_id: str
    name: str
    status: str
    exit_code: int
    duration: float
    params_file_restored: bool | None = None
    interrupted_clean_exit: bool = False  # the child caught Ctrl-C/SIGTERM and exited 0


class TailFile:
    """Append-only log that keeps only its last `cap` bytes (rewritten past 2×cap)."""

    def __init__(self, path: str, cap: int) -> None:
        self.path, self.cap = path, cap
        self._file = open(path, "ab")
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._file.write(data)
            self._file.flush()
            if self._file.tell() > 2 * self.cap:
                self._trim()

    def _trim(self) -> None:
        self._file.close()
        write_atomic(self.path, read_file(self.path)[-self.cap:], mode=0o644)
        self._file = open(self.path, "ab")

    def close(self) -> None:
        with self._lock:
            self._file.close()
        data = read_file(self.path)
        if len(data) > self.cap:
            write_atomic(self.path, data[-self.cap:], mode=0o644)


def check_command(command: list[str]) -> None:
    if not command:
        raise GitexpError("no command to run", hint="put it after --, e.g. gitexp run -- python train.py")
    exe = command[0]
    if os.sep not in exe:
        if find_program(exe) is None:
            if os.path.isfile(exe):  # a script in this folder: a shell needs ./ too
                raise CommandNotFound(f"command not found: {exe}", hint=f"run it as ./{exe}, or e.g. python {exe}")
            raise CommandNotFound(f"command not found: {exe}", hint="check the spelling, or give its path")
    elif not os.path.isfile(exe):  # a path: check it here, before a run is started for it
        raise CommandNotFound(f"command not found: {exe}", hint="check the path")
    elif not os.access(exe, os.X_OK):
        raise NotExecutable(f"{exe} is not executable",
                            hint=f"chmod +x {exe}, or run it through its interpreter (e.g. sh {exe})")


def launch(s: Session, spec: LaunchSpec, out: IO[bytes], err: IO[bytes],
           on_start: Any = None, notify: Notify | None = None) -> LaunchResult:
    """Start a run, run the command as its child, end the run with the child's fate.

    In a repository with a params.yaml the run holds the file's lock for its whole
    life (see `paramslock`): `notify` is told, in one line, when it has to wait.
    """
    check_command(spec.command)
    lock = _lock_params(s.db, spec, notify)
    try:
        return _launch(s, spec, out, err, on_start, lock)
    finally:
        if lock is not None:
            lock.release()


def _launch(s: Session, spec: LaunchSpec, out: IO[bytes], err: IO[bytes], on_start: Any,
            lock: ParamsLock | None) -> LaunchResult:
    params_file = _prepare_params(s.db, spec, lock)
    try:
        run = tracking.create_run(s, spec.experiment, spec.name, spec.params, spec.tags, spec.command)
    except BaseException:
        _restore(params_file, lock)
        raise
    if lock is not None:
        lock.name_run(run.info.name, " ".join("-p " + o.shown for o in spec.overrides))
    if on_start:
        on_start(run)
    started = time.monotonic()
    status, code = "FAILED", 1
    caught = False
    try:
        status, code = _supervise(run, spec.command, out, err)
        # A child that caught the interrupt and exited 0 was still interrupted: the run is
        # KILLED, and recorded and exited with 130 as a shell reports an interrupted job
        # (docs/concepts.md, "Exit codes").
        if status == "KILLED" and code == 0:
            status, code, caught = "KILLED", INTERRUPTED_EXIT, True
    finally:
        run.end(status, code)
        restored = _restore(params_file, lock) if spec.restore_params_file else None
        if params_file and not spec.restore_params_file and lock is not None:
            lock.drop_backup()
    return LaunchResult(run.id, run.info.name, status, code, time.monotonic() - started, restored, caught)


INTERRUPTED_EXIT = 130


def _restore(params_file: ParamsFile | None, lock: ParamsLock | None) -> bool | None:
    if params_file is None:
        return None
    restored = params_file.restore()
    if lock is not None:
        lock.drop_backup()
    return restored


def _lock_params(db: GitDB, spec: LaunchSpec, notify: Notify | None) -> ParamsLock | None:
    """Hold params.yaml: exclusively to rewrite it, shared to read it as the run's params."""
    if not _has_params_file(db):
        return None
    from gitexp.services.tracking.paramsfile import check_overrides, load_params_file
    from gitexp.services.tracking.paramslock import ParamsLock

    rewrites = bool(spec.overrides or spec.params)
    if spec.overrides:  # refuse bad overrides now rather than after waiting for the lock
        check_overrides(load_params_file(db.root) or {}, spec.overrides, spec.force)
    assert db.root is not None  # (a params file was found in the work tree)
    lock = ParamsLock(db.local_dir, db.root / PARAMS_FILE, exclusive=rewrites)
    lock.acquire(spec.wait, notify, " ".join("-p " + o.shown for o in spec.overrides))
    if lock.restore_leftover() and notify:
        notify(f"restored {PARAMS_FILE}, which a killed run had left rewritten with its -p overrides")
    return lock


def _has_params_file(db: GitDB) -> bool:
    tree = db.place.work_tree
    return tree is not None and os.path.isfile(os.path.join(tree, PARAMS_FILE))


def _prepare_params(db: GitDB, spec: LaunchSpec, lock: ParamsLock | None = None) -> ParamsFile | None:
    """Fold params.yaml (with -p overrides written into it) into the run's params."""
    existing = None
    if _has_params_file(db):
        from gitexp.services.tracking.paramsfile import load_params_file

        existing = load_params_file(db.root)
    if existing is None or db.root is None:
        if spec.overrides:
            spec.params = {o.key: o.value for o in spec.overrides}
        return None
    if not spec.overrides and not spec.params:
        spec.params = existing
        return None
    from gitexp.services.tracking.paramsfile import apply_overrides

    pf = apply_overrides(db.root, spec.overrides or spec.params, spec.force)
    if lock is not None:
        lock.keep_backup(pf.original, pf.written)
    spec.params = pf.params
    return pf


def _supervise(run: tracking.ActiveRun, command: list[str], out: IO[bytes], err: IO[bytes]) -> tuple[str, int]:
    env = {**os.environ, **tracking.env_for(run), "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "1")}
    log = TailFile(run.folder.output_log, run.settings.output_log_max)
    gcpause.resume()  # the command may run for hours: from here on this process collects as usual
    gitproc.drop_early()  # nor does a git started early for the start and never asked linger so long
    try:
        with tracking.forking_to_exec():
            proc = children.start(command, env, _die_with_parent(own_group=not _has_terminal()))
    except OSError as exc:
        log.write(f"gitexp: cannot start {command[0]}: {exc}\n".encode())
        log.close()
        raise GitexpError(f"cannot start {command[0]}: {exc.strerror or exc}",
                          hint="a script needs a #! line, or run it through its interpreter "
                               f"(e.g. python {command[0]})") from None
    killed = _forward_signals(proc, err)
    pumps = [threading.Thread(target=_pump, args=(src, dst, log), daemon=True)
             for src, dst in ((proc.stdout, out), (proc.stderr, err))]
    for t in pumps:
        t.start()
    try:
        code = _wait(proc)
    finally:
        for t in pumps:
            t.join()
        log.close()
        killed.restore()
    # 129/130/137/143: a shell child reporting that its own child died of SIGHUP/SIGINT/SIGKILL/SIGTERM.
    if killed.fired or code in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL, -signal.SIGHUP, 129, 130, 137, 143):
        return "KILLED", _shell_code(code)
    return ("FINISHED" if code == 0 else "FAILED"), _shell_code(code)


def _wait(proc: children.Child) -> int:
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # a second Ctrl-C while the handler is not installed
            continue


def _shell_code(code: int) -> int:
    return 128 - code if code < 0 else code


def _pump(src: BufferedReader | None, dst: IO[bytes], log: TailFile) -> None:
    assert src is not None
    for chunk in iter(lambda: src.read1(65536), b""):
        log.write(chunk)
        try:
            dst.write(chunk)
            dst.flush()
        except (OSError, ValueError):
            pass  # our own stdout went away (closed pipe): keep recording


def _has_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY))
        return True
    except OSError:
        return False


def _die_with_parent(own_group: bool = False) -> Any:
    """A preexec hook that makes the child die if `gitexp run` is killed (Linux: PR_SET_PDEATHSIG).

    Without it a `kill -9` of the wrapper leaves the command running alone,
    logging to a run nobody will end until it exits. With `own_group` (no
    terminal, so no job control to keep) the child leads its own process group:
    a `kill` to our group then reaches it once, through us, never twice.
    """
    prctl = _libc_prctl() if sys.platform.startswith("linux") else None
    if prctl is None:
        return None
    parent = os.getpid()

    def setup() -> None:
        if own_group:
            os.setpgid(0, 0)
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the wrapper died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


def _libc_prctl() -> Any:
    """libc's prctl(2), or None where it cannot be had.

    Made as `ctypes.CDLL(None).prctl` makes it, from `_ctypes`, ctypes' C core:
    `import ctypes` would cost a run start 4% for this one function.
    """
    try:
        import _ctypes

        class Int(_ctypes._SimpleCData):
            _type_ = "i"

        class CFunction(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL
            _restype_ = Int

        class Program:
            _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # None: the program and what it linked (libc)

        return CFunction(("prctl", Program()))  # type: ignore[arg-type]  # a CDLL is read for its _handle only
    except (ImportError, OSError, AttributeError, TypeError):
        return None


class _Forwarder:
    """Handlers for SIGINT, SIGTERM and SIGHUP that pass the signal on when the child missed it.

    A Ctrl-C (and a terminal hang-up) goes to the whole foreground process
    group, so a child in our group that the terminal has in the foreground got
    it already: forwarding it would be a second Ctrl-C, which aborts the
    child's clean-up. A second Ctrl-C sends SIGTERM, a third SIGKILL (said on
    stderr). A signal from `kill` to us (no terminal, or the child in its own
    process group) is forwarded: SIGTERM at once, SIGINT and SIGHUP after
    FORWARD_GRACE unless the child has exited (a `kill` to the group reached it).
    """

    def __init__(self, proc: children.Child, err: IO[bytes] | None = None) -> None:
        self.proc, self.err, self.fired = proc, err, False
        args = proc.args  # the argv list gitexp started
        self.program = str(args[0] if isinstance(args, (list, tuple)) else args)
        self.interrupts = 0
        self._old: dict[int, Any] = {}
        self._tty: int | None = None

    def install(self) -> "_Forwarder":
        if threading.current_thread() is threading.main_thread():
            try:
                self._tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
            except OSError:
                self._tty = None  # no controlling terminal: every signal came from `kill`
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
                    continue  # started under nohup: hang-ups stay ignored, as COMMAND ignores them too
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.fired = True
        if signum == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts == 2:
                self._say(f"interrupted again: sending SIGTERM to {self.program} (pid {self.proc.pid}); "
                          "Ctrl-C once more kills it")
                self._send(signal.SIGTERM)
                return
            if self.interrupts >= 3:
                self._say(f"interrupted a third time: sending SIGKILL to {self.program} (pid {self.proc.pid})")
                self._send(signal.SIGKILL)
                return
        if signum in (signal.SIGINT, signal.SIGHUP):
            if self._child_got_it():
                return
            if self._own_group():
                self._send(signum)  # the terminal's signals never reach a child in its own group
            else:
                threading.Timer(FORWARD_GRACE, self._send, args=(signum,)).start()
        else:
            self._send(signum)

    def _own_group(self) -> bool:
        try:
            return os.getpgid(self.proc.pid) != os.getpgrp()
        except OSError:
            return False

    def _child_got_it(self) -> bool:
        """Whether the terminal sent this signal to a process group the child is in."""
        if self._tty is None or self._own_group():
            return False
        try:
            return os.tcgetpgrp(self._tty) == os.getpgrp()
        except OSError:  # the terminal hung up
            return False

    def _say(self, text: str) -> None:
        try:
            stream = self.err if self.err is not None else sys.stderr.buffer
            stream.write(f"\ngitexp: {text}\n".encode())
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def _send(self, signum: int) -> None:
        if self.proc.poll() is None:
            try:
                if self._own_group() and os.getpgid(self.proc.pid) == self.proc.pid:
                    os.killpg(self.proc.pid, signum)  # the command and its children, as a group kill would
                else:
                    self.proc.send_signal(signum)
            except OSError:
                pass

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        if self._tty is not None:
            os.close(self._tty)
            self._tty = None


def _forward_signals(proc: children.Child, err: IO[bytes] | None = None) -> _Forwarder:
    return _Forwarder(proc, err).install()
