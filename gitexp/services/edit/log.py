"""Logging to a run that this process is not running: MLflow's `log_metric(run_id=...)`,
`MlflowClient().log_batch(run_id, ...)` and `set_terminated`.

A run still running in another process on this machine gets the data in a journal of
its own (its owner commits it at the end, as with tags); an ended run gets one new
commit with everything added (params follow the usual rule: a logged param never
changes value).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from gitexp.errors import InvalidValue, ParamConflict
from gitexp.names import check_key
from gitexp.services.edit.core import (
    EditResult, _refuse_running, edit_record, find_target, live_folder, queue_entries,
)
from gitexp.services.session import Session
from gitexp.store.record import iso_from_ms
from gitexp.store.runcommit import Record, merge_points

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

MetricPoint = tuple[str, float, int, int]  # key, value, step, timestamp (Unix ms)


def log_to_run(s: Session, run: str, metrics: Sequence[MetricPoint] = (), params: dict[str, Any] | None = None,
               tags: dict[str, Any] | None = None) -> EditResult:
    """Add metric points, params and tags to a run that is not this process's own."""
    from gitexp.services.tracking.run import _as_float, _param_value, _same

    points = [(check_key(k, "metric key"), _as_float(k, v), _step(k, step), int(ts)) for k, v, step, ts in metrics]
    params = {check_key(str(k), "param key"): _param_value(v) for k, v in (params or {}).items()}
    tags = {check_key(str(k), "tag key"): str(v) for k, v in (tags or {}).items()}
    target = find_target(s, run)
    folder = live_folder(s.db, target.info)
    if folder is not None:
        events = [("p", k, v) for k, v in params.items()] + [("t", k, v) for k, v in tags.items()]
        if queue_entries(folder, events, [(k, step, v, ts / 1000) for k, v, step, ts in points]):
            return EditResult(target.ref, target.info.id, target.info.name, target.tip, target.tip, queued=True)
        target = find_target(s, run)  # it ended meanwhile: edit its commit
    _refuse_running(target, "log to", hint="log from the machine it runs on, or after it ends")

    def mutate(state: Record) -> None:
        for key, value in params.items():
            if key in state.params and not _same(state.params[key], value):
                raise ParamConflict(f"param {key!r} is already {state.params[key]!r} in run {state.info.name}; "
                                    f"cannot change it to {value!r}", hint="params are fixed once logged")
            state.params[key] = value
        state.tags.update(tags)
        added: dict[str, list] = {}
        for key, value, step, ts in points:
            added.setdefault(key, []).append((step, value, ts))
        for key, new in added.items():
            state.metrics[key] = merge_points(state.metrics.get(key, []), new)

    what = ", ".join(filter(None, [f"{len(points)} metric points" if points else "",
                                   f"params {' '.join(params)}" if params else "",
                                   f"tags {' '.join(tags)}" if tags else ""]))
    new = edit_record(s.db, target.ref, target.tip, f"gitexp: log {what or 'nothing'}", mutate)
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, new)


def set_status(s: Session, run: str, status: str, end_ms: int | None = None) -> EditResult:
    """Set the status (and end time) of an ended run: MLflow's `set_terminated` on a run not running here."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise InvalidValue(f"unknown run status {status!r}", hint="use FINISHED, FAILED or KILLED")
    target = find_target(s, run)
    _refuse_running(target, "end", hint="end it from the process that runs it")
    end = iso_from_ms(int(time.time() * 1000) if end_ms is None else end_ms)

    def mutate(state: Record) -> None:
        state.info = state.info.replace(status=status, end_time=end)

    new = edit_record(s.db, target.ref, target.tip, f"gitexp: set status {status}", mutate)
    return EditResult(target.ref, target.info.id, target.info.name, target.tip, new)


def _step(key: str, step: Any) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if isinstance(step, float) and math.isfinite(step) and step == int(step):
                return int(step)
        except (TypeError, ValueError):
            pass
        raise InvalidValue(f"step for metric {key!r} must be a whole number")
    return step
