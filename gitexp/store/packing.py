"""Packing loose objects incrementally, as `git gc --auto` would, without racing a user's `git gc`.

gitexp writes small objects loose (a run adds ~15); each takes a 4 KiB block
and a directory entry, so 2,000 runs made 32,000 files and 156 MB. When the
loose objects pass a threshold (estimated as git does, from one fan-out folder
of 256), they are packed into one pack, and small packs are rolled up
geometrically (`git repack --geometric=2 -d`), so the number of packs stays
logarithmic and every read searches few of them.

Run refs are packed in the same pass (`git pack-refs --all`, as `git gc` does):
a loose ref is a 41-byte file in a 4 KiB block, and 2,000 of them made a listing
open 2,000 files; packed, they are lines of one `packed-refs` file.

Never on a hot path: the check is one small directory listing, made when a run
ends; the packing itself runs in a detached process. It takes git's own
`gc.pid` lock (the protocol of `git gc`): a `git gc` already running makes
gitexp skip packing, and a `git gc` started meanwhile says that gc is running.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

from gitexp.store.atomic import read_file
from gitexp.store.flock import host_name
from gitexp.store.gitproc import find_program
from gitexp.store.repo import GitDB, open_repo

DEFAULT_THRESHOLD = 1000  # loose objects (git config gitexp.packThreshold; 0: never pack)
SAMPLE = "17"  # the fan-out folder git samples too
GC_PID_MAX_AGE = 12 * 3600  # git ignores an older gc.pid
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR")


def estimate_loose(db: GitDB, exact: bool = False) -> int:
    """Loose objects in the repository, estimated from one fan-out folder (as `git gc --auto`).

    `exact` counts all 256 folders (for thresholds too small for a sample to tell).
    """
    root = os.path.join(db.place.common_dir, "objects")  # where dulwich and git keep them: no need to load dulwich
    if not exact:
        return 256 * _count(os.path.join(root, SAMPLE), db.hex_length - 2)
    return sum(_count(os.path.join(root, f"{n:02x}"), db.hex_length - 2) for n in range(256))


def _count(folder: str, name_length: int) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(1 for e in entries if len(e.name) == name_length)
    except OSError:
        return 0


def needs_packing(db: GitDB, threshold: int = DEFAULT_THRESHOLD) -> bool:
    return threshold > 0 and estimate_loose(db, exact=threshold < 256) > threshold


def maybe_pack(db: GitDB, threshold: int = DEFAULT_THRESHOLD, detach: bool = True) -> bool:
    """Pack loose objects if they passed `threshold`; in a detached process unless `detach` is False.

    Returns True if packing was started (or done). Never raises: packing is housekeeping.
    """
    try:
        if not needs_packing(db, threshold):
            return False
        if not detach:
            return pack_loose_objects(db)
        return _spawn(db.place.common_dir)
    except Exception:
        return False


def pack_loose_objects(db: GitDB) -> bool:
    """Pack the loose objects now, under git's gc lock; False if a gc was running (nothing done)."""
    with gc_lock(db.place.common_dir) as held:
        if not held:
            return False
        git = find_program("git")
        if git is not None and _git(git, db.place.common_dir, "repack", "-q", "-d", "--geometric=2"):
            _git(git, db.place.common_dir, "pack-refs", "--all")
            return True
        # No git (or it failed): dulwich packs the loose objects into one pack.
        db.repo.object_store.pack_loose_objects()
        return True


def _git(git: str, common_dir: str, *args: str) -> bool:
    """Run a housekeeping git command (`repack`: loose objects and small packs into one pack,
    packs kept few; `pack-refs`: loose refs into packed-refs); True if it succeeded."""
    import subprocess  # here: a run's end imports this module, and packs once in a thousand objects

    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    proc = subprocess.run([git, f"--git-dir={common_dir}", *args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return proc.returncode == 0


@contextlib.contextmanager
def gc_lock(common_dir: str | os.PathLike[str]) -> Iterator[bool]:
    """Hold `gc.pid` as `git gc` does; yields False when a gc (git's or gitexp's) is running.

    git's protocol: create `gc.pid.lock` exclusively, respect a `gc.pid` younger
    than 12 hours whose process is alive (or on another host), else write
    "<pid> <host>" and rename the lock over `gc.pid`; remove it when done.
    """
    lock, pid_file = os.path.join(common_dir, "gc.pid.lock"), os.path.join(common_dir, "gc.pid")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        yield False
        return
    mine = f"{os.getpid()} {host_name()}"
    try:
        if _gc_running(pid_file):
            os.close(fd)
            os.unlink(lock)
            yield False
            return
        os.write(fd, mine.encode())
        os.close(fd)
        os.replace(lock, pid_file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        raise
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            if read_file(pid_file).decode(errors="replace").strip() == mine:
                os.unlink(pid_file)


def _gc_running(pid_file: str) -> bool:
    try:
        if time.time() - os.stat(pid_file).st_mtime > GC_PID_MAX_AGE:
            return False
        pid_text, _, host = read_file(pid_file).decode(errors="replace").strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if host != host_name():
        return True  # be gentle to a gc on another machine (a shared file system), as git is
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _spawn(common_dir: str) -> bool:
    """Start the packer detached: a fresh interpreter (never re-importing a user's `__main__`)."""
    if not sys.executable:
        return False
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    subprocess.Popen([sys.executable, "-m", "gitexp.store.packing", common_dir],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, env=env)
    return True


def main(argv: list[str]) -> int:
    with open_repo(argv[0]) as db:
        pack_loose_objects(db)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
