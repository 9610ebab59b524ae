"""Diff two runs, or compare many side by side: plain objects in, record classes (`gitexp.slots`) out.

`diff_runs` answers "what changed between run A and run B?": run info, params
(nested ones by dotted path), metric summaries with absolute and relative
change, tags, artifacts (by sha256) and the code snapshot (files that differ,
optionally with unified diff text). `compare_runs` lines up N runs' status,
duration, params and last metric values, marking the rows that differ.

Both read `summary.yaml` rather than metric histories, so their cost does not
grow with the number of logged points; a run still RUNNING in this repository
is read through `get_run`, which merges its unflushed journals.
"""

from __future__ import annotations

import math
import shlex
import stat

from gitexp.errors import CorruptRecord, GitexpError
from gitexp.model import Run, scalars_of
from gitexp.services.catalog.cache import read_fields
from gitexp.services.catalog.listing import live_record, resolve, run_from_record, run_refs
from gitexp.services.session import Session
from gitexp.slots import Slots
from gitexp.store.record import RECORD_DIR, RunInfo, flatten
from gitexp.store.repo import GITLINK, Entry, GitDB
from gitexp.store.runcommit import RecordReader, read_artifacts

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

ADDED, REMOVED, CHANGED, UNCHANGED = "added", "removed", "changed", "unchanged"
MODIFIED = "modified"  # code files use git's word
STATS = ("last", "min", "max")
INFO_KEYS = ("experiment", "status", "exit_code", "duration", "baseline", "dirty", "command")
BINARY_SNIFF = 8000  # git's heuristic: a NUL byte in the first 8000 bytes means binary
MAX_DIFF_BYTES = 4 << 20  # larger files are reported, not diffed line by line


# -- loading ---------------------------------------------------------------------------------

def load_runs(s: Session, texts: list[str]) -> list[Run]:
    """Runs without metric histories (as a listing holds them), artifacts included."""
    s.recover()
    refs = run_refs(s)
    return [load_run(s, t, refs) for t in texts]


def load_run(s: Session, text: str, refs: dict[str, str] | None = None) -> Run:
    """Resolve `text` (id, prefix, name or git revision; among `refs` if given) and read its record.

    A run still running here, or a record without summary.yaml, is read whole
    (journals merged) so its summary is right.
    """
    ref, commit = resolve(s, text, refs=refs)
    try:
        fields = read_fields(s.db, commit, ref)
        info: RunInfo = fields["info"]
        rec = RecordReader(s.db, commit)
        if info.status == "RUNNING" or (not fields["summary"] and rec.metric_keys()):
            return run_from_record(ref, commit, live_record(s, commit, ref))
        fields["artifacts"] = read_artifacts(rec)
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"unreadable run record in {commit[:12]} ({text}): {exc}") from None
    return Run(ref, commit, scalars_of(info, ref), fields)


def _artifacts(run: Run) -> dict[str, dict[str, Any]]:
    """path -> {size, sha256, storage}"""
    out = {}
    for a in run.artifacts:
        item = a.to_dict()
        out[a.path] = {"size": item["size"], "sha256": item["sha256"], "storage": item["storage"]}
    return out


# -- value helpers -----------------------------------------------------------------------------

def same(a: Any, b: Any) -> bool:
    """Equal in value and type (1 != 1.0 != True, as the YAML text differs); nan equals nan."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def change(a: Any, b: Any) -> tuple[float | None, float | None]:
    """(b - a, (b - a) / |a|); None where it is not a number (a missing, nan, or a == 0)."""
    if not _is_number(a) or not _is_number(b):
        return None, None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return None, None
    if a == b:  # also inf == inf
        return 0.0, 0.0
    delta = b - a
    if math.isnan(delta):
        return None, None
    rel = delta / abs(a) if a != 0 and math.isfinite(a) else None
    return delta, rel


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# -- diff ----------------------------------------------------------------------------------------

class ValueDiff(Slots):
    """One keyed value (param, tag, info field) in A and B; a/b None when absent."""

    __slots__ = ("key", "change", "a", "b")

    def __init__(self, key: str, change: str, a: Any = None, b: Any = None) -> None:
        self.key, self.change, self.a, self.b = key, change, a, b

    def to_dict(self) -> dict[str, Any]:
        return self.as_dict()  # the documented JSON shape: the fields in order


class MetricDiff(Slots):
    """One metric's summaries ({last, step, min, max, count}) in A and B."""

    __slots__ = ("key", "change", "a", "b")

    def __init__(self, key: str, change: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
        self.key, self.change, self.a, self.b = key, change, a, b

    def get(self, side: str, stat: str) -> Any:
        summary = self.a if side == "a" else self.b
        return None if summary is None else summary.get(stat)

    def delta(self, stat: str) -> tuple[float | None, float | None]:
        """(absolute, relative) change of `stat` (last, min or max) from A to B."""
        return change(self.get("a", stat), self.get("b", stat))

    def stat_changed(self, stat: str) -> bool:
        return not same(_num(self.get("a", stat)), _num(self.get("b", stat)))

    def to_dict(self) -> dict[str, Any]:
        deltas = {}
        for name in STATS:
            abs_, rel = self.delta(name)
            deltas[name] = {"abs": abs_, "rel": rel}
        return {"key": self.key, "change": self.change, "a": self.a, "b": self.b, "delta": deltas}


class ArtifactDiff(Slots):
    """One artifact path: {size, sha256, storage} in A and B; changed means another sha256."""

    __slots__ = ("path", "change", "a", "b")

    def __init__(self, path: str, change: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
        self.path, self.change, self.a, self.b = path, change, a, b

    def to_dict(self) -> dict[str, Any]:
        return self.as_dict()  # the documented JSON shape: the fields in order


class FileDiff(Slots):
    """One code file that differs between the two snapshots: `change` is added, removed or modified;
    `note` e.g. "binary files differ", "mode 100644 -> 100755"; line counts None for binary files,
    submodules and files too large to diff; `text` the unified diff, only with code_text."""

    __slots__ = ("path", "change", "old_mode", "new_mode", "binary", "note", "added_lines", "removed_lines", "text")

    def __init__(self, path: str, change: str, old_mode: int | None = None, new_mode: int | None = None) -> None:
        self.path, self.change, self.old_mode, self.new_mode = path, change, old_mode, new_mode
        self.binary: bool = False
        self.note: str | None = None
        self.added_lines: int | None = None
        self.removed_lines: int | None = None
        self.text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path, "change": self.change, "binary": self.binary,
            "old_mode": None if self.old_mode is None else f"{self.old_mode:06o}",
            "new_mode": None if self.new_mode is None else f"{self.new_mode:06o}",
        }
        if self.note:
            out["note"] = self.note
        out.update(added_lines=self.added_lines, removed_lines=self.removed_lines)
        if self.text is not None:
            out["text"] = self.text
        return out


class RunDiff(Slots):
    """Everything that differs from run A to run B (and, with include_unchanged, what does not)."""

    __slots__ = ("a", "b", "info", "params", "metrics", "tags", "artifacts", "code", "code_unchanged",
                 "include_unchanged", "code_text")

    def __init__(self, a: Run, b: Run, info: list[ValueDiff], params: list[ValueDiff], metrics: list[MetricDiff],
                 tags: list[ValueDiff], artifacts: list[ArtifactDiff], code: list[FileDiff], code_unchanged: int = 0,
                 include_unchanged: bool = False, code_text: bool = False) -> None:
        self.a, self.b, self.info, self.params, self.metrics, self.tags = a, b, info, params, metrics, tags
        self.artifacts, self.code, self.code_unchanged = artifacts, code, code_unchanged
        self.include_unchanged, self.code_text = include_unchanged, code_text

    SECTIONS = ("info", "params", "metrics", "tags", "artifacts", "code")

    def changed(self, section: str) -> list[Any]:
        """The items of a section that differ."""
        return [item for item in getattr(self, section) if item.change != UNCHANGED]

    @property
    def identical(self) -> bool:
        """No difference in params, metrics, tags, artifacts or code (run info aside)."""
        return not any(self.changed(s) for s in self.SECTIONS if s != "info")

    def to_dict(self) -> dict[str, Any]:
        """The documented `gitexp diff --json` shape."""
        return {
            "a": self.a.ident(), "b": self.b.ident(), "identical": self.identical,
            "info": [d.to_dict() for d in self.info],
            "params": [d.to_dict() for d in self.params],
            "metrics": [d.to_dict() for d in self.metrics],
            "tags": [d.to_dict() for d in self.tags],
            "artifacts": [d.to_dict() for d in self.artifacts],
            "code": {"files": [f.to_dict() for f in self.code], "unchanged": self.code_unchanged},
        }


def diff_runs(s: Session, a: str, b: str, include_unchanged: bool = False, code_text: bool = False) -> RunDiff:
    """Diff run `a` against run `b` (any reference `resolve` accepts).

    Args:
        include_unchanged: also list params, metrics, tags, artifacts and info fields
            that are the same (code files are only counted: `code_unchanged`).
        code_text: add the unified diff text and line counts of each changed code file.
    """
    ra, rb = load_runs(s, [a, b])
    return diff_records(s.db, ra, rb, include_unchanged, code_text)


def diff_records(db: GitDB, ra: Run, rb: Run, include_unchanged: bool = False,
                 code_text: bool = False) -> RunDiff:
    """`diff_runs` on records already loaded."""
    keep = (lambda d: True) if include_unchanged else (lambda d: d.change != UNCHANGED)
    info = [_quiet_duration(d) for d in _value_diffs(_info_values(ra), _info_values(rb), ordered=True)]
    info = [d for d in info if keep(d)]
    params = [d for d in _value_diffs(flatten(ra.params), flatten(rb.params)) if keep(d)]
    tags = [d for d in _value_diffs(ra.tags, rb.tags) if keep(d)]
    metrics = [d for d in _metric_diffs(ra.summary, rb.summary) if keep(d)]
    artifacts = [d for d in _artifact_diffs(_artifacts(ra), _artifacts(rb)) if keep(d)]
    files, unchanged = code_diff(db, db.commit_info(ra.commit)[0], db.commit_info(rb.commit)[0], code_text)
    return RunDiff(ra, rb, info, params, metrics, tags, artifacts, files, unchanged, include_unchanged, code_text)


DURATION_NOISE = (1.0, 0.25)  # seconds, fraction: durations closer than both are "the same"


def same_duration(a: float | None, b: float | None) -> bool:
    """Run durations that differ by timing noise only: within 1 s or within 25% of the longer."""
    if a is None or b is None:
        return a is b
    seconds, fraction = DURATION_NOISE
    return abs(a - b) <= max(seconds, fraction * max(abs(a), abs(b)))


def _quiet_duration(d: ValueDiff) -> ValueDiff:
    if d.key == "duration" and d.change == CHANGED and same_duration(d.a, d.b):
        d.change = UNCHANGED
    return d


def _info_values(r: Run) -> dict[str, Any]:
    i = r.info
    values = {"experiment": i.experiment, "status": i.status, "exit_code": i.exit_code,
              "duration": r.duration, "baseline": i.baseline, "dirty": bool(i.dirty),
              "command": shlex.join(str(c) for c in i.command) if i.command else None}
    return {k: values[k] for k in INFO_KEYS}


def _value_diffs(a: dict[str, Any], b: dict[str, Any], ordered: bool = False) -> list[ValueDiff]:
    keys = list(a) + [k for k in b if k not in a] if ordered else sorted(set(a) | set(b))
    out = []
    for key in keys:
        if key not in b:
            out.append(ValueDiff(key, REMOVED, a[key], None))
        elif key not in a:
            out.append(ValueDiff(key, ADDED, None, b[key]))
        else:
            kind = UNCHANGED if same(a[key], b[key]) else CHANGED
            out.append(ValueDiff(key, kind, a[key], b[key]))
    return out


def _num(x: Any) -> Any:
    """Summary numbers compare as floats (YAML may give 1 for 1.0)."""
    return float(x) if _is_number(x) else x


def _metric_diffs(a: dict[str, dict], b: dict[str, dict]) -> list[MetricDiff]:
    out = []
    for key in sorted(set(a) | set(b)):
        sa, sb = a.get(key), b.get(key)
        if sa is None:
            out.append(MetricDiff(key, ADDED, None, sb))
        elif sb is None:
            out.append(MetricDiff(key, REMOVED, sa, None))
        else:
            fields = ("last", "step", "min", "max", "count")
            equal = all(same(_num(sa.get(f)), _num(sb.get(f))) for f in fields)
            out.append(MetricDiff(key, UNCHANGED if equal else CHANGED, sa, sb))
    return out


def _artifact_diffs(a: dict[str, dict], b: dict[str, dict]) -> list[ArtifactDiff]:
    out = []
    for path in sorted(set(a) | set(b)):
        fa, fb = a.get(path), b.get(path)
        if fa is None:
            kind = ADDED
        elif fb is None:
            kind = REMOVED
        else:
            kind = UNCHANGED if fa.get("sha256") == fb.get("sha256") else CHANGED
        out.append(ArtifactDiff(path, kind, fa, fb))
    return out


# -- code ------------------------------------------------------------------------------------------

def code_files(db: GitDB, tree: str) -> dict[str, Entry]:
    """The code snapshot of a run tree: every file but the record under `.gitexp/`."""
    skip = RECORD_DIR + "/"
    return {p: e for p, e in db.list_tree(tree).items() if not p.startswith(skip) and p != RECORD_DIR}


def code_diff(db: GitDB, tree_a: str, tree_b: str, text: bool = False) -> tuple[list[FileDiff], int]:
    """(files that differ between two run trees, number of identical files)."""
    fa, fb = code_files(db, tree_a), code_files(db, tree_b)
    out, unchanged = [], 0
    for path in sorted(set(fa) | set(fb)):
        ea, eb = fa.get(path), fb.get(path)
        if ea == eb:
            unchanged += 1
            continue
        kind = ADDED if ea is None else REMOVED if eb is None else MODIFIED
        out.append(_file_diff(db, path, kind, ea, eb, text))
    return out, unchanged


def _file_diff(db: GitDB, path: str, kind: str, ea: Entry | None, eb: Entry | None, text: bool) -> FileDiff:
    """One changed file: binary or not and +added -removed line counts always, the diff text with `text`."""
    fd = FileDiff(path, kind, ea.mode if ea else None, eb.mode if eb else None)
    if any(e is not None and stat.S_IFMT(e.mode) == GITLINK for e in (ea, eb)):
        fd.note = f"submodule {_short(ea)} -> {_short(eb)}"
        return fd
    if ea is not None and eb is not None and ea.sha == eb.sha:
        fd.note = f"mode {ea.mode:06o} -> {eb.mode:06o}"
        fd.added_lines = fd.removed_lines = 0
        if text:
            fd.text = f"diff --git a/{path} b/{path}\nold mode {ea.mode:06o}\nnew mode {eb.mode:06o}"
        return fd
    old = db.read_blob(ea.sha) if ea else b""
    new = db.read_blob(eb.sha) if eb else b""
    if b"\0" in old[:BINARY_SNIFF] or b"\0" in new[:BINARY_SNIFF]:
        fd.binary, fd.note = True, "binary files differ"
        if text:
            fd.text = f"Binary files {_label('a', path, ea)} and {_label('b', path, eb)} differ"
        return fd
    if len(old) > MAX_DIFF_BYTES or len(new) > MAX_DIFF_BYTES:
        fd.note = f"files too large to diff ({len(old)} and {len(new)} bytes)"
        if text:
            fd.text = f"Large files {_label('a', path, ea)} and {_label('b', path, eb)} differ"
        return fd
    lines_a = old.decode("utf-8", "replace").splitlines()
    lines_b = new.decode("utf-8", "replace").splitlines()
    import difflib  # only for a file whose lines differ

    body = list(difflib.unified_diff(lines_a, lines_b, _label("a", path, ea), _label("b", path, eb), lineterm=""))
    if not body:  # only line endings differ; difflib sees the same lines
        fd.note = "only line endings differ"
    fd.added_lines = sum(1 for line in body[2:] if line.startswith("+"))
    fd.removed_lines = sum(1 for line in body[2:] if line.startswith("-"))
    if text:
        fd.text = "\n".join(body)
    return fd


def _label(side: str, path: str, entry: Entry | None) -> str:
    return "/dev/null" if entry is None else f"{side}/{path}"


def _short(entry: Entry | None) -> str:
    return "none" if entry is None else entry.sha[:12]


# -- compare ---------------------------------------------------------------------------------------

class CompareRow(Slots):
    """One line of a comparison: `section` is info, params or metrics; `present` per run."""

    __slots__ = ("section", "key", "values", "present", "differs")

    def __init__(self, section: str, key: str, values: list[Any], present: list[bool], differs: bool) -> None:
        self.section, self.key, self.values, self.present, self.differs = section, key, values, present, differs

    @property
    def label(self) -> str:
        return self.key if self.section == "info" else f"{self.section}.{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return self.as_dict()  # the documented JSON shape: the fields in order


class Comparison(Slots):
    """N runs side by side: rows of info (status, duration), params, then last metric values."""

    __slots__ = ("runs", "rows")

    def __init__(self, runs: list[Run], rows: list[CompareRow] | None = None) -> None:
        self.runs, self.rows = runs, [] if rows is None else rows

    def section(self, name: str) -> list[CompareRow]:
        return [r for r in self.rows if r.section == name]

    def to_dict(self) -> dict[str, Any]:
        """The documented `gitexp compare --json` shape."""
        return {"runs": [r.ident() for r in self.runs], "rows": [r.to_dict() for r in self.rows]}


def compare_runs(s: Session, refs: list[str]) -> Comparison:
    """Line up two or more runs (any references `resolve` accepts)."""
    if len(refs) < 2:
        raise GitexpError(f"compare needs at least 2 runs, got {len(refs)}",
                          hint="give two or more runs, e.g. 'gitexp compare RUN1 RUN2'; "
                               "'gitexp show RUN' shows one run")
    return compare_records(load_runs(s, refs))


def compare_records(runs: list[Run]) -> Comparison:
    """`compare_runs` on records already loaded."""
    cmp = Comparison(runs)
    info = [{"status": r.info.status, "duration": r.duration} for r in runs]
    params = [flatten(r.params) for r in runs]
    metrics = [{k: v.get("last") for k, v in r.summary.items()} for r in runs]
    for section, dicts, ordered in (("info", info, True), ("params", params, False), ("metrics", metrics, False)):
        keys: list[str] = []
        for d in dicts:
            keys += [k for k in d if k not in keys]
        for key in keys if ordered else sorted(keys):
            present = [key in d for d in dicts]
            values = [d.get(key) for d in dicts]
            numeric = section == "metrics"
            first = _num(values[0]) if numeric else values[0]
            differs = not all(present) or not all(
                same(_num(v) if numeric else v, first) for v in values[1:])
            cmp.rows.append(CompareRow(section, key, values, present, differs))
    return cmp
