"""A second process that turns record files into cache rows: a cold listing on both cores.

Parsing 10,000 records is CPU-bound Python, so one process uses one core. The
parent reads every record in bulk (`git cat-file`), hands chunks of files to a
worker, and turns the rest into rows itself; when nothing is left to read it
takes back the chunks the worker has not answered, newest first, so it never
waits on the worker (a dead or slow worker costs nothing but its start-up).

The worker is a fresh interpreter (`python -I -S`) running `serve` with this gitexp
and the parent's `sys.path`,
never a fork or a `multiprocessing` child: it does not import the caller's
`__main__` (a user's script without a main guard), so it is safe inside any
process. Chunks go in and lists of results come out as pickles on its pipes;
both ends are this module, so nothing else is ever unpickled.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

Chunk = list[Any]
Rows = Callable[[Chunk], list[Any]]
PARALLEL_FROM = 1000  # records to parse before a worker pays for its start-up (~0.15 s of CPU)
BACKLOG = 8  # chunks handed to the worker and not yet answered: keeps it busy while the parent reads
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_SERVE = "import sys; sys.path[:0] = {path!r}; from gitexp.services.catalog.fill import serve; serve()"


def usable_cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def shared(chunks: Iterable[Chunk], rows: Rows, total: int) -> Iterator[Any]:
    """`rows(chunk)` of every chunk, in any order, with a worker process taking part when it pays.

    `rows` is `cache.record_rows`, which is what the worker runs (passed in so that this
    module does not import the cache).
    """
    worker = Worker.start() if total >= PARALLEL_FROM and usable_cores() > 1 else None
    if worker is None:
        for chunk in chunks:
            yield from rows(chunk)
        return
    try:
        for chunk in chunks:
            if worker.alive and len(worker.pending) < BACKLOG:
                worker.send(chunk)
            else:
                yield from rows(chunk)
            yield from worker.answered()
        while worker.pending:
            yield from rows(worker.take_back())
            yield from worker.answered()
    finally:
        worker.stop()


class Worker:
    """The parent's end of one worker process: chunks sent by a thread, answers read by another."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self.alive = proc, True
        self.pending: dict[int, Chunk] = {}  # sent, not yet answered nor taken back
        self._sent = 0
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._inbox: queue.Queue[tuple[int, list[Any]] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._write, args=(proc.stdin,), daemon=True),
                         threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)]
        for thread in self._threads:
            thread.start()

    @classmethod
    def start(cls) -> Worker | None:
        """A running worker, or None when no interpreter can be started here."""
        if not os.path.basename(sys.executable or "").lower().startswith(("python", "pypy")):
            return None  # embedded (uWSGI, a GUI app): sys.executable may be a program that is not Python
        # This gitexp first (an editable install is found by a finder that -S leaves out), then the parent's path.
        path = [_PACKAGE_ROOT, *(p for p in sys.path if p and os.path.isdir(p))]
        argv = [sys.executable, "-I", "-S", "-c", _SERVE.format(path=path)]
        try:
            return cls(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL))
        except OSError:
            return None

    def send(self, chunk: Chunk) -> None:
        self.pending[self._sent] = chunk
        self._outbox.put(pickle.dumps((self._sent, chunk), pickle.HIGHEST_PROTOCOL))
        self._sent += 1

    def answered(self) -> Iterator[Any]:
        """Results of the chunks answered since the last call (a chunk taken back is not answered)."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if item is None:  # the worker ended: what it still had is taken back
                self.alive = False
            elif self.pending.pop(item[0], None) is not None:
                yield from item[1]

    def take_back(self) -> Chunk:
        """The newest unanswered chunk, to process here (the worker started on the oldest)."""
        return self.pending.pop(max(self.pending))

    def stop(self) -> None:
        self._outbox.put(None)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for thread in self._threads:
            thread.join()
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _write(self, stdin: BinaryIO) -> None:
        try:
            while (data := self._outbox.get()) is not None:
                stdin.write(data)
                stdin.flush()
        except (OSError, ValueError):  # the worker ended (or was stopped)
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read(self, stdout: BinaryIO) -> None:
        try:
            while True:
                answer = pickle.load(stdout)
                if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], list)):
                    break
                self._inbox.put(answer)
        except Exception:  # noqa: BLE001 (EOF, a crash mid-answer: either way the worker is gone)
            pass
        self._inbox.put(None)


def serve() -> None:
    """The worker's loop: (index, chunk) pickles on stdin, (index, `record_rows(chunk)`) pickles on stdout."""
    from gitexp.services.catalog.cache import record_rows

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            index, chunk = pickle.load(stdin)
        except EOFError:
            return
        stdout.write(pickle.dumps((index, record_rows(chunk)), pickle.HIGHEST_PROTOCOL))
        stdout.flush()
