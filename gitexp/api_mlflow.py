"""The MLflow-named calls of gitexp's own API that go beyond logging: experiments, URIs,
images, tables and dataset inputs. `import gitexp` exports them with gitexp's types
(`Experiment`, `model.Run`); `gitexp.mlflow` wraps them in MLflow's shapes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from gitexp import api
from gitexp.errors import GitexpError, InvalidName, InvalidValue
from gitexp.names import check_key
from gitexp.services import experiments as _exp
from gitexp import uris

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

_announced: set[str] = set()


# -- experiments ----------------------------------------------------------------------------
def set_experiment(name: str | None = None, experiment_id: str | None = None) -> _exp.Experiment:
    """Find or make the experiment (`name`: free text, slug or id; `experiment_id`: digits).

    The first time in a process that a free-text name maps to another slug, the
    mapping is printed on stderr (runs live under `refs/gitexp/runs/<slug>/`).
    """
    if (name is None) == (experiment_id is None):
        raise GitexpError("give an experiment name or an experiment_id (one of them)",
                          hint="e.g. gitexp.set_experiment('Wine Quality')")
    with api.open_session(api._repo_path) as s:
        if name is not None:
            exp, _created = _exp.ensure_experiment(s, name)
        else:
            found = _exp.find_experiment(s, str(experiment_id), ("id",))
            if found is None:
                raise _exp.ExperimentNotFound(f"no experiment has the id {experiment_id!r}",
                                              hint="list experiments with gitexp.search_experiments()")
            exp = found
    if exp.name != exp.slug and exp.name not in _announced and exp.slug != "default":
        _announced.add(exp.name)
        print(f"gitexp: experiment {exp.name!r} is stored as {exp.slug} (id {exp.experiment_id})", file=sys.stderr)
    return exp


def create_experiment(name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None,
                      description: str | None = None) -> str:
    """Make a new experiment; return its id. `artifact_location` is ignored (artifacts live in the run)."""
    if artifact_location is not None and not uris.is_gitexp_uri(artifact_location):
        warnings.warn(f"gitexp ignores artifact_location {artifact_location!r}: artifacts are stored with the run",
                      stacklevel=2)
    return api._in_repo(_exp.create_experiment, name, tags, description).experiment_id


def get_experiment(experiment_id: str) -> _exp.Experiment:
    """An experiment by id (a slug or name also works); ExperimentNotFound if none."""
    return api._in_repo(_exp.get_experiment, str(experiment_id))


def get_experiment_by_name(name: str) -> _exp.Experiment | None:
    """The experiment with that display name (or slug), or None."""
    return api._in_repo(_exp.get_experiment_by_name, name)


def search_experiments(view_type: Any = None, max_results: int | None = None, filter_string: str | None = None,
                       order_by: list[str] | None = None) -> list[_exp.Experiment]:
    """Experiments matching a filter such as ``"name LIKE 'wine%' and tags.team = 'nlp'"``.

    gitexp has no deleted experiments, so `view_type` changes nothing.
    """
    return api._in_repo(_exp.search_experiments, filter_string, order_by, max_results)


def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag on the current experiment (set_experiment's, else the default one)."""
    api._in_repo(_exp.set_experiment_tag, _current_experiment_slug(), key, value)


def delete_experiment_tag(key: str) -> None:
    """Delete a tag of the current experiment."""
    api._in_repo(_exp.delete_experiment_tag, _current_experiment_slug(), key)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def _current_experiment_slug() -> str:
    if api._stack:
        return api._stack[-1].info.experiment
    if api._experiment:
        return api._experiment
    with api.open_session(api._repo_path) as s:
        return s.default_experiment


def current_experiment_id() -> str:
    """The id of the experiment new runs start in (MLflow's `_get_experiment_id()`)."""
    from gitexp.model import experiment_of
    from gitexp.names import experiment_id
    from gitexp.services.tracking.run import ENV_RUN_REF

    # under `gitexp run -e X`, X is the current experiment (as MLFLOW_EXPERIMENT_NAME would be)
    return experiment_id(api._experiment or experiment_of(os.environ.get(ENV_RUN_REF, "")) or _default_slug())


def _default_slug() -> str:
    try:
        with api.open_session(api._repo_path) as s:
            return s.default_experiment
    except GitexpError:
        return "default"


def experiment_slugs(s: Any, experiment: str | Sequence[str] | None = None,
                     experiment_ids: str | Sequence[str] | None = None,
                     experiment_names: str | Sequence[str] | None = None) -> list[str] | None:
    """Slugs of the experiments named by any spelling (None: every experiment).

    Unknown ids and names select nothing, as in MLflow; an unknown `experiment`
    must be a valid slug (a run may be recorded there later).
    """
    if experiment is None and experiment_ids is None and experiment_names is None:
        return None
    slugs: list[str] = []
    for text in _as_list(experiment):
        slugs.append(_exp.slug_of(s, text))
    for ident in _as_list(experiment_ids):
        found = _exp.find_experiment(s, str(ident), ("id", "slug"))
        if found is not None:
            slugs.append(found.slug)
    for name in _as_list(experiment_names):
        found = _exp.get_experiment_by_name(s, name)
        if found is not None:
            slugs.append(found.slug)
    return list(dict.fromkeys(slugs))


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, int)) else [str(v) for v in value]


# -- URIs -----------------------------------------------------------------------------------
def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """A `gitexp:<path>` URI selects the repository at <path>; any other URI warns and is ignored."""
    text = os.fspath(uri) if isinstance(uri, os.PathLike) else uri
    if uris.is_gitexp_uri(text):
        api.set_repository(uris.repo_path_of(text))
        return
    warnings.warn(f"gitexp ignores the tracking URI {text!r}: runs are recorded in the Git repository "
                  f"({get_tracking_uri()}); use 'gitexp:<path of a repository>' to pick another one",
                  stacklevel=2)


def get_tracking_uri() -> str:
    """`gitexp:<absolute path of the repository>` (its working tree, or git dir when bare)."""
    return uris.tracking_uri(_repo_root())


def _repo_root() -> str:
    from gitexp.store.repo import open_repo

    try:
        with open_repo(api._repo_path) as db:
            return str(db.root or db.common_dir)
    except GitexpError:
        return os.path.abspath(api._repo_path or ".")


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The artifact URI of the active run (one is started if none is), or of one artifact in it."""
    run = api._current()
    if artifact_path:
        check_key(artifact_path.strip("/"), "artifact path")
    return uris.run_artifact_uri(_repo_root(), run.id, artifact_path)


# -- images, tables, dataset inputs -------------------------------------------------------------
def log_image(image: Any, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, synchronous: bool | None = None) -> str:
    """Store an image (numpy array HxW, HxWx3 or HxWx4; or a PIL image) as a PNG artifact.

    With `artifact_file` it is stored there (format from the extension); with `key`
    (MLflow's step-wise images) under ``images/<key>/step-<step>-<timestamp ms>.png``.
    Returns the artifact path.
    """
    if (artifact_file is None) == (key is None):
        raise InvalidValue("log_image needs either artifact_file or key (one of them)")
    if artifact_file is None:
        check_key(str(key), "image key")
        ts = int(time.time() * 1000) if timestamp is None else int(timestamp)
        artifact_file = f"images/{key}/step-{0 if step is None else int(step)}-{ts}.png"
    suffix = Path(artifact_file).suffix.lstrip(".").lower() or "png"
    data = _image_bytes(image, suffix)
    path = api._log_bytes(data, artifact_file)
    if synchronous:
        api.flush()
    return path


def _image_bytes(image: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        image.save(buf, format={"jpg": "JPEG"}.get(fmt, fmt.upper()))
        return buf.getvalue()
    try:
        import numpy as np
    except ImportError:
        raise InvalidValue("log_image takes a numpy array or a PIL image", hint="pip install numpy") from None
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidValue(f"image must be HxW, HxWx3 or HxWx4, not shape {arr.shape}")
    if arr.dtype.kind == "f":
        if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
            raise InvalidValue("a float image must have values in [0, 1]", hint="or pass uint8 values 0-255")
        vmax = 1.0
    elif arr.dtype.kind in "iub":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InvalidValue("an integer image must have values in [0, 255]")
        arr, vmax = arr.astype("uint8"), 255
    else:
        raise InvalidValue(f"cannot store an image of dtype {arr.dtype}")
    from matplotlib import image as mpimg

    kwargs: dict[str, Any] = {"cmap": "gray", "vmin": 0, "vmax": vmax} if arr.ndim == 2 else {}
    mpimg.imsave(buf, arr, format=fmt, **kwargs)
    return buf.getvalue()


def log_table(data: Any, artifact_file: str) -> str:
    """Store a dict of columns or a pandas DataFrame as MLflow's table JSON (``{"columns", "data"}``).

    The run's tag ``mlflow.loggedArtifacts`` lists it with type "table", as MLflow does.
    """
    if not str(artifact_file).endswith(".json"):
        raise InvalidName(f"table artifact {artifact_file!r} must end in .json")
    columns, rows = _table(data)
    payload = json.dumps({"columns": columns, "data": rows}, default=_jsonable).encode()
    path = api._log_bytes(payload, artifact_file)
    run = api._current()
    logged = json.loads(run.tags.get("mlflow.loggedArtifacts", "[]") or "[]")
    entry = {"path": artifact_file, "type": "table"}
    if entry not in logged:
        run.set_tag("mlflow.loggedArtifacts", json.dumps(logged + [entry]))
    return path


def _table(data: Any) -> tuple[list[str], list[list[Any]]]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a DataFrame
        columns = [str(c) for c in data.columns]
        return columns, [list(r) for r in data.itertuples(index=False, name=None)]
    if isinstance(data, dict):
        columns = [str(c) for c in data]
        values = [list(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else [v] for v in data.values()]
        if len({len(v) for v in values}) > 1:
            raise InvalidValue("every column of a table needs the same number of values")
        return columns, [list(r) for r in zip(*values)]
    raise InvalidValue(f"log_table takes a dict of columns or a pandas DataFrame, not {type(data).__name__}")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


INPUTS_DIR = "inputs"


def log_input(dataset: Any, context: str | None = None, tags: dict[str, str] | None = None,
              model: Any = None) -> str:
    """Record a dataset the run used: name, digest, source and schema (plus profile and context).

    `dataset` is a `gitexp.mlflow.data` dataset (`from_pandas`, `from_numpy`), a real
    MLflow Dataset, or a pandas DataFrame / numpy array (wrapped as one). It is stored
    as the artifact ``inputs/<name>-<digest>.json``; `gitexp.mlflow.get_run(...).inputs`
    reads it back. Returns the artifact path.
    """
    from gitexp.mlflow.data import as_dataset

    ds = as_dataset(dataset)
    entry = ds.to_dict()
    entry["context"] = context
    entry["tags"] = {str(k): str(v) for k, v in (tags or {}).items()}
    if context is not None:
        entry["tags"].setdefault("mlflow.data.context", context)
    path, data = dataset_artifact(entry)
    return api._log_bytes(data, path)


def dataset_artifact(entry: dict[str, Any]) -> tuple[str, bytes]:
    """(artifact path, bytes) of a dataset input: ``inputs/<name>-<digest>.json``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(entry["name"])).strip(".") or "dataset"
    return f"{INPUTS_DIR}/{safe}-{entry['digest']}.json", json.dumps(entry, indent=2, default=_jsonable).encode()


def dataset_entries(run: Any) -> list[dict[str, Any]]:
    """The dataset inputs recorded in a loaded run (see log_input), oldest artifact path first."""
    out = []
    for art in sorted(run.artifacts, key=lambda a: a.path):
        if art.path.startswith(INPUTS_DIR + "/") and art.path.endswith(".json"):
            try:
                out.append(json.loads(read_artifact(run, art.path)))
            except (ValueError, GitexpError):
                continue
    return out


def read_artifact(run: Any, path: str) -> bytes:
    """The bytes of one artifact of a loaded run (inline blob or side store, hash-checked)."""
    from gitexp.store.repo import open_repo
    from gitexp.store.sidestore import SideStore

    art = next((a for a in run.artifacts if a.path == path), None)
    if art is None:
        raise GitexpError(f"run {run.name} has no artifact {path!r}",
                          hint=f"its artifacts: {', '.join(a.path for a in run.artifacts) or 'none'}")
    with open_repo(api._repo_path) as db:
        if art.inline and art.blob:
            data = db.read_blob(art.blob)
        else:
            data = SideStore(db.common_dir / "gitexp" / "objects").open_verified(art.sha256)
    if art.sha256 and hashlib.sha256(data).hexdigest() != art.sha256:
        raise GitexpError(f"artifact {path!r} of run {run.name} does not match its sha256")
    return data
