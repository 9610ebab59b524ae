"""Objects in bulk through one `git cat-file` process: thousands of reads for the price of a few.

A cold listing reads seven objects per run (a commit, two trees, four small
files). Through dulwich each read is a pack-index search and an inflate in
Python, ~1 ms of a run's cost; `git cat-file --batch --buffer` answers a
pipelined stream of requests in C. Callers keep dulwich as the fallback for
repositories without a `git` command and for anything this reader declines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

# subprocess is imported where a process is started: a warm listing never starts one.

MISSING = "missing"  # the type of an answer for an object (or `<rev>:<path>`) the repository lacks
PIPE_BYTES = 32 << 10  # commands written before their answers are read: half a pipe's 64 KiB


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


def _answer(out: object, contents: bool) -> tuple[str, int, bytes]:
    kind, size = _header(out.readline())  # type: ignore[attr-defined]
    if kind == MISSING or not contents:
        return kind, size, b""
    data = out.read(size + 1)  # type: ignore[attr-defined]
    if len(data) != size + 1:
        raise CatFileError("git cat-file stopped mid-answer")
    return kind, size, data[:size]


class Reader:
    """`cat` for many rounds of requests through one `git cat-file --batch-command` process.

    A cold listing reads its records in rounds of a few hundred, so that parsing starts
    at once; one process answers them all (git 2.36+: `flush` ends a round), where a
    process per round would cost a few milliseconds each. With an older git each
    round is one `cat` process.
    """

    def __init__(self, git_dir: str | os.PathLike[str]) -> None:
        self.git_dir = os.fspath(git_dir)
        self._proc: subprocess.Popen[bytes] | None = None
        self._rounds = 0  # rounds answered by the process: a failure before any is an older git
        self.old_git = False  # found to have no --batch-command: each round is a `cat`

    def cat(self, requests: list[str], contents: bool = True) -> list[tuple[str, int, bytes]]:
        """`cat(git_dir, requests, contents)`, answered by this reader's process."""
        if not requests:
            return []
        if not self.old_git:
            try:
                answers = self._ask(requests, contents)
                self._rounds += 1
                return answers
            except CatFileError:
                self.close()
                if self._rounds:
                    raise
                self.old_git = True
        return cat(self.git_dir, requests, contents)

    def _ask(self, requests: list[str], contents: bool) -> list[tuple[str, int, bytes]]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        verb = "contents" if contents else "info"
        answers: list[tuple[str, int, bytes]] = []
        for part in _parts(requests):
            try:  # a part fits in the pipe, so writing it never waits on git to read
                proc.stdin.write("".join(f"{verb} {r}\n" for r in part).encode() + b"flush\n")
                proc.stdin.flush()
            except OSError as exc:
                raise CatFileError(f"git cat-file stopped: {exc}") from None
            answers += [_answer(proc.stdout, contents) for _ in part]
        return answers

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            import subprocess

            try:
                self._proc = subprocess.Popen(
                    ["git", "--git-dir", self.git_dir, "cat-file", "--batch-command", "--buffer"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError as exc:
                raise CatFileError(f"cannot run git: {exc}") from None
        return self._proc

    def close(self) -> None:
        _stop(self._proc)
        self._proc = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parts(requests: list[str]) -> Iterator[list[str]]:
    """`requests` in runs of under PIPE_BYTES of commands (`contents <request>` lines)."""
    step = max(1, PIPE_BYTES // (max(map(len, requests)) + 10))
    return (requests[i:i + step] for i in range(0, len(requests), step))


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
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
        self._proc: subprocess.Popen[bytes] | None = None
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

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            import subprocess

            try:
                self._proc = subprocess.Popen(["git", "--git-dir", self.git_dir, "cat-file", "--batch"],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=subprocess.DEVNULL)
            except OSError as exc:
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
