"""`gitexp run`'s command process (services/tracking/child.py): Popen's behaviour without subprocess."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from gitexp.services.tracking import child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="child.py forks only where fork exists")


def test_the_command_runs_with_its_environment_and_its_output_piped() -> None:
    proc = child.start(["sh", "-c", 'echo "out $GREETING"; echo err >&2; exit 3'],
                       {**os.environ, "GREETING": "hi"})
    assert proc.stdout.read() == b"out hi\n" and proc.stderr.read() == b"err\n"
    assert proc.wait() == 3 and proc.poll() == 3 and proc.returncode == 3
    assert proc.args[0] == "sh" and proc.pid > 0


def test_an_exec_that_fails_raises_as_subprocess_does(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        child.start(["no-such-command-gitexp"], dict(os.environ))
    script = tmp_path / "plain.txt"
    script.write_text("echo hi\n")
    with pytest.raises(PermissionError):
        child.start([str(script)], dict(os.environ))
    script.chmod(0o755)
    script.write_bytes(b"\x7fELF-but-not-really")
    with pytest.raises(OSError) as caught:
        child.start([str(script)], dict(os.environ))
    assert caught.value.errno == 8  # ENOEXEC


def test_a_setup_that_fails_is_raised_too() -> None:
    def setup() -> None:
        raise PermissionError(13, "refused")

    with pytest.raises(PermissionError):
        child.start(["true"], dict(os.environ), setup)


def test_poll_wait_and_signals() -> None:
    proc = child.start([sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ))
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == -signal.SIGTERM
    proc.send_signal(signal.SIGTERM)  # ended and reaped: nothing is sent (its pid may be reused)


def test_the_setup_runs_in_the_child_and_sigpipe_is_not_ignored_there() -> None:
    proc = child.start(["sh", "-c", "ps -o pgid= -p $$; grep SigIgn /proc/self/status"], dict(os.environ),
                       setup=lambda: os.setpgid(0, 0))
    out = proc.stdout.read().decode().split()
    assert proc.wait() == 0
    assert int(out[0]) == proc.pid != os.getpgrp()  # its own process group, made by the setup
    ignored = int(out[-1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))  # Python ignores SIGPIPE; the command must not


def test_descriptors_made_by_gitexp_do_not_reach_the_command(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "private", os.O_WRONLY | os.O_CREAT)
    try:
        proc = child.start(["sh", "-c", f"[ -e /proc/$$/fd/{fd} ] && echo open || echo closed"], dict(os.environ))
        assert proc.stdout.read() == b"closed\n" and proc.wait() == 0
    finally:
        os.close(fd)
