"""MLflow's entity shapes (`mlflow.entities`), built from gitexp's own objects.

Plain classes with MLflow's attribute names and value types: ids are strings,
times are Unix milliseconds (ints), params and tags are text. They are what
`gitexp.mlflow` and `gitexp.MlflowClient` hand out; the MLflow tracking plugin
turns them into real `mlflow.entities` one attribute at a time.

How a gitexp run maps to MLflow's `Run`:

| MLflow | from gitexp |
|---|---|
| `info.run_id`, `info.run_uuid` | run id (16 characters) |
| `info.run_name` | run name |
| `info.experiment_id` | the experiment's digit id ("0" = `default`) |
| `info.user_id`, `info.status` | `user`, `status` |
| `info.start_time`, `info.end_time` | Unix ms (`end_time` None while running) |
| `info.artifact_uri` | `gitexp:<repo>/@runs/<id>/artifacts` (see `gitexp.uris`) |
| `data.params` | params flattened with dots (`optim.lr`), values as text (`str(v)`) |
| `data.metrics` | last value per metric (highest step, then latest time) |
| `data.tags` | the run's tags plus MLflow's system tags (`SYSTEM_TAGS`), derived from run.yaml |
| `inputs.dataset_inputs` | datasets recorded by `log_input` |
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gitexp.store.record import flatten

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

# MLflow's system tags, derived from run.yaml (never stored as tags; a tag the user sets wins).
SYSTEM_TAGS = ("mlflow.runName", "mlflow.user", "mlflow.source.name", "mlflow.source.type",
               "mlflow.source.git.commit", "mlflow.parentRunId", "mlflow.note.content")


class RunStatus:
    """MLflow's run statuses (`mlflow.entities.RunStatus`)."""

    RUNNING, SCHEDULED, FINISHED, FAILED, KILLED = 1, 2, 3, 4, 5
    _names = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}

    @classmethod
    def to_string(cls, status: int) -> str:
        return cls._names[status]

    @classmethod
    def from_string(cls, name: str) -> int:
        return {v: k for k, v in cls._names.items()}[name]

    @classmethod
    def is_terminated(cls, status: int | str) -> bool:
        name = status if isinstance(status, str) else cls._names.get(status)
        return name in ("FINISHED", "FAILED", "KILLED")


class ViewType:
    """MLflow's view types; gitexp has no deleted runs or experiments, so every view is ACTIVE_ONLY."""

    ACTIVE_ONLY, DELETED_ONLY, ALL = 1, 2, 3


class LifecycleStage:
    ACTIVE, DELETED = "active", "deleted"


@dataclass
class RunInfo:
    run_id: str
    run_name: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = "active"

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)  # the step of each last value (MLflow's Metric.step)


@dataclass
class Dataset:
    """A dataset as MLflow records it (`mlflow.entities.Dataset`): every field is text."""

    name: str
    digest: str
    source_type: str
    source: str  # JSON
    schema: str | None = None  # JSON
    profile: str | None = None  # JSON


@dataclass
class InputTag:
    key: str
    value: str


@dataclass
class DatasetInput:
    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)


@dataclass
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[Any] = field(default_factory=list)


@dataclass
class Run:
    """MLflow's `Run`: `info`, `data` and `inputs`."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    def to_dictionary(self) -> dict[str, Any]:
        return {"info": dict(self.info.__dict__), "data": {"metrics": dict(self.data.metrics),
                "params": dict(self.data.params), "tags": dict(self.data.tags)}}


@dataclass
class Experiment:
    """MLflow's `Experiment`; the description is the tag `mlflow.note.content`, as in MLflow."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None
    slug: str = ""  # gitexp's ref-safe name of the experiment (not in MLflow)


@dataclass
class Metric:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass
class Param:
    key: str
    value: str


@dataclass
class RunTag:
    key: str
    value: str


@dataclass
class ExperimentTag:
    key: str
    value: str


@dataclass
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None


class PagedList(list):
    """A list with MLflow's `token` for the next page (always None: gitexp returns one page)."""

    def __init__(self, items: Any = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


# -- conversions from gitexp ----------------------------------------------------------------
def param_text(value: Any) -> str:
    """A param value as MLflow stores it (text, `str()` of the value)."""
    return value if isinstance(value, str) else str(value)


def system_tags(info: Any) -> dict[str, str]:
    """MLflow's system tags of a run, from its run.yaml."""
    tags = {"mlflow.runName": info.name, "mlflow.user": info.user, "mlflow.source.type": "LOCAL"}
    if info.command:
        tags["mlflow.source.name"] = str(info.command[0])
    if info.baseline:
        tags["mlflow.source.git.commit"] = info.baseline
    if info.parent_run:
        tags["mlflow.parentRunId"] = info.parent_run
    if info.description:
        tags["mlflow.note.content"] = info.description
    return tags


def run_info(info: Any, artifact_uri: str, status: str | None = None, start_ms: int | None = None,
             end_ms: int | None = None) -> RunInfo:
    return RunInfo(run_id=info.id, run_name=info.name, experiment_id=info.experiment_id, user_id=info.user,
                   status=status or info.status, start_time=info.start_ms if start_ms is None else start_ms,
                   end_time=info.end_ms if end_ms is None else end_ms, artifact_uri=artifact_uri)


def run_data(info: Any, params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str],
             summary: dict[str, dict[str, Any]] | None = None) -> RunData:
    steps = {k: int(v.get("step") or 0) for k, v in (summary or {}).items() if isinstance(v, dict)}
    return RunData(metrics={k: float(v) for k, v in metrics.items() if v is not None},
                   params={k: param_text(v) for k, v in flatten(params).items()},
                   tags={**system_tags(info), **tags}, steps=steps)


def from_run(run: Any, artifact_uri: str, datasets: list[dict[str, Any]] | None = None) -> Run:
    """MLflow's `Run` for a gitexp `model.Run`."""
    info = run.info
    mlrun = Run(run_info(info, artifact_uri, run.status, run.start_ms, run.end_ms),
                run_data(info, run.params, run.metrics, run.tags, run.summary))
    for entry in datasets or []:
        mlrun.inputs.dataset_inputs.append(dataset_input(entry))
    return mlrun


def dataset_input(entry: dict[str, Any]) -> DatasetInput:
    def text(value: Any) -> str | None:
        return None if value is None else value if isinstance(value, str) else json.dumps(value)

    ds = Dataset(str(entry.get("name", "")), str(entry.get("digest", "")), str(entry.get("source_type", "")),
                 text(entry.get("source")) or "{}", text(entry.get("schema")), text(entry.get("profile")))
    return DatasetInput(ds, [InputTag(str(k), str(v)) for k, v in (entry.get("tags") or {}).items()])


def from_experiment(exp: Any, artifact_location: str) -> Experiment:
    """MLflow's `Experiment` for a gitexp `services.experiments.Experiment`."""
    tags = dict(exp.tags)
    if exp.description is not None:
        tags["mlflow.note.content"] = exp.description
    return Experiment(exp.experiment_id, exp.name, artifact_location, exp.lifecycle_stage, tags,
                      exp.creation_time, exp.last_update_time, exp.slug)
