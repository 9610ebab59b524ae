"""The public Python API, with MLflow's names: `import gitexp; gitexp.log_metric(...)`."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gitexp.errors import GitexpError, InvalidName
from gitexp.names import check_experiment, check_key
from gitexp.services.tracking import run as tracking
from gitexp.model import Run
from gitexp.services.catalog.listing import get_run as _get_run
from gitexp.services.session import open_session
from gitexp.store import yamlio

_stack: list[tracking.ActiveRun] = []
_state_lock = threading.RLock()
_experiment: str | None = None
_repo_path: str = "."


def set_experiment(name: str) -> str:
    """Make `name` the experiment of runs started from now on (created on first run)."""
    global _experiment
    _experiment = check_experiment(name)
    return _experiment


def set_repository(path: str | os.PathLike[str]) -> None:
    """Track runs in the Git repository at `path` (default: the current folder's)."""
    global _repo_path
    _repo_path = str(path)


class RunContext:
    """What `start_run` returns: usable as a context manager or a plain handle."""

    def __init__(self, run: tracking.ActiveRun) -> None:
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __enter__(self) -> "RunContext":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            status = "FINISHED"
        else:
            status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
        _end(self._run, status)

    def __repr__(self) -> str:
        return f"<gitexp run {self._run.info.name} ({self._run.id})>"


def start_run(run_name: str | None = None, experiment: str | None = None, tags: dict | None = None,
              nested: bool = False, params: dict | None = None) -> RunContext:
    """Start (or, under `gitexp run`, join) a run; use as `with gitexp.start_run():`."""
    with _state_lock:
        if _stack and not nested:
            active = _stack[-1]
            raise GitexpError(f"run {active.info.name} ({active.id}) is already active",
                              hint="call gitexp.end_run() first, or pass nested=True")
        attached = _attach_from_env() if not _stack else None
        if attached is not None:  # under `gitexp run`: its run, with these params and tags added
            run = attached
            for key, value in (params or {}).items():
                run.log_param(key, value)
            for key, value in (tags or {}).items():
                run.set_tag(key, value)
        else:
            run = _create(run_name, experiment, tags, params, parent=_stack[-1].id if _stack else None)
        _stack.append(run)
        _retarget()
        return RunContext(run)


def _create(run_name: str | None, experiment: str | None, tags: dict | None, params: dict | None,
            parent: str | None) -> tracking.ActiveRun:
    with open_session(_repo_path) as s:
        run = tracking.create_run(s, experiment or _experiment, run_name, params, tags, sys.argv, parent)
    for line in run.notices:  # e.g. a snapshot of thousands of untracked files
        print(f"gitexp: {line}", file=sys.stderr)
    _install_exit_hooks()
    return run


def _attach_from_env() -> tracking.ActiveRun | None:
    run_id = os.environ.get(tracking.ENV_RUN_ID)
    ref, git_dir = os.environ.get(tracking.ENV_RUN_REF), os.environ.get(tracking.ENV_GIT_DIR)
    if not (run_id and ref and git_dir):
        return None
    run = tracking.attach(run_id, ref, git_dir)
    _install_exit_hooks()
    return run


def active_run() -> RunContext | None:
    """The innermost active run, or None."""
    return RunContext(_stack[-1]) if _stack else None


def end_run(status: str = "FINISHED") -> None:
    """End the innermost active run with `status` (FINISHED, FAILED or KILLED)."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise GitexpError(f"unknown run status {status!r}", hint="use FINISHED, FAILED or KILLED")
    if _stack:
        _end(_stack[-1], status)


def _end(run: tracking.ActiveRun, status: str) -> None:
    with _state_lock:
        if run in _stack:
            # Ending an outer run ends the nested runs still open inside it.
            while _stack:
                top = _stack.pop()
                _retarget()
                top.end(status)
                if top is run:
                    break
        else:
            run.end(status)


def _current() -> tracking.ActiveRun:
    if _stack:
        return _stack[-1]
    with _state_lock:
        if not _stack:
            start_run()
    return _stack[-1]


# The hot path reads the innermost run's step counters and queue directly (one
# Python frame per call); `_retarget` keeps them in step with the run stack.
_hot_counters: dict[str, Any] = {}
_hot_append: Any = None
_time = time.time


def _retarget() -> None:
    global _hot_counters, _hot_append
    if _stack:
        _hot_counters, _hot_append = _stack[-1].fast_path()
    else:
        _hot_counters, _hot_append = {}, None


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Log one metric point (buffered; committed when the run ends)."""
    if timestamp is None and value.__class__ is float:
        if step is None:
            try:  # a known key's step counter; an int there (last explicit step) raises TypeError
                _hot_append((key, next(_hot_counters[key]), value, _time()))
                return
            except (KeyError, TypeError):
                pass
        elif step.__class__ is int and key in _hot_counters:
            _hot_counters[key] = step  # the last explicit step; the next auto step follows it
            _hot_append((key, step, value, _time()))
            return
    (_stack[-1] if _stack else _current()).log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    run = _current()
    for key, value in metrics.items():
        run.log_metric(key, value, step, timestamp)


def log_param(key: str, value: Any) -> Any:
    _current().log_param(key, value)
    return value


def log_params(params: dict[str, Any]) -> None:
    run = _current()
    for key, value in params.items():
        run.log_param(key, value)


def set_tag(key: str, value: Any) -> None:
    _current().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    run = _current()
    for key, value in tags.items():
        run.set_tag(key, value)


def delete_tag(key: str) -> None:
    _current().delete_tag(key)


def flush() -> None:
    """Write buffered metrics of the active run to its journal now."""
    if _stack:
        _stack[-1].flush()


def _artifact_path(name: str, artifact_path: str | None) -> str:
    # Only a trailing '/' is dropped: a leading one (an absolute path) must reach check_key and fail.
    return f"{artifact_path.rstrip('/')}/{name}" if artifact_path else name


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> str:
    """Store a file as an artifact (under `artifact_path`/ if given); return its artifact path."""
    path = Path(local_path)
    if path.is_dir():
        raise GitexpError(f"cannot log artifact {str(local_path)!r}: it is a folder",
                          hint=f"use gitexp.log_artifacts({str(local_path)!r}) to store every file in it")
    if not path.is_file():
        raise GitexpError(f"cannot log artifact {str(local_path)!r}: no such file",
                          hint="check the path (relative to the current folder, " + os.getcwd() + ")")
    target = _artifact_path(path.name, artifact_path)
    _current().log_artifact_file(path, target)
    return target


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[str]:
    """Store every file below `local_dir`, keeping relative paths."""
    root = Path(local_dir)
    if not root.is_dir():
        raise GitexpError(f"cannot log artifacts from {str(local_dir)!r}: not a folder")
    run, stored = _current(), []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        target = _artifact_path(path.relative_to(root).as_posix(), artifact_path)
        run.log_artifact_file(path, target)
        stored.append(target)
    return stored


def _log_bytes(data: bytes, artifact_file: str) -> str:
    check_key(artifact_file, "artifact path")
    with tempfile.TemporaryDirectory(prefix="gitexp-") as tmp:
        path = Path(tmp) / "artifact"
        path.write_bytes(data)
        _current().log_artifact_file(path, artifact_file)
    return artifact_file


def log_text(text: str, artifact_file: str) -> str:
    """Store `text` as the artifact `artifact_file` (UTF-8)."""
    return _log_bytes(text.encode(), artifact_file)


def log_dict(dictionary: Any, artifact_file: str) -> str:
    """Store a dict as JSON, or as YAML when `artifact_file` ends in .yaml/.yml."""
    if artifact_file.endswith((".yaml", ".yml")):
        data = yamlio.dump(dictionary)
    else:
        data = json.dumps(dictionary, indent=2, default=str).encode()
    return _log_bytes(data, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> str:
    """Store a matplotlib Figure as an image (format from the extension, e.g. .png, .svg)."""
    suffix = Path(artifact_file).suffix.lstrip(".").lower()
    if not suffix:
        raise InvalidName(f"artifact file {artifact_file!r} needs an extension such as .png or .svg")
    buf = io.BytesIO()
    figure.savefig(buf, format=suffix)
    return _log_bytes(buf.getvalue(), artifact_file)


def get_run(run: str) -> Run:
    """A run by id, id prefix, name or git revision, with params, tags, metrics and artifacts."""
    return _in_repo(_get_run, run)


def _in_repo(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a service function with a session on this process's repository."""
    with open_session(_repo_path) as s:
        return fn(s, *args, **kwargs)


def search_runs(filter_string: str | None = None, order_by: list[str] | str | None = None,
                experiment: str | list[str] | None = None, max_results: int | None = None,
                output: str = "list") -> Any:
    """Runs matching an MLflow-style filter, e.g. ``"metrics.acc > 0.9 and params.lr = 0.01"``.

    ``output`` is ``"list"`` (Run objects, histories loaded on first use), ``"dicts"`` or ``"pandas"`` (a DataFrame).
    """
    from gitexp.services.catalog.query import search

    return _in_repo(search, filter_string, order_by, experiment, max_results, output)


def tag_run(run: str, tags: dict[str, Any] | None = None, delete: list[str] | tuple[str, ...] = ()) -> Any:
    """Set and/or delete tags of any run (a new commit on its ref, or queued while it runs)."""
    from gitexp.services import edit

    return _in_repo(edit.set_tags, run, tags, delete)


def note_run(run: str, text: str | None) -> Any:
    """Set (or, with None, clear) the description of an ended run."""
    from gitexp.services import edit

    return _in_repo(edit.set_note, run, text)


def rename_run(run: str, name: str) -> Any:
    """Give an ended run a new name (unique in the repository)."""
    from gitexp.services import edit

    return _in_repo(edit.rename_run, run, name)


def remove_run(run: str) -> Any:
    """Delete a run's ref; the result's `.undo` is the git command that restores it."""
    from gitexp.services import edit

    return _in_repo(edit.remove_run, run)


def plot_metrics(runs: Any, metrics: Any, x: str = "step", smooth: int = 1, logy: bool = False,
                 filter_string: str | None = None, experiment: str | None = None) -> Any:
    """A matplotlib Figure of metric histories, one line per run (see docs/python-api.md)."""
    from gitexp.services import plot

    return _in_repo(plot.plot_metrics, runs, metrics, x=x, smooth=smooth, logy=logy,
                    filter_string=filter_string, experiment=experiment)


def plot_scatter(x: str, y: str, filter_string: str | None = None, experiment: str | None = None,
                 logx: bool = False, logy: bool = False) -> Any:
    """A scatter Figure of two keys (e.g. ``params.lr``, ``metrics.acc``), one point per run."""
    from gitexp.services import plot

    return _in_repo(plot.plot_scatter, x, y, filter_string=filter_string, experiment=experiment,
                    logx=logx, logy=logy)


def plot_parallel(keys: list[str], color: str | None = None, filter_string: str | None = None,
                  experiment: str | None = None) -> Any:
    """A parallel-coordinates Figure over `keys`, lines coloured by `color`."""
    from gitexp.services import plot

    return _in_repo(plot.plot_parallel, keys, color=color, filter_string=filter_string, experiment=experiment)


_hooks_installed = False


def _install_exit_hooks() -> None:
    """End open runs at interpreter exit: FAILED after an uncaught exception."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook
    failure: list[str] = []

    def excepthook(exc_type: type, exc: BaseException, tb: Any) -> None:
        failure.append("KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED")
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook
    import atexit

    atexit.register(lambda: _end_all(failure[0] if failure else "FINISHED"))


def _end_all(status: str) -> None:
    while _stack:
        try:
            _end(_stack[-1], status)
        except Exception as exc:  # at exit there is no one to raise to
            print(f"gitexp: could not end run: {exc}", file=sys.stderr)
            _stack.pop()
            _retarget()
