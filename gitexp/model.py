"""The one run model every service hands out: `Run`, lazy where listing needs it.

A listing of 10,000 runs builds `Run`s from cache rows holding a few scalars
(id, name, status, times) and JSON text; params, tags, the metric summary and
run.yaml are decoded on first read, and what the row lacks (artifacts, metric
histories) is loaded through the run's `loader` from Git. `gitexp.get_run`
returns the same class with everything loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import Enum

from gitexp.errors import CorruptRecord, GitexpError
from gitexp.store.record import Artifact, Point, RunInfo, summarize

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

    Loader = Callable[["Run", str, bool], Any]  # (run, field, from_git) -> the decoded field


class Status(str, Enum):
    """A run's status; CORRUPT and NEWER are never written, only shown for records not read."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CORRUPT = "CORRUPT"  # the record cannot be read
    NEWER = "NEWER"  # written by a newer gitexp: upgrade to read it

    def __str__(self) -> str:
        return self.value


class LastValues(dict[str, float]):
    """The last value of each metric. Also callable, so `run.metrics()` (the method that
    search results had before there was one run model) keeps working."""

    def __call__(self) -> LastValues:
        return self


# Fields a Run may hold as JSON text (from the cache) or leave to its loader.
LAZY_FIELDS = ("info", "params", "tags", "summary")


class Run:
    """A run: identity and status at once, everything else on first use.

    Attributes:
        ref: the run ref, or None when the run was found through a commit no ref knows.
        commit: the commit read. id, name, experiment, status, start_ms, end_ms, user: scalars.
        error: why the record could not be read (status is then CORRUPT), else None.
    """

    def __init__(self, ref: str | None, commit: str, scalars: tuple, fields: dict[str, Any] | None = None,
                 error: str | None = None, loader: Loader | None = None) -> None:
        self.ref, self.commit, self.error, self.loader = ref, commit, error, loader
        self.id, self.name, self.experiment, status, self.start_ms, self.end_ms, self.user = scalars
        self.status = status if error and status in (Status.CORRUPT, Status.NEWER) else \
            Status.CORRUPT.value if error else status
        self._fields: dict[str, Any] = dict(fields or {})

    @classmethod
    def unreadable(cls, ref: str, commit: str, error: str, status: Status = Status.CORRUPT) -> Run:
        """A run whose record cannot be read: listed as CORRUPT (or NEWER) with the reason, and empty."""
        run_id, experiment = ref.rsplit("/", 1)[-1], experiment_of(ref)
        fields = {"info": RunInfo(run_id, "", experiment, status=""), "params": {}, "tags": {}, "summary": {},
                  "artifacts": [], "history": {}}
        return cls(ref, commit, (run_id, "", experiment, status.value, None, None, None), fields, error=error)

    # -- lazy fields -------------------------------------------------------------------
    def _get(self, field: str) -> Any:
        if field not in self._fields:
            self._fields[field] = self._load(field, from_git=False)
        value = self._fields[field]
        if isinstance(value, str) and field in LAZY_FIELDS + ("last",):
            try:
                value = json.loads(value)
            except ValueError:  # a damaged cache row: the record in git is the truth
                value = self._load(field, from_git=True)
            self._fields[field] = value
        return value

    def _load(self, field: str, from_git: bool) -> Any:
        if self.loader is None:
            raise CorruptRecord(f"run {self.id}: {field} is not available ({self.error or 'not loaded'})")
        return self.loader(self, field, from_git)

    def _set(self, field: str, value: Any) -> None:
        self._fields[field] = value
        if field in ("summary", "history"):
            self._fields.pop("last", None)
            if field == "history":
                self._fields.pop("summary", None)

    def raw(self, field: str) -> Any:
        """A field as held (JSON text, a decoded value, or None when not fetched)."""
        return self._fields.get(field)

    @property
    def info(self) -> RunInfo:
        """Every field of run.yaml (a RunInfo, which also reads like a dict)."""
        value = self._get("info")
        if isinstance(value, dict):
            value = self._fields["info"] = RunInfo.from_dict(value)
        return value

    params = property(lambda self: self._get("params"), lambda self, v: self._set("params", v))
    tags = property(lambda self: self._get("tags"), lambda self, v: self._set("tags", v))

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per metric: last, step, min, max, count."""
        if "summary" not in self._fields and "history" in self._fields:
            self._fields["summary"] = {k: summarize(p) for k, p in sorted(self.history.items()) if p}
        return self._get("summary")

    @summary.setter
    def summary(self, value: dict[str, dict[str, Any]]) -> None:
        self._set("summary", value)

    @property
    def metrics(self) -> LastValues:
        """Last value of each metric (MLflow's `run.data.metrics`)."""
        if "last" not in self._fields:
            self._fields["last"] = {k: v.get("last") for k, v in self.summary.items() if isinstance(v, dict)}
        value = self._get("last")
        if not isinstance(value, LastValues):
            value = self._fields["last"] = LastValues(value)
        return value

    @property
    def artifacts(self) -> list[Artifact]:
        return self._get("artifacts")

    @property
    def history(self) -> dict[str, list[Point]]:
        """Every (step, value, timestamp_ms) of every metric, ordered by step."""
        return self._get("history")

    @history.setter
    def history(self, value: dict[str, list[Point]]) -> None:
        self._set("history", value)

    # -- derived -------------------------------------------------------------------------
    @property
    def data(self) -> RunData:
        """`params`, `metrics` and `tags` under MLflow's `run.data` (gitexp's typed values)."""
        return RunData(self)

    @property
    def experiment_id(self) -> str:
        """The experiment's digit id ("0" for `default`)."""
        from gitexp.names import experiment_id

        return experiment_id(self.experiment)

    @property
    def duration(self) -> float | None:
        start, end = self.start_ms, self.end_ms
        return None if start is None or end is None else (end - start) / 1000

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"

    def metric_history(self, key: str) -> list[Point]:
        """Every (step, value, timestamp) logged for `key`."""
        if key not in self.history:
            raise GitexpError(f"run {self.name} has no metric {key!r}",
                              hint=f"its metrics: {', '.join(sorted(self.history)) or 'none'}")
        return list(self.history[key])

    def at_ref(self, ref: str) -> Run:
        """The same commit seen through another ref (a copied run ref)."""
        if ref == self.ref:
            return self
        scalars = (self.id, self.name, experiment_of(ref), self.status, self.start_ms, self.end_ms, self.user)
        return Run(ref, self.commit, scalars, self._fields, self.error, self.loader)

    def row(self, kinds: Iterable[str] = ("params", "metrics", "tags", "attributes")) -> dict[str, Any]:
        """The shape the filter language evaluates; only `kinds` are filled in."""
        return {
            "params": self.params if "params" in kinds else {},
            "metrics": self.metrics if "metrics" in kinds else {},
            "tags": self.tags if "tags" in kinds else {},
            "attributes": self.attributes() if "attributes" in kinds else {},
        }

    def attributes(self) -> dict[str, Any]:
        return {
            "status": self.status, "run_name": self.name, "run_id": self.id,
            "experiment": self.experiment, "start_time": self.start_ms, "end_time": self.end_ms,
            "duration": self.duration, "user": self.user,
        }

    def ident(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "experiment": self.experiment, "ref": self.ref,
                "commit": self.commit}

    def listing_dict(self) -> dict[str, Any]:
        """The documented JSON shape of one listed run (`gitexp ls --json`)."""
        ok = not self.error
        return {
            "id": self.id, "name": self.name, "experiment": self.experiment, "status": self.status,
            "start_time": self.info.start_time if ok else None, "end_time": self.info.end_time if ok else None,
            "duration": self.duration, "user": self.user, "params": self.params if ok else {},
            "tags": self.tags if ok else {}, "metrics": self.summary if ok else {},
            "ref": self.ref, "commit": self.commit, **({"error": self.error} if self.error else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `gitexp show --json`."""
        return {
            **self.ident(), "info": self.info.as_dict(), "duration": self.duration,
            "params": self.params, "tags": self.tags, "metrics": self.summary,
            "artifacts": [a.to_dict() for a in sorted(self.artifacts, key=lambda a: a.path)],
        }

    def __repr__(self) -> str:
        return f"<Run {self.name} ({self.id}) {self.status}>"


class RunData:
    """A run's params, metrics (last values) and tags, as MLflow's `run.data` groups them."""

    __slots__ = ("_run",)

    def __init__(self, run: Run) -> None:
        self._run = run

    params = property(lambda self: self._run.params)
    metrics = property(lambda self: self._run.metrics)
    tags = property(lambda self: self._run.tags)

    def __repr__(self) -> str:
        return f"<RunData params={self.params!r} metrics={dict(self.metrics)!r} tags={self.tags!r}>"


RunSummary = Run  # the name search results had; one model now


def experiment_of(ref: str) -> str:
    """The experiment in `refs/gitexp/runs/<experiment>/<id>` (or a remote-tracking ref)."""
    parts = ref.split("/")
    return parts[-2] if len(parts) >= 5 else ""


def scalars_of(info: RunInfo, ref: str | None) -> tuple:
    """The eager fields of a Run, from run.yaml; the experiment comes from the ref when there is one."""
    experiment = experiment_of(ref) if ref else info.experiment
    return (info.id, info.name, experiment, info.status, info.start_ms, info.end_ms, info.user)
