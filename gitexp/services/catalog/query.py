"""Search runs: MLflow's filter grammar over the cached summaries, sorting, limits."""

from __future__ import annotations

import numbers
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from gitexp.errors import GitexpError
from gitexp.names import SHORT_ID, check_experiment
from gitexp.services.catalog.filterexpr import parse_filter, parse_sort
from gitexp.model import LAZY_FIELDS, Run
from gitexp.services.catalog.cache import Progress, paused_gc
from gitexp.services.catalog.listing import list_runs, run_refs
from gitexp.services.catalog.sqlsearch import evaluate, kinds_of, search_sql
from gitexp.services.session import Session
from gitexp.store.record import flatten
from gitexp.store.repo import RUNS_PREFIX


def search(s: Session, filter_string: str | None = None, order_by: Sequence[str] | str | None = None,
           experiment: str | Sequence[str] | None = None, max_results: int | None = None,
           output: str = "list", progress: Progress | None = None, runs: Sequence[Run] | None = None,
           refs: dict[str, str] | None = None) -> Any:
    """Runs matching `filter_string`, sorted by `order_by` (newest first by default).

    Args:
        filter_string: e.g. ``"metrics.acc > 0.9 and params.lr = 0.01"``.
        order_by: keys like ``"metrics.acc DESC"`` or ``"metrics.acc:desc"``.
        experiment: one name, several, or None for every experiment.
        max_results: cut the result after sorting.
        output: ``"list"`` (Run objects), ``"dicts"`` or ``"pandas"``.
        runs: search these runs (listed before, fields decoded) instead of listing them.
        refs: every run's ref, as `run_refs(s)` gave them, to save listing them again.
    """
    if output not in ("list", "dicts", "pandas"):
        raise GitexpError(f"unknown output {output!r}", hint="use 'list', 'dicts' or 'pandas'")
    if max_results is not None and (isinstance(max_results, bool) or not isinstance(max_results, numbers.Integral)
                                    or max_results < 0):
        raise GitexpError(f"max_results must be a whole number >= 0, not {max_results!r}",
                          hint="use None for no limit")
    predicate = parse_filter(filter_string)
    keys = [parse_sort(k) for k in ([order_by] if isinstance(order_by, str) else order_by or [])]
    kinds = kinds_of(predicate, keys)
    # Dicts and frames read every field of every result: fetch them with the rows, not one by one.
    fields: list[str] = list(LAZY_FIELDS) if output != "list" else [k for k in ("params", "tags") if k in kinds]
    with paused_gc():  # the index turns it back on while it parses records
        result = None
        if runs is None and (predicate.node is not None or keys or max_results is not None):
            result = search_sql(s, predicate, keys, *_refs(s, experiment, refs), max_results, fields, progress)
        if result is None:
            runs = _runs(s, experiment, progress, fields) if runs is None else _in_experiments(runs, experiment)
            result = evaluate(runs, predicate, keys)[:max_results]
    if output == "list":
        return result
    dicts = [r.listing_dict() for r in result]
    return dicts if output == "dicts" else to_dataframe(dicts)


def _runs(s: Session, experiment: str | Sequence[str] | None, progress: Progress | None,
          fields: list[str]) -> list[Run]:
    if experiment is None:
        return list_runs(s, None, progress, fields)
    names = [experiment] if isinstance(experiment, str) else list(experiment)
    if len(names) == 1:
        return list_runs(s, check_experiment(names[0]), progress, fields)
    wanted = {check_experiment(n) for n in names}
    return [r for r in list_runs(s, None, progress, fields) if r.experiment in wanted]


def _refs(s: Session, experiment: str | Sequence[str] | None,
          every: dict[str, str] | None = None) -> tuple[dict[str, str], list[str] | None]:
    """({ref: commit} of the runs searched, their experiments or None for all); dead runs recovered first.

    `every` (all runs' refs, listed after the recovery) is narrowed rather than listed again.
    """
    s.recover()
    if experiment is None:
        return (run_refs(s) if every is None else every), None
    names = sorted({check_experiment(n) for n in ([experiment] if isinstance(experiment, str) else experiment)})
    if len(names) == 1 and every is None:
        return run_refs(s, names[0]), names
    every = run_refs(s) if every is None else every
    prefixes = tuple(f"{RUNS_PREFIX}{n}/" for n in names)
    return {ref: c for ref, c in every.items() if ref.startswith(prefixes)}, names


def search_page(s: Session, filter_string: str | None, order_by: Sequence[str], experiment: str | None,
                limit: int | None, progress: Progress | None = None,
                refs: dict[str, str] | None = None) -> tuple[list[Run], int]:
    """`search`'s first `limit` runs (None: all) and how many it finds in all.

    Without a filter every run of the experiment matches, so the count is that of its
    refs and only the shown rows are read; with one, every match is.
    """
    if limit is None or parse_filter(filter_string).node is not None:
        runs = search(s, filter_string, order_by, experiment, progress=progress, refs=refs)
        return runs[:limit], len(runs)
    total = len(_refs(s, experiment, refs)[0])
    return search(s, None, order_by, experiment, limit, progress=progress, refs=refs), total


def _in_experiments(runs: Sequence[Run], experiment: str | Sequence[str] | None) -> Sequence[Run]:
    if experiment is None:
        return runs
    wanted = {check_experiment(n) for n in ([experiment] if isinstance(experiment, str) else experiment)}
    return [r for r in runs if r.experiment in wanted]


_FRAME_COLUMNS = ["run_id", "run_name", "experiment", "status", "start_time", "end_time"]


def to_dataframe(dicts: list[dict[str, Any]]) -> Any:
    """MLflow-style DataFrame: run_id, status, … then params.*, metrics.*, tags.* columns."""
    try:
        import pandas as pd
    except ImportError:
        raise GitexpError("output='pandas' needs pandas", hint="pip install 'gitexp[pandas]'") from None
    records = []
    for d in dicts:
        rec = {"run_id": d["id"], "run_name": d["name"], "experiment": d["experiment"],
               "status": d["status"], "start_time": d["start_time"], "end_time": d["end_time"]}
        rec.update({f"params.{k}": v for k, v in flatten(d["params"]).items()})
        rec.update({f"metrics.{k}": v.get("last") for k, v in d["metrics"].items()})
        rec.update({f"tags.{k}": v for k, v in d["tags"].items()})
        records.append(rec)
    if not records:  # like MLflow: no rows, but the attribute columns are still there
        return pd.DataFrame(columns=_FRAME_COLUMNS)
    return pd.DataFrame.from_records(records)


def short_ids(ids: Sequence[str], minimum: int = SHORT_ID, among: Sequence[str] = ()) -> dict[str, str]:
    """The shortest prefix (at least `minimum` chars) that tells each of `ids` apart.

    Prefixes must be unique among `ids` and `among` (e.g. every run, when only
    some are shown); only the neighbours in sorted order need to be compared.
    """
    ordered = sorted(set(ids) | set(among))
    out = {}
    for run_id in set(ids):
        i = bisect_left(ordered, run_id)
        need = minimum
        for other in ordered[max(i - 1, 0):i] + ordered[i + 1:i + 2]:
            common = next((n for n, (a, b) in enumerate(zip(run_id, other)) if a != b), min(len(run_id), len(other)))
            need = max(need, common + 1)
        out[run_id] = run_id[:need]
    return out
