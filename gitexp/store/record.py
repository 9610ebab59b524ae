"""The run record stored under `.gitexp/` in every run commit (format version 1)."""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Sequence

from gitexp.errors import CorruptRecord, NewerFormat
from gitexp.names import SHA256_HEX, experiment_id, is_run_id, key_problem
from gitexp.slots import Slots
from gitexp.lazyre import lazy

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Any

FORMAT = 1
RECORD_DIR = ".gitexp"
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
TSV_HEADER = b"step\tvalue\ttimestamp\n"

Point = tuple[int, float, int]  # step, value, timestamp (Unix ms)


class RunInfo(Slots):
    """Everything in `run.yaml`."""

    __slots__ = ("id", "name", "experiment", "status", "start_time", "end_time", "user", "host", "command",
                 "exit_code", "baseline", "branch", "dirty", "skipped", "gitexp_version", "python_version",
                 "parent_run", "description")

    def __init__(self, id: str, name: str, experiment: str, status: str = "RUNNING", start_time: str = "",
                 end_time: str | None = None, user: str = "", host: str = "", command: list[str] | None = None,
                 exit_code: int | None = None, baseline: str | None = None, branch: str | None = None,
                 dirty: bool = False, skipped: list[dict[str, Any]] | None = None, gitexp_version: str = "",
                 python_version: str = "", parent_run: str | None = None, description: str | None = None) -> None:
        self.id, self.name, self.experiment, self.status = id, name, experiment, status
        self.start_time, self.end_time, self.user, self.host = start_time, end_time, user, host
        self.command: list[str] = command if command is not None else []
        self.exit_code, self.baseline = exit_code, baseline
        self.branch = branch  # the branch HEAD was on (None: detached, or a record from before)
        self.dirty = dirty
        self.skipped: list[dict[str, Any]] = skipped if skipped is not None else []
        self.gitexp_version, self.python_version = gitexp_version, python_version
        self.parent_run, self.description = parent_run, description

    def to_yaml(self) -> bytes:
        from gitexp.store import yamlio

        return yamlio.dump({"format": FORMAT, **self.as_dict()})

    @classmethod
    def from_yaml(cls, data: bytes, ref: str | None = None) -> "RunInfo":
        """Parse and type-check `run.yaml`; with `ref`, its id must be the ref's last part.

        Unknown keys are ignored (format evolution); a record of a newer format
        raises NewerFormat, anything malformed CorruptRecord with the reason.
        """
        from gitexp.store import yamlio  # here: listing from the cache parses no YAML

        raw = yamlio.load_record(data, "run.yaml")
        if not isinstance(raw, dict):
            raise CorruptRecord("malformed run.yaml: expected a mapping")
        _check_format(raw.get("format", FORMAT))
        if raw.get("status") not in STATUSES:
            raise CorruptRecord(f"malformed run.yaml: unknown status {raw.get('status')!r:.40}")
        known = {k: _field(k, raw[k]) for k in cls.__slots__ if k in raw}
        for key in ("id", "name", "experiment", "start_time"):
            known[key] = known.get(key) or ""
        if not is_run_id(known["id"]):
            raise CorruptRecord(f"malformed run.yaml: {known['id']!r:.40} is not a run id")
        if ref is not None and ref.rsplit("/", 1)[-1] != known["id"]:
            raise CorruptRecord(f"run.yaml says id {known['id']} but its ref is {ref}",
                                hint="the record was copied or tampered with; its ref name is the run's id")
        return cls(**known)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunInfo":
        """A RunInfo from fields already checked (a cache row); unknown keys are ignored."""
        return cls(**{k: raw[k] for k in cls.__slots__ if k in raw})

    @property
    def start_ms(self) -> int | None:
        return ms_from_iso(self.start_time)

    # MLflow's names for the same fields (`run.info.run_id`, …).
    run_id = property(lambda self: self.id, doc="MLflow's name for `id`")
    run_name = property(lambda self: self.name, doc="MLflow's name for `name`")

    @property
    def experiment_id(self) -> str:
        """The experiment's stable digit id ("0" for `default`), as MLflow names experiments."""
        return experiment_id(self.experiment)

    @property
    def end_ms(self) -> int | None:
        return ms_from_iso(self.end_time)

    def get(self, key: str, default: Any = None) -> Any:
        """Read a field by name, as from the dict listings once returned."""
        return getattr(self, key, default) if key in self.__slots__ or key in ("start_ms", "end_ms") \
            else default

    def __getitem__(self, key: str) -> Any:
        if key not in self.__slots__ and key not in ("start_ms", "end_ms"):
            raise KeyError(key)
        return getattr(self, key)


def _check_format(version: Any) -> None:
    if type(version) is not int or version < 1:
        raise CorruptRecord(f"malformed run.yaml: format {version!r:.20} is not a version number")
    if version > FORMAT:
        raise NewerFormat(f"run written by a newer gitexp (record format {version}; this gitexp reads "
                          f"format {FORMAT}): upgrade", hint="pip install -U gitexp")


_TEXT = ("id", "name", "experiment", "status", "start_time", "user", "host", "gitexp_version", "python_version")
_OPTIONAL_TEXT = ("end_time", "baseline", "branch", "parent_run", "description")


_ANY_TEXT = frozenset(_TEXT + _OPTIONAL_TEXT)


def _field(key: str, value: Any) -> Any:
    """A known run.yaml field, type-checked (scalars written as numbers read as text)."""
    if type(value) is str and key in _ANY_TEXT:  # most fields: checked first (a cold listing checks 170,000)
        return value
    if key in _ANY_TEXT:
        if value is None and key in _OPTIONAL_TEXT:
            return None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif key == "command":
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v) for v in value]
    elif key == "exit_code":
        if value is None or (type(value) is int and abs(value) < 1 << 31):
            return value
    elif key == "dirty":
        if isinstance(value, bool):
            return value
    elif key == "skipped":
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
    raise CorruptRecord(f"malformed run.yaml: {key} has the wrong type ({type(value).__name__})")


class Artifact(Slots):
    """One line of `artifacts.yaml`."""

    __slots__ = ("path", "size", "sha256", "inline", "blob")

    def __init__(self, path: str, size: int, sha256: str, inline: bool, blob: str | None = None) -> None:
        self.path, self.size, self.sha256, self.inline = path, size, sha256, inline
        self.blob = blob  # git blob id when inline

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256,
                "storage": "inline" if self.inline else "side-store"}


def iso_from_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    ms = int(ms)  # (time, not datetime: a run start should not import it)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


_datetime: Any = None  # datetime.datetime, imported on the first parse: a run start only formats times


def ms_from_iso(text: str | None) -> int | None:
    global _datetime
    if not text:
        return None
    if _datetime is None:
        from datetime import datetime as _datetime
    try:
        return round(_datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def format_metric(points: list[Point]) -> bytes:
    """TSV with `repr` floats, so every value (nan, inf included) reads back exactly."""
    return TSV_HEADER + "".join(["%d\t%r\t%d\n" % p for p in points]).encode()


Columns = tuple[Sequence[int], Sequence[float], Sequence[int]]  # steps, values, timestamps
_ROWS = lazy(rb"(?:-?[0-9]+\t[^\t\n ]+\t-?[0-9]+\n)*")


def parse_metric(data: bytes) -> list[Point]:
    """Parse a metric TSV; a malformed row raises CorruptRecord."""
    return list(zip(*parse_metric_columns(data)))


def parse_metric_columns(data: bytes) -> Columns:
    """A metric TSV as compact columns (int64 steps, float64 values, int64 timestamps).

    The fast path checks the whole file's shape with one regex and converts each
    column with `map`; anything it does not take (huge ints, stray spaces, a bad
    row) goes through the row-by-row parser, which names the bad row.
    """
    body = data[len(TSV_HEADER):] if data.startswith(TSV_HEADER) else None
    if body is not None:
        body = body if not body or body.endswith(b"\n") else body + b"\n"
        if _ROWS.fullmatch(body):
            cells = body.split()
            try:
                return array("q", map(int, cells[0::3])), array("d", map(float, cells[1::3])), \
                    array("q", map(int, cells[2::3]))
            except (ValueError, OverflowError):
                pass
    points = _parse_rows(data)
    return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]


def _parse_rows(data: bytes) -> list[Point]:
    rows = data.decode("utf-8", "replace").splitlines()
    if not rows or rows[0].split("\t") != ["step", "value", "timestamp"]:
        raise CorruptRecord("malformed metric file: bad header")
    points = []
    for n, row in enumerate(rows[1:], start=2):
        try:
            s, v, t = row.split("\t")
            points.append((int(s), float(v), int(t)))
        except ValueError:
            raise CorruptRecord(f"malformed metric file: bad row {n}: {row[:60]!r}") from None
    return points


def summarize(points: list[Point]) -> dict[str, Any]:
    """last value and its step, min, max (NaN ignored) and count of one metric."""
    finite = [v for _, v, _ in points if not math.isnan(v)]
    last_step, last_value, _ = points[-1]
    return {
        "last": last_value,
        "step": last_step,
        "min": min(finite) if finite else math.nan,
        "max": max(finite) if finite else math.nan,
        "count": len(points),
    }


def encode_record(info: RunInfo, params: dict, tags: dict[str, str],
                  metrics: dict[str, list[Point]], artifacts: list[Artifact],
                  output: bytes | None = None) -> dict[str, bytes]:
    """Serialise a whole record as {path under .gitexp/: bytes}."""
    from gitexp.store import yamlio

    files = {
        "run.yaml": info.to_yaml(),
        "params.yaml": yamlio.dump(_sorted(params)),
        "tags.yaml": yamlio.dump({k: str(tags[k]) for k in sorted(tags)}),
        "summary.yaml": yamlio.dump({k: summarize(p) for k, p in sorted(metrics.items()) if p}),
        "artifacts.yaml": yamlio.dump([a.to_dict() for a in sorted(artifacts, key=lambda a: a.path)]),
    }
    for key, points in metrics.items():
        files[f"metrics/{key}.tsv"] = format_metric(points)
    if output is not None:
        files["output.log"] = output
    return files


def _sorted(value: Any) -> Any:
    """Mappings with sorted keys, recursively: the same params always give the same bytes."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    return value


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {dotted.path: leaf}; an empty mapping is a leaf of its own."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parse_mapping(data: bytes | None, what: str) -> dict:
    """A YAML mapping file (params, tags, summary); empty when absent."""
    if data is None:
        return {}
    from gitexp.store import yamlio

    value = yamlio.load_record(data, what)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CorruptRecord(f"malformed {what}: expected a mapping")
    return value


def parse_artifacts(data: bytes | None) -> list[dict[str, Any]]:
    if data is None:
        return []
    from gitexp.store import yamlio

    value = yamlio.load_record(data, "artifacts.yaml")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, dict) and isinstance(a.get("path"), str) for a in value):
        raise CorruptRecord("malformed artifacts.yaml: expected a list of entries with a path")
    for item in value:
        if key_problem(item["path"]):
            raise CorruptRecord(f"malformed artifacts.yaml: unsafe artifact path {item['path']!r:.60}")
        sha256 = item.get("sha256", "")
        if type(item.get("size", 0)) is not int or not isinstance(sha256, str) or \
                (sha256 and not SHA256_HEX.fullmatch(sha256)):
            raise CorruptRecord(f"malformed artifacts.yaml: bad size or sha256 for {item['path']!r:.60}")
    return value
