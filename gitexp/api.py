"""The public Python API, with MLflow's names: `import gitexp; gitexp.log_metric(...)`."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time

from gitexp.errors import GitexpError, InvalidName
from gitexp.names import check_key
from gitexp.services.tracking import run as tracking
from gitexp.model import Run
from gitexp.services.catalog.listing import get_run as _get_run
from gitexp.services.session import open_session
from gitexp.store import yamlio

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

_stack: list[tracking.ActiveRun] = []
_state_lock = threading.RLock()
_experiment: str | None = None
_repo_path: str | None = None  # None: the repository git would use (GIT_DIR, the current folder)


def set_experiment(name: str | None = None, experiment_id: str | None = None, *,
                   experiment_name: str | None = None) -> Any:
    """Make an experiment the one runs start in from now on; made if absent; returns it.

    `name` (or MLflow's `experiment_name=`) is free text ("Wine Quality") or a slug;
    `experiment_id` names an existing experiment by its digit id. Returns an
    `Experiment` (`.name`, `.experiment_id`, `.slug`, `.tags`).
    """
    from gitexp import api_mlflow

    global _experiment
    exp = api_mlflow.set_experiment(name if name is not None else experiment_name, experiment_id)
    _experiment = exp.slug
    return exp


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
              nested: bool = False, params: dict | None = None, *, run_id: str | None = None,
              experiment_id: str | None = None, description: str | None = None,
              parent_run_id: str | None = None) -> RunContext:
    """Start a run (or resume one with `run_id`); use as `with gitexp.start_run():`.

    Under `gitexp run`, each `start_run()` records a child run of the wrapper run (a
    sweep loop gets one run per block); `start_run(run_id=<the wrapper's id>)` or a
    bare `log_*` call logs into the wrapper run itself.
    """
    return _start(run_name, experiment, tags, nested, params, run_id, experiment_id, description, parent_run_id)


def _start(run_name: str | None = None, experiment: str | None = None, tags: dict | None = None,
           nested: bool = False, params: dict | None = None, run_id: str | None = None,
           experiment_id: str | None = None, description: str | None = None,
           parent_run_id: str | None = None, attach: bool = False) -> RunContext:
    with _state_lock:
        for active in _stack:
            if run_id is not None and run_id in (active.id, active.info.name):
                raise GitexpError(f"run {active.info.name} ({active.id}) is already active",
                                  hint="to resume it, end it first with gitexp.end_run()")
        if _stack and not nested and _stack != [_ambient[0]]:
            active = _stack[-1]
            raise GitexpError(f"run {active.info.name} ({active.id}) is already active",
                              hint="call gitexp.end_run() first, or pass nested=True")
        env_id = os.environ.get(tracking.ENV_RUN_ID)
        attached = _attach_from_env() if not _stack and env_id and (attach or run_id == env_id) else None
        if attached is None and not (os.environ.get(tracking.ENV_RUN_REF) and os.environ.get(tracking.ENV_GIT_DIR)):
            env_id = None  # an incomplete environment attaches to nothing
        if attached is not None:  # under `gitexp run`: its run, with these params and tags added
            run = attached
            if attach:  # joined by a bare log_* call: later start_run() blocks become its children
                _ambient[0] = run
            for key, value in (params or {}).items():
                run.log_param(key, value)
            for key, value in (tags or {}).items():
                run.set_tag(key, value)
        elif run_id is not None:
            run = _resume(run_id, params, tags)
        else:
            parent = parent_run_id or (_stack[-1].id if _stack else env_id or None)
            run = _create(run_name, experiment, tags, params, parent, experiment_id)
        if description is not None and run.info.description != description:
            if run._owner_lock is None:  # only the owner writes a live run's ref
                raise GitexpError("description= cannot be set on the run `gitexp run` started",
                                  hint="add a note after it ends: gitexp note RUN TEXT")
            _describe(run, description)
        _stack.append(run)
        _retarget()
        _remember(run.id)
        return RunContext(run)


_last_run_id: str | None = None
# The run of `gitexp run` when a bare log_* call joined it: a start_run() block then records
# a child of it instead of failing with "already active".
_ambient: list[Any] = [None]


def _remember(run_id: str) -> None:
    global _last_run_id
    _last_run_id = run_id


def _create(run_name: str | None, experiment: str | None, tags: dict | None, params: dict | None,
            parent: str | None, experiment_id: str | None = None) -> tracking.ActiveRun:
    from gitexp.services import experiments

    with open_session(_repo_path) as s:
        slug: str | None
        if experiment_id is not None:
            slug = experiments.get_experiment(s, str(experiment_id)).slug
        elif experiment:
            slug = experiments.slug_of(s, experiment) if _is_slug_or_known(s, experiment) \
                else experiments.ensure_experiment(s, experiment)[0].slug
        else:  # set_experiment's, else the parent run's (nested), else the default one
            slug = _experiment or _parent_experiment(parent)
        run = tracking.create_run(s, slug, run_name, params, tags, sys.argv, parent)
    for line in run.notices:  # e.g. a snapshot of thousands of untracked files
        print(f"gitexp: {line}", file=sys.stderr)
    _install_exit_hooks()
    return run


def _is_slug_or_known(s: Any, text: str) -> bool:
    from gitexp.services import experiments

    return experiments.find_experiment(s, text) is not None or experiments._is_slug(text)


def _parent_experiment(parent: str | None) -> str | None:
    """The experiment of a parent run of this process, or of the run `gitexp run` started."""
    from gitexp.model import experiment_of

    if parent is None:
        return None
    for run in _stack:
        if run.id == parent:
            return run.info.experiment
    if parent == os.environ.get(tracking.ENV_RUN_ID):
        return experiment_of(os.environ.get(tracking.ENV_RUN_REF, "")) or None
    return None


def _resume(run_id: str, params: dict | None, tags: dict | None) -> tracking.ActiveRun:
    from gitexp.services.tracking.resume import resume_run

    with open_session(_repo_path) as s:
        run = resume_run(s, run_id)
    _install_exit_hooks()
    for key, value in (params or {}).items():
        run.log_param(key, value)
    for key, value in (tags or {}).items():
        run.set_tag(key, value)
    return run


def _describe(run: tracking.ActiveRun, text: str) -> None:
    """Set the note (`description`) of a run this process owns, at its start."""
    from gitexp.services.edit.core import edit_record
    from gitexp.store.repo import open_repo

    def mutate(state: Any) -> None:
        state.info.description = text

    with open_repo(run.common_dir) as db:
        tip = db.read_ref(run.ref)
        if tip is not None:
            edit_record(db, run.ref, tip, f"gitexp: note\n\n{text.rstrip()}\n", mutate)
    run.info.description = text


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
                _remember(top.id)  # MLflow's last_active_run: the run ended last
                if top is _ambient[0]:
                    _ambient[0] = None
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
            _start(attach=True)
    return _stack[-1]


# The hot path reads the innermost run's queues by metric key directly (one
# Python frame per call; see ActiveRun.fast_path); `_retarget` keeps them in
# step with the run stack.
_hot_series: dict[str, Any] = {}
_time = time.time


def _retarget() -> None:
    global _hot_series
    _hot_series = _stack[-1].fast_path() if _stack else {}


if hasattr(os, "register_at_fork"):  # after tracking's own handler: a forked child's queues are new ones
    os.register_at_fork(after_in_child=_retarget)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None,
               synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Log one metric point (buffered; committed when the run ends).

    `synchronous=True` writes it to the run's journal before returning; `run_id`
    logs to another run (an active one of this process, or an ended one: a new commit).
    """
    if timestamp is None and run_id is None and value.__class__ is float and not synchronous:
        if step is None or step.__class__ is int:
            try:  # a key the run has checked already; else KeyError, and the run checks it
                _hot_series[key]((step, value, _time()))
                return
            except KeyError:
                pass
    if run_id is not None or synchronous:
        return _log_metrics_to({key: value}, step, timestamp, synchronous, run_id)
    (_stack[-1] if _stack else _current()).log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None, timestamp: int | None = None,
                synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Log several metrics at one step (see log_metric)."""
    if run_id is not None or synchronous:
        return _log_metrics_to(metrics, step, timestamp, synchronous, run_id)
    run = _current()
    for key, value in metrics.items():
        run.log_metric(key, value, step, timestamp)


def _log_metrics_to(metrics: dict[str, float], step: int | None, timestamp: int | None,
                    synchronous: bool | None, run_id: str | None) -> None:
    run = _current() if run_id is None else _active_by_id(run_id)
    if run is None:  # not a run of this process: a journal entry or a new commit on its ref
        from gitexp.services.edit.log import log_to_run

        ts = int(time.time() * 1000) if timestamp is None else int(timestamp)
        _in_repo(log_to_run, run_id, [(k, v, step, ts) for k, v in metrics.items()])
        return
    for key, value in metrics.items():
        run.log_metric(key, value, step, timestamp)
    if synchronous:
        run.flush()


def _active_by_id(run_id: str) -> tracking.ActiveRun | None:
    """The run of this process with that id (or name), innermost first, or None."""
    for run in reversed(_stack):
        if run_id in (run.id, run.info.name):
            return run
    return None


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
    from pathlib import Path  # here: artifacts are not on a run's hot path

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
    from pathlib import Path

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
    import tempfile

    check_key(artifact_file, "artifact path")
    with tempfile.TemporaryDirectory(prefix="gitexp-") as tmp:
        path = os.path.join(tmp, "artifact")
        with open(path, "wb") as f:
            f.write(data)
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
    suffix = os.path.splitext(artifact_file.rsplit("/", 1)[-1])[1].lstrip(".").lower()
    if not suffix:
        raise InvalidName(f"artifact file {artifact_file!r} needs an extension such as .png or .svg")
    buf = io.BytesIO()
    figure.savefig(buf, format=suffix)
    return _log_bytes(buf.getvalue(), artifact_file)


def get_run(run: str) -> Run:
    """A run by id, id prefix, name or git revision, with params, tags, metrics and artifacts."""
    return _in_repo(_get_run, run)


def last_active_run() -> Run | None:
    """The active run, else the run that was active last in this process (reloaded), else None."""
    run_id = _stack[-1].id if _stack else _last_run_id
    return None if run_id is None else get_run(run_id)


def _in_repo(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a service function with a session on this process's repository."""
    with open_session(_repo_path) as s:
        return fn(s, *args, **kwargs)


def search_runs(filter_string: str | None = None, order_by: list[str] | str | None = None,
                experiment: str | list[str] | None = None, max_results: int | None = None,
                output: str = "list", *, experiment_ids: list[str] | str | None = None,
                experiment_names: list[str] | str | None = None) -> Any:
    """Runs matching an MLflow-style filter, e.g. ``"metrics.acc > 0.9 and params.lr = 0.01"``.

    ``experiment`` takes names, slugs or ids; ``experiment_ids``/``experiment_names`` are
    MLflow's spellings (all three combine). ``output`` is ``"list"`` (Run objects,
    histories loaded on first use), ``"dicts"`` or ``"pandas"`` (a DataFrame).
    """
    from gitexp.services.catalog.query import search

    def run(s: Any) -> Any:
        from gitexp.api_mlflow import experiment_slugs

        slugs = experiment_slugs(s, experiment, experiment_ids, experiment_names)
        return search(s, filter_string, order_by, slugs, max_results, output)

    return _in_repo(run)


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


# -- model registry (MLflow's names) ------------------------------------------------------------
def register_model(model_uri: str, name: str, version: str | None = None, description: str | None = None,
                   force: bool = False) -> Any:
    """Register `runs:/<run>/<path>` (or a run reference) as a new version of model `name`.

    Returns the version (``.version``, ``.run_id``, ``.source``, ``.commit``); see docs/registry.md.
    """
    from gitexp.services.registry.writes import RegisterRequest, register
    from gitexp.services.registry.deploy import Spec, resolve_version

    run, artifact = model_uri, None
    if model_uri.startswith("runs:/"):
        run, _, artifact = model_uri[len("runs:/"):].lstrip("/").partition("/")
    req = RegisterRequest(name, run, version, None, artifact or None, description, force)
    with open_session(_repo_path) as s:
        written = register(s, req)
        return resolve_version(s, Spec(written.model, version=written.version))


def assign_stage(name: str, version: str, stage: str, description: str | None = None) -> Any:
    """Assign `stage` to `version` of model `name` (a `name#stage#n` tag); the latest assignment wins."""
    from gitexp.services.registry.writes import assign

    return _in_repo(assign, name, version, stage, description)


def transition_model_version_stage(name: str, version: str, stage: str,
                                   archive_existing_versions: bool = False) -> Any:
    """MLflow's name for `assign_stage` (older versions leave the stage anyway: the latest wins)."""
    return assign_stage(name, version, stage)


def set_registered_model_alias(name: str, alias: str, version: str) -> Any:
    """MLflow's alias API: an alias is a stage here (`assign_stage(name, version, alias)`)."""
    return assign_stage(name, version, alias)


def get_model_version(name: str, version: str | None = None, stage: str | None = None) -> Any:
    """A version by name, by stage, or the latest: ``.version``, ``.run_id``, ``.source``, ``.commit``."""
    from gitexp.services.registry.deploy import Spec, resolve_version

    return _in_repo(resolve_version, Spec(name, version=version, stage=stage))


def get_model_version_by_alias(name: str, alias: str) -> Any:
    """MLflow's name for `get_model_version(name, stage=alias)`."""
    return get_model_version(name, stage=alias)


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None, dst_path: str | None = None) -> str:
    """Download `models:/NAME/VERSION`, `models:/NAME@STAGE` or `runs:/RUN/PATH`; the local path.

    As in MLflow, `run_id` and `artifact_path` may be given instead of a URI.
    """
    from gitexp.services.registry.deploy import download

    if artifact_uri is None:
        if run_id is None:
            raise GitexpError("give artifact_uri, or run_id (and artifact_path)",
                              hint='e.g. download_artifacts("models:/churn@production")')
        artifact_uri = f"runs:/{run_id}/{artifact_path or ''}"
    return str(_in_repo(download, artifact_uri, dst_path))


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
