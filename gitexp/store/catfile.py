"""Objects in bulk through one `git cat-file` process: thousands of reads for the price of a few.

A cold listing reads six objects per run (a commit, its record folder, four small
files). Through dulwich each read is a pack-index search and an inflate in
Python, ~1 ms of a run's cost; `git cat-file --batch --buffer` answers a
pipelined stream of requests in C. Callers keep dulwich as the fallback for
repositories without a `git` command and for anything this reader declines.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    import queue
    import subprocess

    from gitexp.store.gitproc import Process

# subprocess is imported where a process is started: a warm listing never starts one.

MISSING = "missing"  # the type of an answer for an object (or `<rev>:<path>`) the repository lacks
ROUND = 200  # commits a round of `folder_files`: the first files are handed out at once
OLD_GIT_ROUND = 5000  # with a git before 2.36, two processes a round: fewer, bigger rounds
RUN_AHEAD_BYTES = 1 << 20  # git's answers waiting in the pipe (Linux): git reads the next round meanwhile
Files = dict[str, bytes]


class CatFileError(Exception):
    """`git cat-file` could not be run, or answered something unexpected: read another way."""


def available() -> bool:
    """Whether a `git` command is installed."""
    from gitexp.store.gitproc import find_program

    return find_program("git") is not None


def cat(git_dir: str | os.PathLike[str], requests: Iterable[str],
        contents: bool = True) -> list[tuple[str, int, bytes]]:
    """(type, size, content) for each request (`<id>` or `<rev>:<path>`), in order.

    With `contents=False` only types and sizes are read (`--batch-check`; content b"").
    An absent object answers (MISSING, 0, b""). Requests are written by a thread
    while answers are read, so neither side waits on a full pipe.
    """
    wanted = list(requests)
    if not wanted:
        return []
    mode = "--batch" if contents else "--batch-check"
    import subprocess

    try:
        proc = subprocess.Popen(["git", "--git-dir", os.fspath(git_dir), "cat-file", mode, "--buffer"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise CatFileError(f"cannot run git: {exc}") from None
    assert proc.stdin is not None and proc.stdout is not None
    writer = threading.Thread(target=_write, args=(proc.stdin, wanted), daemon=True)
    writer.start()
    try:
        return [_answer(proc.stdout, contents) for _ in wanted]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        writer.join()


def _write(stdin: object, requests: list[str]) -> None:
    try:
        stdin.write("".join(f"{r}\n" for r in requests).encode())  # type: ignore[attr-defined]
        stdin.close()  # type: ignore[attr-defined]
    except (OSError, ValueError):  # the reader stopped early and killed git
        pass


def _answer(out: object, contents: bool, limit: int | None = None) -> tuple[str, int, bytes]:
    kind, size = _header(out.readline())  # type: ignore[attr-defined]
    if kind == MISSING or not contents:
        return kind, size, b""
    if limit is not None and size > limit:
        _skip(out, size + 1)
        return kind, size, b""
    data = out.read(size + 1)  # type: ignore[attr-defined]
    if len(data) != size + 1:
        raise CatFileError("git cat-file stopped mid-answer")
    return kind, size, data[:size]


def _skip(out: object, count: int) -> None:
    """Read past `count` bytes a piece at a time (content over a limit is never held whole)."""
    while count > 0:
        piece = out.read(min(count, 1 << 20))  # type: ignore[attr-defined]
        if not piece:
            raise CatFileError("git cat-file stopped mid-answer")
        count -= len(piece)


class Reader:
    """`cat` for many rounds of requests through one `git cat-file --batch-command` process.

    A cold listing reads its records in rounds of a few hundred, so that parsing starts
    at once; one process answers them all (git 2.36+: `flush` ends a round), where a
    process per round would cost a few milliseconds each. Requests are written by a
    thread, so a caller may `send` the next round before it `receive`s this one's answers:
    git reads while the caller works. With an older git each round is one `cat` process.
    """

    def __init__(self, git_dir: str | os.PathLike[str]) -> None:
        import queue  # here: a warm listing starts no reader

        self.git_dir = os.fspath(git_dir)
        self._proc: subprocess.Popen[bytes] | None = None
        self._new_outbox = queue.Queue
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._rounds = 0  # rounds answered by the process: a failure before any is an older git
        self.old_git = False  # found to have no --batch-command: each round is a `cat`

    def cat(self, requests: list[str], contents: bool = True) -> list[tuple[str, int, bytes]]:
        """`cat(git_dir, requests, contents)`, answered by this reader's process."""
        if not requests:
            return []
        if not self.old_git:
            try:
                self.send(requests, contents)
                return self.receive(len(requests), contents)
            except CatFileError:
                self._give_up()
        return cat(self.git_dir, requests, contents)

    def send(self, requests: list[str], contents: bool = True) -> None:
        """Ask for `requests`; their answers come, in order, from `receive` (after those sent before)."""
        verb = "contents" if contents else "info"
        self._start()
        self._outbox.put("".join(f"{verb} {r}\n" for r in requests).encode() + b"flush\n")

    def receive(self, count: int, contents: bool = True, limit: int | None = None) -> list[tuple[str, int, bytes]]:
        """The next `count` answers; content over `limit` bytes is skipped (b"": the size says why)."""
        proc = self._start()
        assert proc.stdout is not None
        answers = [_answer(proc.stdout, contents, limit) for _ in range(count)]
        self._rounds += 1
        return answers

    def folder_files(self, commits: Sequence[str], folder: str, names: Sequence[str], limit: int,
                     hash_bytes: int) -> Iterator[tuple[str, Files | None]]:
        """The regular files `names` in `folder` of each commit, as `folder_files` describes them."""
        rounds = [commits[i:i + ROUND] for i in range(0, len(commits), ROUND)]
        if not rounds:
            return
        try:
            self.send(_folder_requests(rounds[0], folder))
            plans = _plans(self.receive(2 * len(rounds[0])), names, hash_bytes)
        except CatFileError:
            self._give_up()
            yield from self._rounds_apart(commits, folder, names, limit, hash_bytes)
            return
        wanted = _wanted(plans)
        self.send(wanted)
        for k, current in enumerate(rounds):
            upcoming = rounds[k + 1] if k + 1 < len(rounds) else None
            if upcoming is not None:
                self.send(_folder_requests(upcoming, folder))
            data = _blobs(wanted, self.receive(len(wanted), limit=limit), limit)
            current_plans = plans
            if upcoming is not None:  # the next round's blobs asked for before this round is handed out
                plans = _plans(self.receive(2 * len(upcoming)), names, hash_bytes)
                wanted = _wanted(plans)
                self.send(wanted)
            yield from _files(current, current_plans, data)

    def _rounds_apart(self, commits: Sequence[str], folder: str, names: Sequence[str], limit: int,
                      hash_bytes: int) -> Iterator[tuple[str, Files | None]]:
        """`folder_files` with a git before 2.36: each pass of a round is one `cat` process."""
        for start in range(0, len(commits), OLD_GIT_ROUND):
            current = commits[start:start + OLD_GIT_ROUND]
            plans = _plans(cat(self.git_dir, _folder_requests(current, folder)), names, hash_bytes)
            wanted = _wanted(plans)
            yield from _files(current, plans, _blobs(wanted, cat(self.git_dir, wanted), limit))

    def _give_up(self) -> None:
        """After a failure: an error if this process answered before, else git is too old to serve."""
        self.close()
        if self._rounds:
            raise CatFileError("git cat-file stopped")
        self.old_git = True

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            import subprocess

            try:
                self._proc = subprocess.Popen(
                    ["git", "--git-dir", self.git_dir, "cat-file", "--batch-command", "--buffer"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError as exc:
                raise CatFileError(f"cannot run git: {exc}") from None
            _widen(self._proc.stdout)
            self._outbox = self._new_outbox()
            self._writer = threading.Thread(target=_feed, args=(self._proc.stdin, self._outbox), daemon=True)
            self._writer.start()
        return self._proc

    def close(self) -> None:
        self._outbox.put(None)
        _stop(self._proc)
        self._proc = None
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def folder_files(git_dir: str | os.PathLike[str], commits: Sequence[str], folder: str, names: Sequence[str],
                 limit: int, hash_bytes: int) -> Iterator[tuple[str, Files | None]]:
    """The regular files `names` in `folder` of many commits, through one `git cat-file`.

    Yields (commit, {name: bytes}) in order, absent files (or a folder by that name) left
    out, or (commit, None) for a commit this reader declines: not a commit, a file that is
    not a regular file, not a blob, or over `limit` bytes (its content is never kept).
    Commits are read ROUND at a time, each round's files asked for before the previous
    round is handed out, so git reads while the caller parses. Raises CatFileError when
    `git` cannot serve.
    """
    with Reader(git_dir) as reader:
        yield from reader.folder_files(commits, folder, names, limit, hash_bytes)


def _folder_requests(commits: Sequence[str], folder: str) -> list[str]:
    return [r for c in commits for r in (c, f"{c}:{folder}")]


def _plans(answers: list[tuple[str, int, bytes]], names: Sequence[str], hash_bytes: int) -> list[dict[str, str] | None]:
    """{name: blob id} of the wanted files of each (commit, folder) pair of answers; None to decline it."""
    return [_plan(answers[i], answers[i + 1], names, hash_bytes) for i in range(0, len(answers), 2)]


def _plan(commit: tuple[str, int, bytes], folder: tuple[str, int, bytes], names: Sequence[str],
          hash_bytes: int) -> dict[str, str] | None:
    if commit[0] != "commit":
        return None
    if folder[0] != "tree":  # no folder (or a file by that name): no files
        return {}
    try:
        entries = tree_entries(folder[2], hash_bytes)
    except ValueError:
        return None
    plan = {}
    for name in names:
        mode, sha = entries.get(name, (stat.S_IFDIR, ""))
        if stat.S_ISDIR(mode):
            continue  # absent
        if not stat.S_ISREG(mode):
            return None
        plan[name] = sha
    return plan


def _wanted(plans: list[dict[str, str] | None]) -> list[str]:
    return sorted({sha for plan in plans if plan for sha in plan.values()})


def _blobs(wanted: list[str], answers: list[tuple[str, int, bytes]], limit: int) -> dict[str, bytes]:
    return {sha: content for sha, (kind, size, content) in zip(wanted, answers) if kind == "blob" and size <= limit}


def _files(commits: Sequence[str], plans: list[dict[str, str] | None],
           data: dict[str, bytes]) -> Iterator[tuple[str, Files | None]]:
    for commit, plan in zip(commits, plans):
        if plan is None or any(sha not in data for sha in plan.values()):
            yield commit, None
        else:
            yield commit, {name: data[sha] for name, sha in plan.items()}


def _feed(stdin: object, outbox: queue.Queue[bytes | None]) -> None:
    """Write what is put in `outbox` to git until None (or git is gone)."""
    try:
        while (data := outbox.get()) is not None:
            stdin.write(data)  # type: ignore[attr-defined]
            stdin.flush()  # type: ignore[attr-defined]
    except (OSError, ValueError):  # git ended, or was stopped
        pass


def _widen(pipe: object) -> None:
    """Let git run ahead: a pipe of RUN_AHEAD_BYTES where Linux allows it (best effort)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, RUN_AHEAD_BYTES)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass


def _stop(proc: Process | None) -> None:
    if proc is not None:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:  # commands still buffered for a git that is gone
                pass


def tree_entries(data: bytes, hash_bytes: int) -> dict[str, tuple[int, str]]:
    """{name: (mode, hex id)} of a raw tree object."""
    out: dict[str, tuple[int, str]] = {}
    i, n = 0, len(data)
    while i < n:
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        end = nul + 1 + hash_bytes
        if end > n:
            raise ValueError("truncated tree")
        out[data[space + 1:nul].decode("utf-8", "surrogateescape")] = (int(data[i:space], 8),
                                                                       data[nul + 1:end].hex())
        i = end
    return out


class Batch:
    """One `git cat-file --batch` kept open for reads one at a time (`show`, `diff`: a few objects).

    Starting it costs a few milliseconds, far less than loading dulwich to read two records.
    """

    def __init__(self, git_dir: str | os.PathLike[str]) -> None:
        self.git_dir = os.fspath(git_dir)
        self._proc: Process | None = None
        self._lock = threading.Lock()  # one request and its answer at a time (the UI serves from threads)

    def read(self, sha: str, limit: int | None = None) -> tuple[str, bytes]:
        """(type, content) of object `sha`; (MISSING, b"") when absent.

        An object over `limit` bytes raises ValueError before its content is read.
        """
        with self._lock:
            return self._read(sha, limit)

    def _read(self, sha: str, limit: int | None) -> tuple[str, bytes]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(f"{sha}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline()
        except OSError as exc:
            self.close()
            raise CatFileError(f"git cat-file stopped: {exc}") from None
        kind, size = _header(header)
        if kind == MISSING:
            return MISSING, b""
        if limit is not None and size > limit:
            self.close()  # the content is never read: another read starts a fresh process
            raise ValueError(f"{size} bytes")
        data = proc.stdout.read(size + 1)
        if len(data) != size + 1:
            self.close()
            raise CatFileError("git cat-file stopped mid-answer")
        return kind, data[:size]

    def _start(self) -> Process:
        if self._proc is None:
            from gitexp.store import gitproc
            from gitexp.store.location import batch_command

            try:  # a run start has started it early (run_cmd), so git is ready when the first read comes
                self._proc = gitproc.adopt(*batch_command(self.git_dir), quiet=True)
            except (gitproc.GitCommandError, OSError) as exc:
                raise CatFileError(f"cannot run git: {exc}") from None
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        _stop(proc)


def _header(header: bytes) -> tuple[str, int]:
    """(type, size) of a `--batch` answer's header line."""
    if header.endswith(b" missing\n"):
        return MISSING, 0
    parts = header.split()
    if len(parts) != 3 or not parts[2].isdigit():
        raise CatFileError(f"unexpected answer from git cat-file: {header[:80]!r}")
    return parts[1].decode(), int(parts[2])
