"""The run start's light replacements (dataclasses, typing, shutil, the cache module) and what a run start loads."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitexp.services.tracking.localstate import ActiveDir
from gitexp.settings import Settings
from gitexp.slots import Value
from gitexp.store.gitproc import find_program
from gitexp.store.record import Artifact, RunInfo
from gitexp.store.runcommit import Record
from tests.helpers import git

PY = sys.executable


def test_record_classes_compare_copy_and_show_by_their_fields() -> None:
    info = RunInfo("1m8pavx68sysg6ej", "brisk-otter", "default", command=["python", "train.py"])
    same = RunInfo("1m8pavx68sysg6ej", "brisk-otter", "default", command=["python", "train.py"])
    assert info == same and info != RunInfo("1m8pavx68sysg6ej", "other", "default")
    assert info != ("1m8pavx68sysg6ej",) and RunInfo("x", "y", "z").command == []
    ended = info.replace(status="FINISHED", exit_code=0)
    assert (ended.status, ended.exit_code, ended.command, info.status) == ("FINISHED", 0, ["python", "train.py"],
                                                                            "RUNNING")
    assert list(info.as_dict()) == list(RunInfo.__slots__) and info.as_dict()["name"] == "brisk-otter"
    shown = "Artifact(path='m.bin', size=3, sha256='ab', inline=False, blob=None)"
    assert repr(Artifact("m.bin", 3, "ab", False)) == shown
    with pytest.raises(TypeError, match="no field 'stauts'"):
        info.replace(stauts="FINISHED")
    with pytest.raises(TypeError):
        hash(info)
    record = Record(info, {"lr": 0.1}, {}, {}, [])
    assert record == Record(same, {"lr": 0.1}, {}, {}, []) and record != Record(info, {"lr": 0.2}, {}, {}, [])


class Pair(Value):
    """Two numbers."""

    low: int
    high: int = 10

    @property
    def span(self) -> int:
        return self.high - self.low

    def widened(self, by: int) -> Pair:
        return self._replace(high=self.high + by)


def test_values_are_the_namedtuples_typing_would_make() -> None:
    pair = Pair(3)
    low, high = pair
    assert (low, high, pair.span, pair.widened(5)) == (3, 10, 7, Pair(3, 15))
    assert pair == (3, 10) and hash(pair) == hash((3, 10)) and pair._asdict() == {"low": 3, "high": 10}
    assert repr(pair) == "Pair(low=3, high=10)" and Pair.__doc__ == "Two numbers." and Pair._fields == ("low", "high")
    assert pickle.loads(pickle.dumps(Pair(1, 2))) == Pair(1, 2) and Pair.__module__ == __name__
    with pytest.raises(AttributeError):
        pair.low = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot use super"):
        class Broken(Value):
            x: int

            def shown(self) -> str:
                return super().__repr__()
    with pytest.raises(TypeError, match="without a default follows"):
        type("Bad", (Value,), {"__module__": __name__, "__annotations__": {"a": "int", "b": "int"}, "a": 1})


def test_defaults_are_not_shared_between_instances() -> None:
    a, b = RunInfo("x", "y", "z"), RunInfo("x", "y", "z")
    a.command.append("python")
    a.skipped.append({"path": "big"})
    assert b.command == [] and b.skipped == []
    s, t = Settings(), Settings()
    s.snapshot.ignore.append("data/")
    s.remote_stores["origin"] = "/tmp/store"
    assert t.snapshot.ignore == [] and t.remote_stores == {}


def test_find_program_agrees_with_shutil_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "tool").chmod(0o755)
    (tmp_path / "bin" / "plain").write_text("not executable\n")
    (tmp_path / "bin" / "folder").mkdir()
    for path in (f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin", "", f"{os.pathsep}/usr/bin"):
        monkeypatch.setenv("PATH", path)
        monkeypatch.chdir(tmp_path / "bin")
        for name in ("tool", "plain", "folder", "git", "sh", "no-such-program-here"):
            assert find_program(name) == shutil.which(name), (path, name)


def test_removing_an_active_folder_takes_everything_but_what_links_point_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    folder = ActiveDir(str(tmp_path / "active" / "1m8pavx68sysg6ej"))
    root = Path(folder.path)
    (root / "staged" / "ab").mkdir(parents=True)
    (root / "staged" / "ab" / "cdef").write_bytes(b"x")
    (root / "points.bin").write_bytes(b"y")
    (root / "link-to-folder").symlink_to(outside)
    (root / "link-to-file").symlink_to(outside / "keep.txt")
    folder.remove()
    assert not root.exists() and (outside / "keep.txt").read_text() == "keep"
    folder.remove()  # already gone: nothing to do, no error


HEAVY = ("dataclasses", "inspect", "typing", "shutil", "click", "dulwich", "ctypes", "getpass", "datetime",
         "pathlib", "urllib.parse", "json", "tempfile", "subprocess", "selectors", "locale")


@pytest.mark.parametrize("with_cache", [False, True], ids=["no-cache", "cache"])
def test_a_run_start_loads_none_of_the_heavy_modules(repo: Path, with_cache: bool) -> None:
    """Nor pathlib (with urllib and ipaddress: 10% of a run), json or subprocess: a run's start and end use
    os.path, write run.json with json's C string encoder and fork the command themselves (child.py).
    Asked at exit: `gitexp run` ends its process in entry()."""
    if with_cache:
        assert subprocess.run([PY, "-m", "gitexp", "ls"], cwd=repo, capture_output=True).returncode == 0
        assert (repo / ".git" / "gitexp" / "index.sqlite").exists()
    code = ("import atexit, sys\nsys.argv = ['gitexp', 'run', '--', 'true']\n"
            f"atexit.register(lambda: print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules)))\n"
            "from gitexp import _entry\n_entry.entry()\n")
    proc = subprocess.run([PY, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "loaded:"
    assert len(git(repo, "for-each-ref", "refs/gitexp/runs/").splitlines()) == 1


def test_a_run_ends_its_process_at_once_with_the_commands_code_and_output(repo: Path) -> None:
    """Skipping the interpreter's teardown loses nothing: atexit handlers run, stdout and stderr are
    flushed; a thread that is not a daemon still gets the usual exit."""
    code = ("import atexit, sys\natexit.register(lambda: print('atexit ran'))\n"
            "sys.argv = ['gitexp', 'run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']\n"
            "print('buffered', end='')\nfrom gitexp import _entry\n_entry.entry()\nprint('not reached')\n")
    proc = subprocess.run([PY, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 3
    assert proc.stdout == "bufferedout\natexit ran\n"
    assert "err\n" in proc.stderr and "FAILED (exit code 3" in proc.stderr
    waiting = ("import sys, threading\ngo = threading.Event()\nthreading.Thread(target=go.wait).start()\n"
               "sys.argv = ['gitexp', 'run', '--', 'true']\nfrom gitexp import _entry\n"
               "try:\n    _entry.entry()\nexcept SystemExit as e:\n    print('usual exit', e.code)\ngo.set()\n")
    proc = subprocess.run([PY, "-c", waiting], cwd=repo, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "usual exit 0\n"), proc.stderr


def test_cache_rows_reads_the_index_and_never_creates_or_repairs_it(repo: Path) -> None:
    from gitexp.services.session import INDEX_FILE, open_session

    index = repo / ".git" / "gitexp" / INDEX_FILE
    with open_session(repo) as s:
        assert s.cache_rows("SELECT name FROM runs") == [] and not index.exists()
    subprocess.run([PY, "-m", "gitexp", "run", "-n", "first", "--", "true"], cwd=repo, check=True, capture_output=True)
    subprocess.run([PY, "-m", "gitexp", "ls"], cwd=repo, check=True, capture_output=True)  # builds the index
    with open_session(repo) as s:
        assert s.cache_rows("SELECT name FROM runs") == [("first",)]
        assert "cache" not in s.__dict__  # the cache module was not needed
    index.write_bytes(b"not a database" * 100)
    with open_session(repo) as s:
        assert s.cache_rows("SELECT name FROM runs") == []
    assert index.read_bytes().startswith(b"not a database")  # left for the cache itself to replace
    proc = subprocess.run([PY, "-m", "gitexp", "run", "-n", "first", "--", "true"], cwd=repo, capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "a run named 'first' already exists" in proc.stderr  # the name book still knows


def test_a_run_start_collects_the_git_processes_it_started_early(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.cli.run_cmd import _start_git_early
    from gitexp.services.session import open_session
    from gitexp.store import gitproc
    from gitexp.store.snapshot import snapshot_worktree

    subprocess.run(["git", "gc", "-q"], cwd=repo, check=True)  # HEAD's commit packed: read through cat-file
    (repo / "new.txt").write_text("untracked\n")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    _start_git_early()
    assert len(gitproc._early) == 3
    batch = next(proc for key, (_, proc) in gitproc._early.items() if "cat-file" in key)
    with open_session() as s:
        early = s.settings.default_experiment
        snap = snapshot_worktree(s.db, s.settings.snapshot)
        head = s.db.read_ref("HEAD")
        assert head is not None and s.db.commit_info(head)[0] == git(repo, "rev-parse", "HEAD^{tree}").strip()
        assert s.db._cat is not None and s.db._cat._proc is batch  # the early cat-file answered
    assert gitproc._early == {}  # every answer was used
    assert early == "default" and "new.txt" in snap.files
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))  # found another way: nothing is started early
    _start_git_early()
    assert gitproc._early == {}


def test_a_run_reads_the_git_config_once_from_start_to_end(repo: Path, tmp_path: Path) -> None:
    """The end commits and writes its ref with what the start read (identity, core.fsync)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "git-calls"
    (shims / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {find_program("git")} "$@"\n')
    (shims / "git").chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([PY, "-m", "gitexp", "run", "--", "true"], cwd=repo, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert len([c for c in calls if " config " in f" {c} "]) == 1, calls
    assert git(repo, "for-each-ref", "--format=%(objecttype)", "refs/gitexp/runs/").split() == ["commit"]


def test_early_processes_nobody_asked_are_ended_before_a_runs_child_starts(repo: Path) -> None:
    from gitexp.store import gitproc
    from gitexp.store.location import batch_command

    gitproc.start_early(*batch_command(str(repo / ".git")), stdin=True, quiet=True)
    gitproc.start_early(str(repo), "config", "-z", "--list")
    pids = [proc.pid for _, proc in gitproc._early.values()]  # type: ignore[attr-defined]
    gitproc.drop_early()
    assert gitproc._early == {}
    for pid in pids:  # reaped: no such child any more
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_an_early_answer_older_than_a_second_is_not_used(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run start that waited (for params.yaml's lock) lists the untracked files as they are then."""
    from gitexp.store import gitproc

    command = (str(repo), "ls-files", "-o", "--exclude-standard", "-z")
    gitproc.start_early(*command)
    (repo / "made-meanwhile.txt").write_text("new\n")
    monkeypatch.setattr(gitproc, "EARLY_MAX_AGE", 0.0)
    assert b"made-meanwhile.txt" in gitproc.run(*command)[1]  # a fresh git process answered
    assert gitproc._early == {}


def test_the_collector_is_off_while_a_command_starts_and_back_on_before_a_runs_child_starts(repo: Path) -> None:
    code = ("import gc, sys\nfrom gitexp import _entry\n"
            "sys.argv = ['gitexp', 'ls']\ntry:\n    _entry.entry()\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "print(gc.isenabled(), gc.get_freeze_count() > 0)\n"  # a short command ends with it off
            "import atexit\natexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 0))\n"
            "sys.argv = ['gitexp', 'run', '--', 'true']\n_entry.entry()\n")  # a run's process ends in entry()
    proc = subprocess.run([PY, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-3:] == ["False False", "True True", ""]


def test_a_collector_turned_off_by_the_program_itself_stays_off() -> None:
    code = ("import gc\nfrom gitexp import gcpause\ngc.disable()\ngcpause.pause()\ngcpause.resume()\n"
            "print(gc.isenabled(), gc.get_freeze_count())\n")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False 0"


@pytest.mark.parametrize("ref", ["refs/gitexp/runs/default/1m8pavx68sysg6ej", 'refs/gitexp/runs/ü"x\\y\n\t/1'])
def test_run_json_is_what_json_dumps_writes(tmp_path: Path, ref: str) -> None:
    import json

    from gitexp.store.flock import host_name

    folder = ActiveDir(str(tmp_path))
    folder.write_owner(ref)
    text = (tmp_path / "run.json").read_text(encoding="utf-8")
    assert text == json.dumps({"ref": ref, "pid": os.getpid(), "host": host_name()})
    assert folder.read_meta() == {"ref": ref, "pid": os.getpid(), "host": host_name()}


@pytest.mark.parametrize("path", ["/tmp/a b/index.sqlite", "/x/%3F?#[]é/ü~-._", "/"])
def test_the_index_uri_is_what_pathlib_makes(path: str) -> None:
    from gitexp.services.session import file_uri

    assert file_uri(path) == Path(path).as_uri()


@pytest.mark.parametrize("closed", [1, 2], ids=["stdout", "stderr"])
def test_a_run_started_with_stdout_or_stderr_closed_still_runs_and_is_recorded(repo: Path, closed: int) -> None:
    """`gitexp run -- cmd >&-`: Python has no sys.stdout then; it used to fail with an AttributeError."""
    command = ["sh", "-c", "echo out; echo err >&2; exit 5"]
    proc = subprocess.run([PY, "-m", "gitexp", "run", "-n", "closed", "--", *command], cwd=repo,
                          capture_output=True, text=True, preexec_fn=lambda: os.close(closed))
    assert proc.returncode == 5, proc.stderr
    shown = subprocess.run([PY, "-m", "gitexp", "show", "closed"], cwd=repo, capture_output=True, text=True)
    assert shown.returncode == 0 and "FAILED" in shown.stdout
    [ref] = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs/").split()
    assert sorted(git(repo, "show", f"{ref}:.gitexp/output.log").split()) == ["err", "out"]  # all recorded
