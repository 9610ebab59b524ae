"""Search runs: MLflow's filter grammar over the cached summaries, sorting, limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from gitexp.errors import GitexpError
from gitexp.names import SHORT_ID, check_experiment
from gitexp.model import LAZY_FIELDS, Run
from gitexp.services.catalog.cache import Progress, paused_gc
from gitexp.services.catalog.listing import list_runs, run_refs
from gitexp.services.catalog.sqlsearch import evaluate, kinds_of, search_sql
from gitexp.services.session import Session
from gitexp.store.record import flatten
from gitexp.store.repo import RUNS_PREFIX

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

    from gitexp.services.catalog.filterexpr import Filter, SortKey


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
    if max_results is not None and (isinstance(max_results, bool) or not _is_integral(max_results)
                                    or max_results < 0):
        raise GitexpError(f"max_results must be a whole number >= 0, not {max_results!r}",
                          hint="use None for no limit")
    predicate, keys = parse_search(filter_string, order_by)
    searched = _refs(s, experiment, refs) if runs is None and _in_sql(predicate, keys, max_results) else None
    result = _search(s, predicate, keys, experiment, searched, max_results, output, progress, runs, ())
    if output == "list":
        return result
    dicts = [r.listing_dict() for r in result]
    return dicts if output == "dicts" else to_dataframe(dicts)


def parse_search(filter_string: str | None,
                 order_by: Sequence[str] | str | None) -> tuple[Filter | None, list[SortKey]]:
    """The filter (None: every run) and sort keys; without either, the filter language is not even loaded."""
    texts = [order_by] if isinstance(order_by, str) else list(order_by or [])
    if not texts and (filter_string is None or isinstance(filter_string, str) and not filter_string.strip()):
        return None, []
    from gitexp.services.catalog.filterexpr import parse_filter, parse_sort

    return parse_filter(filter_string), [parse_sort(k) for k in texts]


def _in_sql(predicate: Filter | None, keys: list[SortKey], max_results: int | None) -> bool:
    """Whether a search is worth running in SQL: a filter, a sort or a limit (else every run is read anyway)."""
    return predicate is not None and predicate.node is not None or bool(keys) or max_results is not None


def _is_integral(value: Any) -> bool:
    if isinstance(value, int):
        return True
    import numbers  # a numpy integer, say

    return isinstance(value, numbers.Integral)


def _search(s: Session, predicate: Filter | None, keys: list[SortKey], experiment: str | Sequence[str] | None,
            searched: tuple[dict[str, str], list[str] | None] | None, max_results: int | None, output: str,
            progress: Progress | None, runs: Sequence[Run] | None, wanted: Sequence[str]) -> list[Run]:
    """`search` once parsed: in SQL over `searched` (`_refs`, when `_in_sql`) if it can, else by the evaluator.

    `wanted` are fields the caller reads from every result, fetched with the rows."""
    kinds = kinds_of(predicate, keys)
    # Dicts and frames read every field of every result: fetch them with the rows, not one by one.
    fields: list[str] = list(LAZY_FIELDS) if output != "list" else \
        [k for k in LAZY_FIELDS if k in wanted or k in ("params", "tags") and k in kinds]
    with paused_gc():  # the index turns it back on while it parses records
        result = None
        if searched is not None:
            result = search_sql(s, predicate, keys, *searched, max_results, fields, progress)
        if result is None:
            runs = _runs(s, experiment, progress, fields) if runs is None else _in_experiments(runs, experiment)
            result = evaluate(runs, predicate, keys)[:max_results]
    return result


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
                limit: int | None, progress: Progress | None = None, refs: dict[str, str] | None = None,
                fields: Sequence[str] = ()) -> tuple[list[Run], int]:
    """`search`'s first `limit` runs (None: all) and how many it finds in all.

    Without a filter every run of the experiment matches, so the count is that of its
    refs and only the shown rows are read; with one, every match is. `fields` (of
    `model.LAZY_FIELDS`) are read with the shown rows rather than one run at a time.
    """
    predicate, keys = parse_search(filter_string, order_by)
    if limit is None or predicate is not None and predicate.node is not None:
        runs = search(s, filter_string, order_by, experiment, progress=progress, refs=refs)
        return runs[:limit], len(runs)
    searched = _refs(s, experiment, refs)
    return _search(s, predicate, keys, experiment, searched, limit, "list", progress, None, fields), len(searched[0])


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
    some are shown); only ids sharing the first `minimum` characters need comparing.
    """
    every = set(ids) | set(among)
    heads = Counter(i[:minimum] for i in every)
    out = {}
    for run_id in set(ids):
        need = minimum
        if heads[run_id[:minimum]] > 1:  # rare: another id starts the same
            for other in every:
                if other != run_id and other.startswith(run_id[:minimum]):
                    need = max(need, _common(run_id, other) + 1)
        out[run_id] = run_id[:need]
    return out


def _common(a: str, b: str) -> int:
    """The length of the common prefix of `a` and `b`."""
    return next((n for n, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
