"""Store-level reliability: full disks, concurrent git maintenance, hostile records,
SHA-256 repositories, `.git` paths and submodules (real repositories, real git)."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from gitexp.errors import WriteFailed
from gitexp.services.tracking import run as tracking
from gitexp.store.journal import JournalWriter, read_journals
from gitexp.store.repo import open_repo
from tests.helpers import cli, git, record


# -- 1. full disk: failed writes keep their points, torn frames do not hide later ones ---------

def _points(n: int, start: int = 0) -> list[tuple[str, int, float, float]]:
    return [("loss", s, float(s), 1.0) for s in range(start, start + n)]


def test_reader_resynchronises_after_a_torn_frame(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    writer.pending.extend(_points(100))
    writer.flush()
    with open(writer.points_path, "ab") as f:  # what a short write at ENOSPC used to leave
        f.write(b"GXM1\x40\x00\x00\x00\x00\x00\x00\x00partial")
    writer._ends[writer._points_fd] = writer.points_path.stat().st_size
    writer.pending.extend(_points(900, 100))
    writer.flush()
    writer.close()
    steps = [p[0] for p in read_journals(tmp_path).metrics["loss"]]
    assert steps == list(range(1000))


class _FullDisk:
    """An os.write stand-in: writes `room` bytes in all, then fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, fd: int, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.room)
        self.room -= n
        return os.write(fd, data[:n])  # a short write first, as a filling disk does


def test_failed_write_keeps_points_queued_in_order_and_leaves_no_torn_frame(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    writer.pending.extend(_points(10))
    writer.flush()
    good_size = writer.points_path.stat().st_size
    writer._write = _FullDisk(room=7)
    writer.pending.extend(_points(50, 10))
    with pytest.raises(WriteFailed, match="kept queued"):
        writer.flush()
    assert writer.points_path.stat().st_size == good_size  # the partial frame was cut off
    writer.pending.extend(_points(40, 60))  # the hot path keeps appending meanwhile
    with pytest.raises(WriteFailed):
        writer.flush()
    assert [p[1] for p in writer.pending] == list(range(10, 100))
    writer._write = os.write  # space freed
    writer.flush()
    writer.close()
    assert [p[0] for p in read_journals(tmp_path).metrics["loss"]] == list(range(100))


def test_events_survive_a_full_disk_too(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    writer._write = _FullDisk(room=3)
    writer.event("p", "lr", 0.1)  # never raises: queued, retried by the next flush
    assert read_journals(tmp_path).params == {}
    writer._write = os.write
    writer.close()
    assert read_journals(tmp_path).params == {"lr": 0.1}


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MiB tmpfs (needs root and mount rights)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.decode().strip()[:80]}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_real_full_filesystem_loses_no_points(small_disk: Path) -> None:
    writer = JournalWriter(small_disk / "active")
    writer.pending.extend(_points(1000))
    writer.flush()
    filler = _fill(small_disk)
    writer.pending.extend(_points(20_000, 1000))
    with pytest.raises(WriteFailed, match="No space left"):
        writer.flush()
    filler.unlink()
    writer.flush()
    writer.close()
    assert [p[0] for p in read_journals(small_disk / "active").metrics["loss"]] == list(range(21_000))


def test_end_refuses_to_finish_a_run_with_unwritten_points(repo: Path) -> None:
    with open_repo(repo) as db:
        run = tracking.create_run(db, "disk", "full-disk")
    for step in range(5):
        run.log_metric("loss", 1.0, step=step)
    run.flush()
    run.log_metric("loss", 2.0, step=5)
    run.journal._write = _FullDisk(room=0)
    with pytest.raises(WriteFailed, match="was not ended: 1 queued points"):
        run.end()
    assert record(repo, run.ref)["status"] == "RUNNING"  # never FINISHED with a point missing
    assert run.folder.path.is_dir()  # its journal is left for recovery
    listed = cli("ls", "--all", cwd=repo)  # another process recovers it from the journal
    assert listed.returncode == 0, listed.stderr
    assert record(repo, run.ref)["status"] == "KILLED"
    assert len(git(repo, "show", f"{run.ref}:.gitexp/metrics/loss.tsv").splitlines()) == 6


def test_background_flush_warns_once_and_keeps_points(repo: Path, capsys: pytest.CaptureFixture) -> None:
    with open_repo(repo) as db:
        run = tracking.create_run(db, "disk", "warned")
    old_interval = tracking._flusher.interval
    tracking._flusher.interval = 0.01
    try:
        run.journal._write = _FullDisk(room=0)
        run.log_metric("loss", 1.0)
        deadline = time.monotonic() + 5
        while not getattr(run, "_flush_warned", False) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # several more failed flushes
        run.journal._write = os.write
        run.end()
    finally:
        tracking._flusher.interval = old_interval
    err = capsys.readouterr().err
    assert err.count("could not write") == 1, err
    assert "kept queued" in err
    assert record(repo, run.ref)["status"] == "FINISHED"
    assert len(git(repo, "show", f"{run.ref}:.gitexp/metrics/loss.tsv").splitlines()) == 2
