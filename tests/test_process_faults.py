"""Processes and environments: fork, GIT_DIR / GIT_WORK_TREE, ownership, stale ref locks, signals.

Issue 7, items 3, 10, 12 and 13; real git, real processes (and a real terminal for Ctrl-C).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gitexp
from gitexp.services.tracking.localstate import active_dirs
from tests.helpers import cli, default_signals, git, init_repo, metric_rows, run_refs, show

# Real processes, servers and remotes: minutes on a loaded machine, so outside the README's
# 90-second selection; .ci/run runs them with -m "slow or interop".
pytestmark = pytest.mark.slow

PY = sys.executable
LINUX = sys.platform.startswith("linux")


def py(repo: Path, body: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-c", textwrap.dedent(body), *args], cwd=repo, capture_output=True,
                          text=True, timeout=timeout)


def history_sizes(repo: Path, name: str) -> dict[str, int]:
    run = gitexp.get_run(name)
    return {key: len(points) for key, points in run.history.items()}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def wait_until(predicate, timeout: float = 20) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# -- item 3: fork ------------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_logs_once_each_and_queued_points_are_not_written_twice(repo: Path) -> None:
    """100 points queued at fork(); the child logs 10 and leaves by os._exit without a flush."""
    p = py(repo, """\
        import os, gitexp
        with gitexp.start_run(run_name="forked"):
            for i in range(100):
                gitexp.log_metric("parent", float(i))
            pid = os.fork()
            if pid == 0:
                for i in range(10):
                    gitexp.log_metric("child", float(i))
                gitexp.set_tag("from", "child")
                os._exit(0)  # no flush, no atexit: what multiprocessing workers do
            os.waitpid(pid, 0)
            for i in range(100, 110):
                gitexp.log_metric("parent", float(i))
    """)
    assert p.returncode == 0, p.stderr
    assert history_sizes(repo, "forked") == {"parent": 110, "child": 10}
    assert gitexp.get_run("forked").tags == {"from": "child"}
    assert not active_dirs(repo / ".git" / "gitexp")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_goes_on_from_the_steps_logged_before_the_fork(repo: Path) -> None:
    p = py(repo, """\
        import os, gitexp
        with gitexp.start_run(run_name="steps"):
            gitexp.log_metric("explicit", 1.0, step=41)  # the child's next automatic step is 42
            gitexp.log_metric("auto", 1.0)
            gitexp.log_metric("auto", 1.0)  # the child's next is 2
            pid = os.fork()
            if pid == 0:
                gitexp.log_metric("explicit", 2.0)
                gitexp.log_metric("auto", 2.0)
                gitexp.log_metric("auto", 2.0, step=9)
                gitexp.log_metric("auto", 2.0)
                os._exit(0)
            os.waitpid(pid, 0)
    """)
    assert p.returncode == 0, p.stderr
    steps = {k: sorted(int(r[0]) for r in metric_rows(repo, run_refs(repo)[0], k)) for k in ("explicit", "auto")}
    assert steps == {"explicit": [41, 42], "auto": [0, 1, 2, 9, 10]}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_from_a_resumed_run_goes_on_after_its_steps(repo: Path) -> None:
    p = py(repo, """\
        import os, gitexp
        with gitexp.start_run(run_name="again") as run:
            for i in range(10):
                gitexp.log_metric("loss", float(i))
        with gitexp.start_run(run_id=run.id):
            pid = os.fork()  # before the resumed run logs `loss` again
            if pid == 0:
                pid2 = os.fork()  # a grandchild too
                if pid2 == 0:
                    gitexp.log_metric("other", 1.0)
                    os._exit(0)
                os.waitpid(pid2, 0)
                gitexp.log_metric("loss", 10.0)
                os._exit(0)
            os.waitpid(pid, 0)
    """)
    assert p.returncode == 0, p.stderr
    steps = sorted(int(r[0]) for r in metric_rows(repo, run_refs(repo)[0], "loss"))
    assert steps == list(range(11))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_that_only_execs_skips_the_hooks_for_logging_children(repo: Path) -> None:
    """`gitexp run` starts its command through such a fork: the child takes no lock, makes no journal."""
    p = py(repo, """\
        import os, gitexp
        from gitexp.services.tracking import run as tracking
        with gitexp.start_run(run_name="exec") as run:
            gitexp.log_metric("a", 1.0)
            active = tracking._flusher._runs
            with tracking.forking_to_exec():
                pid = os.fork()
                if pid == 0:  # what a preexec_fn would see
                    ok = all(type(r.journal) is tracking.JournalWriter and not r._write_through for r in active)
                    os._exit(0 if ok else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            pid = os.fork()  # an ordinary fork still prepares a logging child
            if pid == 0:
                os._exit(0 if all(r._write_through for r in active) else 4)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
    """)
    assert p.returncode == 0, p.stderr
    assert history_sizes(repo, "exec") == {"a": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_multiprocessing_fork_pool_workers_log_to_the_run(repo: Path) -> None:
    """A fork-context Pool used as a context manager (terminate() at the end): no point lost."""
    (repo / "pool.py").write_text(textwrap.dedent("""\
        import multiprocessing as mp, os, gitexp

        def work(i):
            for j in range(25):
                gitexp.log_metric("worker", float(i), step=i * 25 + j)
            return os.getpid()

        if __name__ == "__main__":
            with gitexp.start_run(run_name="pooled"):
                gitexp.log_metric("before", 1.0)
                with mp.get_context("fork").Pool(2) as pool:
                    pids = pool.map(work, range(8))
                gitexp.log_metric("after", 1.0)
            print(len(set(pids)))
    """))
    p = subprocess.run([PY, "pool.py"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert history_sizes(repo, "pooled") == {"before": 1, "worker": 200, "after": 1}
    steps = sorted(s for s, _, _ in gitexp.get_run("pooled").metric_history("worker"))
    assert steps == list(range(200))
    assert gitexp.get_run("pooled").status == "FINISHED"
    assert git(repo, "fsck", "--no-dangling") == ""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_keeps_the_run_alive_after_its_parent_dies(repo: Path, tmp_path: Path) -> None:
    """The child holds the run's attached lock: the run is not taken for dead while the child logs."""
    go, err = tmp_path / "go", tmp_path / "stderr"
    body = f"""\
        import os, time, gitexp
        gitexp.start_run(run_name="orphaned")
        gitexp.log_metric("m", 1.0)
        if os.fork() == 0:
            gitexp.log_metric("m", 2.0)
            deadline = time.time() + 60
            while not os.path.exists({str(go)!r}) and time.time() < deadline:
                time.sleep(0.02)
            gitexp.log_metric("m", 3.0)
            os._exit(0)
        gitexp.flush()
        time.sleep(0.3)
        os._exit(0)  # the owner dies without ending the run
    """
    with open(err, "w") as stderr:  # not a pipe: the child, still running, would keep it open
        parent = subprocess.run([PY, "-c", textwrap.dedent(body)], cwd=repo, stdout=subprocess.DEVNULL,
                                stderr=stderr, timeout=60)
    assert parent.returncode == 0, err.read_text()
    assert cli("ls", cwd=repo).returncode == 0
    assert gitexp.get_run("orphaned").status == "RUNNING"  # its child still logs
    go.write_text("")
    assert wait_until(lambda: gitexp.get_run("orphaned").status == "KILLED")
    assert [v for _, v, _ in gitexp.get_run("orphaned").metric_history("m")] == [1.0, 2.0, 3.0]


# -- item 10: GIT_DIR, GIT_WORK_TREE, ownership ----------------------------------------------------------

def test_git_dir_names_the_repository(tmp_path: Path) -> None:
    a, b = init_repo(tmp_path / "a"), init_repo(tmp_path / "b")
    p = cli("run", "-e", "envtest", "--", "true", cwd=a, env={"GIT_DIR": str(b / ".git")})
    assert p.returncode == 0, p.stderr
    assert run_refs(a) == [] and len(run_refs(b, "envtest")) == 1  # as `git` would: B
    listed = cli("ls", "--all", "--json", cwd=a, env={"GIT_DIR": str(b / ".git")})
    assert '"envtest"' in listed.stdout
    missing = cli("ls", cwd=a, env={"GIT_DIR": str(tmp_path / "nowhere")})
    assert missing.returncode != 0 and "not a git repository" in missing.stderr and "GIT_DIR" in missing.stderr


def test_git_dir_and_git_work_tree_snapshot_that_work_tree(tmp_path: Path) -> None:
    c = init_repo(tmp_path / "c")
    tree = tmp_path / "elsewhere"
    tree.mkdir()
    (tree / "only-here.txt").write_text("work tree file\n")
    (tree / "train.py").write_text("print('changed')\n")
    env = {"GIT_DIR": str(c / ".git"), "GIT_WORK_TREE": str(tree)}
    p = cli("run", "-e", "wt", "--", "true", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    [ref] = run_refs(c, "wt")
    assert show(c, ref, "only-here.txt") == "work tree file\n"
    assert show(c, ref, "train.py") == "print('changed')\n"
    # GIT_WORK_TREE alone: the repository is found from the current folder, the files come from there
    p = cli("run", "-e", "wt2", "--", "true", cwd=c, env={"GIT_WORK_TREE": str(tree)})
    assert p.returncode == 0, p.stderr
    [ref] = run_refs(c, "wt2")
    assert show(c, ref, "only-here.txt") == "work tree file\n"


def test_git_dir_without_work_tree_uses_the_current_folder(tmp_path: Path) -> None:
    c = init_repo(tmp_path / "c")
    here = tmp_path / "cwd"
    here.mkdir()
    (here / "cwd-file.txt").write_text("x\n")
    p = cli("run", "-e", "cwd", "--", "true", cwd=here, env={"GIT_DIR": str(c / ".git")})
    assert p.returncode == 0, p.stderr
    [ref] = run_refs(c, "cwd")
    assert show(c, ref, "cwd-file.txt") == "x\n"  # git's rule: GIT_DIR alone, the work tree is "."


def _root_owned_files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.lstat().st_uid == 0)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to chown a repository to another user")
def test_repository_owned_by_another_user_is_refused_as_git_does(tmp_path: Path) -> None:
    import pwd

    other = pwd.getpwnam("nobody").pw_uid
    u = init_repo(tmp_path / "u")
    assert cli("run", "-n", "mine", "--", "true", cwd=u).returncode == 0
    for p in [u, *u.rglob("*")]:
        os.lchown(p, other, -1)
    git_says = subprocess.run(["git", "status"], cwd=u, capture_output=True, text=True).stderr
    assert "dubious ownership" in git_says
    for args in (["ls"], ["run", "--", "true"], ["show", "mine"]):
        p = cli(*args, cwd=u)
        assert p.returncode != 0, (args, p.stdout)
        assert f"detected dubious ownership in repository at '{u}'" in p.stderr
        assert f"git config --global --add safe.directory {u}" in p.stderr
    assert _root_owned_files(u) == 0  # nothing written into the other user's repository
    # git's own exception list (global config) lets it through, as it lets git through
    git(tmp_path, "config", "--global", "--add", "safe.directory", str(u))
    assert subprocess.run(["git", "status"], cwd=u, capture_output=True).returncode == 0
    p = cli("ls", cwd=u)
    assert p.returncode == 0 and "mine" in p.stdout, p.stderr
    git(tmp_path, "config", "--global", "--unset-all", "safe.directory")
    git(tmp_path, "config", "--global", "--add", "safe.directory", "*")
    assert cli("ls", cwd=u).returncode == 0
    git(tmp_path, "config", "--global", "--add", "safe.directory", "")  # an empty value resets the list
    assert cli("ls", cwd=u).returncode != 0
    # the repository's own config is never trusted for this
    git(tmp_path, "config", "--global", "--unset-all", "safe.directory")
    (u / ".git" / "config").write_text((u / ".git" / "config").read_text() + f"[safe]\n\tdirectory = {u}\n")
    assert cli("ls", cwd=u).returncode != 0


# -- item 12: stale ref lock, the wrapper killed or hung up ------------------------------------------

def test_stale_ref_lock_is_named_with_how_to_remove_it(repo: Path) -> None:
    p = py(repo, """\
        import os, gitexp
        run = gitexp.start_run(run_name="locked")
        gitexp.log_metric("x", 1.0)
        gitexp.flush()
        open(os.path.join(".git", run.ref + ".lock"), "w").close()  # what a kill -9 inside a ref update leaves
        os._exit(0)
    """)
    assert p.returncode == 0, p.stderr
    [ref] = run_refs(repo)
    lock = repo / ".git" / f"{ref}.lock"
    for args in (["ls"], ["show", "locked"]):
        out = cli(*args, cwd=repo)
        assert out.returncode == 0, out.stderr
        assert "RUNNING" in out.stdout
        assert f"locked by {lock}" in out.stderr and f"rm '{lock}'" in out.stderr
        assert "If no git or gitexp command is running" in out.stderr
    lock.unlink()
    out = cli("ls", cwd=repo)
    assert "KILLED" in out.stdout and "warning" not in out.stderr
    assert [v for _, v, _ in gitexp.get_run("locked").metric_history("x")] == [1.0]


CHILD = """\
import os, signal, sys, time
import gitexp

side = sys.argv[1]
def note(text):
    with open(side, "a") as f:
        f.write(text + "\\n")
def handler(signum, frame):
    note(f"signal {signum}")
    if signum == signal.SIGINT and open(side).read().count("signal 2") == 1:
        raise KeyboardInterrupt
signal.signal(signal.SIGINT, handler)
if "ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, handler)
gitexp.log_metric("m", 1.0)
gitexp.flush()
note(f"pid {os.getpid()}")
try:
    while True:
        time.sleep(0.02)
except KeyboardInterrupt:
    note("clean-up started")  # saving a checkpoint: a second Ctrl-C here would abort it
    end = time.time() + 1.5
    while time.time() < end:
        time.sleep(0.02)
    note("clean-up done")
"""


def _child_pid(side: Path, timeout: float = 30) -> int:
    assert wait_until(lambda: side.exists() and "pid " in side.read_text(), timeout), "the child never started"
    return int(side.read_text().split("pid ")[1].split()[0])


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux only")
def test_sigkill_of_gitexp_run_takes_its_child_along(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(CHILD)
    side = tmp_path / "side"
    wrapper = subprocess.Popen([PY, "-m", "gitexp", "run", "-n", "orphan", "--", PY, str(tmp_path / "child.py"),
                                str(side)], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = _child_pid(side)
    wrapper.kill()
    wrapper.wait(timeout=10)
    try:
        assert wait_until(lambda: not pid_alive(child), 10), "the child outlived gitexp run"
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
    assert wait_until(lambda: gitexp.get_run("orphan").status == "KILLED")
    assert [v for _, v, _ in gitexp.get_run("orphan").metric_history("m")] == [1.0]


def test_under_nohup_a_hang_up_is_ignored_by_gitexp_run_and_its_child(repo: Path, tmp_path: Path) -> None:
    """nohup means hang-ups are ignored: gitexp run neither dies of one nor passes it on."""
    (tmp_path / "child.py").write_text(CHILD)
    side = tmp_path / "side"
    wrapper = subprocess.Popen([PY, "-m", "gitexp", "run", "-n", "nohup", "--", PY, str(tmp_path / "child.py"),
                                str(side)], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    child = _child_pid(side)
    wrapper.send_signal(signal.SIGHUP)
    time.sleep(1.0)  # the forwarder's grace is 0.5 s: a forwarded hang-up would have arrived
    try:
        assert wrapper.poll() is None and pid_alive(child)
        os.kill(child, signal.SIGINT)  # the child's own clean-up, then a normal exit
        assert wrapper.wait(timeout=90) == 0, wrapper.stderr.read()
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
    assert gitexp.get_run("nohup").status == "FINISHED"  # an ignored hang-up killed nothing


def test_sighup_of_gitexp_run_is_handed_to_the_child(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(CHILD)
    side = tmp_path / "side"
    wrapper = subprocess.Popen([PY, "-m", "gitexp", "run", "-n", "hungup", "--", PY, str(tmp_path / "child.py"),
                                str(side)], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True,  # no terminal: the hang-up comes from kill
                               preexec_fn=default_signals)  # even when the tests run under nohup
    child = _child_pid(side)
    wrapper.send_signal(signal.SIGHUP)
    try:
        code = wrapper.wait(timeout=90)  # it ends the run first: seconds on a loaded machine
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
    assert code == 129, wrapper.stderr.read()  # the wrapper outlived the hang-up and reports the child's fate
    assert not pid_alive(child)
    run = gitexp.get_run("hungup")
    assert run.status == "KILLED" and run.info.exit_code == 129


# -- item 13: Ctrl-C in a terminal ------------------------------------------------------------------------

def _in_terminal(repo: Path, tmp_path: Path, presses: list[float], *extra: str) -> tuple[int, str, str]:
    """Run `gitexp run -- child` in a new pseudo-terminal (foreground) and press Ctrl-C there."""
    import pty

    (tmp_path / "child.py").write_text(CHILD)
    side = tmp_path / "side"
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs
        try:
            os.chdir(repo)
            os.execv(PY, [PY, "-m", "gitexp", "run", "-n", "interrupted", "--", PY, str(tmp_path / "child.py"),
                          str(side), *extra])
        finally:
            os._exit(127)
    out = bytearray()

    def drain(seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    out.extend(os.read(fd, 65536))
                except OSError:
                    return

    try:
        deadline = time.time() + 30
        while not (side.exists() and "pid " in side.read_text()) and time.time() < deadline:
            drain(0.05)
        drain(0.3)
        for gap in presses:
            os.write(fd, b"\x03")  # the terminal turns it into SIGINT for its foreground process group
            drain(gap)
        deadline = time.time() + 20
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            drain(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            done, status = os.waitpid(pid, 0)
        drain(0.2)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace"), side.read_text()


@pytest.mark.skipif(not LINUX, reason="pseudo-terminal job control as on Linux")
def test_one_ctrl_c_reaches_the_child_once_and_its_clean_up_finishes(repo: Path, tmp_path: Path) -> None:
    code, out, fate = _in_terminal(repo, tmp_path, [0.1])
    assert fate.count("signal 2") == 1, fate  # not a second one from gitexp after FORWARD_GRACE
    assert "clean-up done" in fate, fate
    assert "SIGTERM" not in out and "SIGKILL" not in out
    assert gitexp.get_run("interrupted").status == "KILLED"


@pytest.mark.skipif(not LINUX, reason="pseudo-terminal job control as on Linux")
def test_repeated_ctrl_c_escalates_to_sigterm_then_sigkill(repo: Path, tmp_path: Path) -> None:
    code, out, fate = _in_terminal(repo, tmp_path, [0.4, 0.4, 0.4], "ignore-term")
    # The terminal's own SIGINT of the third Ctrl-C may reach the child just before gitexp's SIGKILL.
    assert fate.count("signal 2") in (2, 3) and fate.count("signal 15") == 1, fate  # TERM caught and ignored ...
    assert "interrupted again: sending SIGTERM" in out and "interrupted a third time: sending SIGKILL" in out
    assert code == 137  # ... so the third Ctrl-C killed it
    run = gitexp.get_run("interrupted")
    assert run.status == "KILLED" and run.info.exit_code == 137


@pytest.mark.skipif(not LINUX, reason="process groups of gitexp run's child as on Linux")
@pytest.mark.parametrize("to_group", [True, False], ids=["kill-to-group", "kill-to-gitexp-run"])
def test_sigint_without_a_terminal_reaches_the_child_once(repo: Path, tmp_path: Path, to_group: bool) -> None:
    """A CI runner's `kill -INT -<pgid>` (or a kill of gitexp run alone): one SIGINT, clean-up finishes."""
    (tmp_path / "child.py").write_text(CHILD)
    side = tmp_path / "side"
    wrapper = subprocess.Popen([PY, "-m", "gitexp", "run", "-n", "nottty", "--", PY, str(tmp_path / "child.py"),
                                str(side)], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)  # no controlling terminal
    child = _child_pid(side)
    if to_group:
        os.killpg(wrapper.pid, signal.SIGINT)
    else:
        os.kill(wrapper.pid, signal.SIGINT)
    try:
        wrapper.wait(timeout=30)
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
    fate = side.read_text()
    assert fate.count("signal 2") == 1 and "clean-up done" in fate, fate
    assert gitexp.get_run("nottty").status == "KILLED"


def test_search_of_many_uncached_runs_never_re_runs_an_unguarded_script(repo: Path, tmp_path: Path) -> None:
    """Issue 7 item 4: 450 runs arrive uncached while a script with no `__main__` guard runs one;
    its search must not start workers that import `__main__` (its top level ran once per worker)."""
    with gitexp.start_run(experiment="seed", run_name="seed"):
        gitexp.log_metric("x", 1.0)
    tip = git(repo, "for-each-ref", "--format=%(objectname)", "refs/gitexp/runs/seed").strip()
    tree = git(repo, "rev-parse", f"{tip}^{{tree}}").strip()
    copies = [git(repo, "commit-tree", tree, "-m", f"copy {i}").strip() for i in range(450)]
    (tmp_path / "refs.txt").write_text("".join(
        f"create refs/gitexp/runs/many/1m8m{i:012x} {sha}\n" for i, sha in enumerate(copies)))
    log = tmp_path / "toplevel.log"
    (tmp_path / "train.py").write_text(textwrap.dedent(f"""\
        import os, subprocess, gitexp
        gitexp.set_repository({str(repo)!r})
        open({str(log)!r}, "a").write(f"{{os.getpid()}}\\n")
        run = gitexp.start_run(experiment="spawn")
        if __name__ == "__main__":
            subprocess.run(["git", "update-ref", "--stdin"], cwd={str(repo)!r},
                           stdin=open({str(tmp_path / "refs.txt")!r}), check=True)
        print("found", len(gitexp.search_runs(experiment=None)))
        gitexp.end_run()
    """))
    p = subprocess.run([PY, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["found", "452"]
    assert len(log.read_text().splitlines()) == 1
    assert len(run_refs(repo, "spawn")) == 1
