"""Which runs a commit records: runs made from the staged code on top of HEAD.

Built for the inside of a git hook, where every millisecond is the user's: the
staged tree comes from `git write-tree`; candidates are picked by run id (ids
carry their start time, and a run whose baseline is HEAD started after HEAD was
committed); when they are few, their code is compared first (most commits then
never open the cache); their baselines come from the cache index read-only when it
has them and from the run record otherwise; the run cache is never built or written here.
Everything is read through the git command (store.gitlite): no dulwich, and YAML
only for a run.yaml outside the subset gitexp writes (store.runyaml_lite).
"""

from __future__ import annotations

import os
import stat
import sys

from gitexp.errors import GitexpError
from gitexp.services.hooks.scripts import CLOCK_SLACK_MINUTES
from gitexp.store import gitproc
from gitexp.store.gitlite import HookRepo, is_run_id
from gitexp.store.refscan import refs_named
from gitexp.store.treecmp import RECORD_DIR, commit_tree_and_time, snapshot_holds

CLOCK_SLACK_MS = CLOCK_SLACK_MINUTES * 60_000
MAX_UNINDEXED = 500  # records read from git per hook at most; the rest waits for `gitexp ls` to index it
CODE_FIRST = 32  # up to this many runs since HEAD, each one's code is compared before its record is read
# catalog.cache.SCHEMA (a test keeps them equal): importing the cache would load YAML in every hook.
CACHE_SCHEMA = "6"
RUNS_PREFIX = "refs/gitexp/runs/"  # store.repo.RUNS_PREFIX (a test keeps them equal)
_B32 = "0123456789abcdefghjkmnpqrstvwxyz"  # names._B32


class Candidate:
    """A run that may be recorded: its ref tip and what run.yaml says."""

    __slots__ = ("ref", "commit", "id", "name", "status", "baseline", "end_time")

    def __init__(self, ref: str, commit: str, id: str, name: str, status: str, baseline: str | None,
                 end_time: str | None = None) -> None:
        self.ref, self.commit, self.id, self.name = ref, commit, id, name
        self.status, self.baseline, self.end_time = status, baseline, end_time


class Selection:
    """The runs to record, and how many possible ones were not looked at."""

    def __init__(self, runs: list[Candidate], unchecked: int = 0) -> None:
        self.runs = runs
        self.unchecked = unchecked


def id_time_ms(run_id: str) -> int:
    """The start time (Unix ms) encoded in a run id's first nine characters."""
    number = 0
    for ch in run_id[:9]:
        number = number * 32 + _B32.index(ch)
    return number


def id_prefix(ms: int) -> str:
    """The first nine characters of a run id started at `ms`: ids sort as their start times do."""
    chars = []
    for _ in range(9):
        ms, rem = divmod(max(ms, 0), 32)
        chars.append(_B32[rem])
    return "".join(reversed(chars))


def started_since(db: HookRepo, since_ms: int) -> dict[str, str]:
    """{ref: commit} of the runs started after `since_ms`, by their ids (no record read)."""
    return refs_named(db.common_dir, RUNS_PREFIX, lambda name: is_run_id(name) and id_time_ms(name) >= since_ms,
                      id_prefix(since_ms), since_ms / 1000)


def runs_on_head(db: HookRepo, head: str, refs: dict[str, str]) -> Selection:
    """The runs of `refs` ({ref: commit}) whose baseline is `head` (oldest first)."""
    # Newest first, so that the cap on unindexed records leaves out the oldest.
    ordered = sorted(refs.items(), key=lambda item: item[0].rsplit("/", 1)[-1], reverse=True)
    known = cached_infos(db, [sha for _, sha in ordered])
    found, unindexed, unchecked = [], 0, 0
    for ref, sha in ordered:
        info = known.get(sha)
        if info is None:
            if unindexed >= MAX_UNINDEXED:
                unchecked += 1
                continue
            unindexed += 1
            info = _read_info(db, sha)
            if info is None:
                continue
        if info.get("baseline") == head:
            found.append(Candidate(ref, sha, ref.rsplit("/", 1)[-1], str(info.get("name") or ""),
                                   str(info.get("status") or ""), head, info.get("end_time")))
    return Selection(found[::-1], unchecked)


def _read_info(db: HookRepo, commit: str) -> dict | None:
    """run.yaml's fields of a run commit, as `RecordReader` and `RunInfo.from_yaml` give them; None if
    it is not a readable run (a malformed pushed record: never recorded, never fatal in a hook)."""
    from gitexp.store import runyaml_lite

    try:
        objects = db.objects
        tree, _ = objects.commit_tree_and_time(commit)
        record = objects.tree_items(tree.encode()).get(RECORD_DIR.encode())
        if record is None or not stat.S_ISDIR(record[0]):
            return None
        entry = objects.tree_items(record[1]).get(b"run.yaml")
        if entry is None or not stat.S_ISREG(entry[0]):
            return None  # absent: not a run; a folder or a link: a corrupt one
        kind, data = objects.read(entry[1].decode())
        if kind != "blob":
            return None
        fields = runyaml_lite.run_fields(data)
        if fields is runyaml_lite.FALLBACK:
            _site_packages()
            from gitexp.store.record import RunInfo  # YAML: only for a record outside gitexp's own subset

            return RunInfo.from_yaml(data).as_dict()
        return dict(fields)  # type: ignore[call-overload]
    except Exception:
        return None


_site_loaded = False


def _site_packages() -> None:
    """Make site-packages importable (YAML is there) in a hook its script started with `python -S`."""
    global _site_loaded
    if sys.flags.no_site and not _site_loaded:
        import site

        site.main()
        _site_loaded = True


_FIELDS = ("baseline", "name", "status", "end_time")  # of run.yaml, as the hook needs them
# SQLite's own JSON functions: the json module is not worth loading (with `re`) for four fields.
_CACHED = ("SELECT commit_id, " + ", ".join(f"json_extract(info, '$.{f}')" for f in _FIELDS) + " FROM runs"
           " WHERE commit_id IN ({marks}) AND CASE WHEN json_valid(info) THEN json_type(info) END = 'object'")


def cached_infos(db: HookRepo, commits: list[str]) -> dict[str, dict]:
    """{commit: run.yaml fields} the cache index already holds; read-only, {} on any trouble."""
    path = os.path.join(db.local_dir, "index.sqlite")
    if not commits or not os.path.exists(path):
        return {}
    import sqlite3  # here, not at the top: most commits never get this far

    uri = "file://" + "".join({"%": "%25", "?": "%3f", "#": "%23"}.get(c, c) for c in path)  # SQLite's URI rules
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=0.2)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if not row or row[0] != CACHE_SCHEMA:
                return {}
            out = {}
            for start in range(0, len(commits), 500):
                chunk = commits[start:start + 500]
                for sha, *values in conn.execute(_CACHED.format(marks=",".join("?" * len(chunk))), chunk):
                    out[sha] = dict(zip(_FIELDS, values))
            return out
        finally:
            conn.close()
    except (sqlite3.Error, ValueError):
        return {}


def select_runs(db: HookRepo, root: str, mode: str = "staged") -> Selection:
    """The runs a commit of the staged code on top of HEAD records.

    `mode` "staged": runs whose snapshot holds exactly the staged code (plus untracked
    files); "finished": every FINISHED run whose baseline is HEAD; "none": no run.
    """
    head = db.head
    if head is None or mode == "none":
        return Selection([])
    objects = db.objects
    head_tree, head_time = commit_tree_and_time(objects, head)
    refs = started_since(db, head_time * 1000 - CLOCK_SLACK_MS)
    if mode == "finished":
        selection = runs_on_head(db, head, refs)
        selection.runs = [c for c in selection.runs if c.status == "FINISHED"]
        return selection
    staged = gitproc.index_tree(root)

    def holds(commit: str) -> bool:
        try:
            return snapshot_holds(objects, commit_tree_and_time(objects, commit)[0], staged, head_tree, RECORD_DIR)
        except (GitexpError, ValueError):  # not a commit, a bad tree (a malformed pushed run): never recorded
            return False

    if len(refs) <= CODE_FIRST:  # a few runs: their code first, so that most commits never open the cache
        selection = runs_on_head(db, head, {ref: sha for ref, sha in refs.items() if holds(sha)})
    else:
        selection = runs_on_head(db, head, refs)
        selection.runs = [c for c in selection.runs if holds(c.commit)]
    return selection
