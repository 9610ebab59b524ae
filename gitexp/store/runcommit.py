"""Read and write run commits: a code snapshot plus the record under `.gitexp/`."""

from __future__ import annotations

import operator
import stat
import threading
from collections import OrderedDict

from gitexp.errors import CorruptRecord
from gitexp.slots import Slots, Value
from gitexp.store import catfile
from gitexp.store.journal import JournalData
from gitexp.store.record import (
    RECORD_DIR, Artifact, Columns, Point, RunInfo, encode_record, parse_artifacts, parse_mapping, parse_metric,
    parse_metric_columns,
)
from gitexp.store.objects import GitObject
from gitexp.store.repo import DIR, FILE, Entry, GitDB
from gitexp.store.yamlio import MAX_YAML_BYTES

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from typing import Any


def record_files(info: RunInfo, params: dict, tags: dict[str, str], metrics: dict[str, list[Point]],
                 artifacts: list[Artifact], output: bytes | None = None) -> dict[str, bytes | Entry]:
    """The whole `.gitexp/` record: encoded files plus inline artifacts as their blobs."""
    files: dict[str, bytes | Entry] = dict(encode_record(info, params, tags, metrics, artifacts, output))
    files.update({f"artifacts/{a.path}": Entry(FILE, a.blob) for a in artifacts if a.inline and a.blob})
    return files


class CodeTree(Value):
    """A snapshot's code as tree objects hashed but not written (root last).

    Its `id` is known before the run commit that holds it is made (a run start
    compares it with HEAD's); its root is never written on its own.
    """

    id: str
    trees: list[GitObject]


def hash_code_tree(db: GitDB, files: dict[str, Entry]) -> CodeTree:
    """The trees of a flat code listing, for `write_run_commit`."""
    trees = db.build_trees(files)
    return CodeTree(trees[-1].id, trees)


def code_tree(db: GitDB, root: str) -> str:
    """The id of a commit's code: its root tree without a `.gitexp/` record (computed, not written).

    One tree read, however large the tree.
    """
    entries = db.tree_entries(root)
    if all(name != RECORD_DIR for name, _, _ in entries):
        return root
    return db.tree_object([e for e in entries if e[0] != RECORD_DIR]).id


def write_run_commit(db: GitDB, code_root: str | None, code_files: dict[str, Entry] | CodeTree | None,
                     record: dict[str, bytes | Entry], parents: list[str], message: str) -> str:
    """Commit `record` (under .gitexp/) on top of a code tree; return the commit id.

    The code is given either as an existing root tree id (`code_root`, whose own
    `.gitexp` entry is replaced), as hashed trees (`CodeTree`) or as a flat listing.
    """
    blobs = []
    entries: dict[str, Entry] = {}
    for path, value in record.items():
        if isinstance(value, Entry):
            entries[path] = value
        else:
            blob = db.make("blob", value)
            blobs.append(blob)
            entries[path] = Entry(FILE, blob.id)
    db.add_objects(blobs)
    if isinstance(code_files, CodeTree):
        db.add_objects(code_files.trees[:-1])
        root = _with_entry(db, code_files.trees[-1], RECORD_DIR, db.write_tree(entries))
    elif code_files is not None:
        root = db.write_tree({**code_files, **{f"{RECORD_DIR}/{p}": e for p, e in entries.items()}})
    else:
        root = _with_entry(db, code_root, RECORD_DIR, db.write_tree(entries))
    return db.write_commit(root, parents, message)


def _with_entry(db: GitDB, root: str | GitObject | None, name: str, subtree: str) -> str:
    """Write `root`'s tree with folder `name` set to `subtree`; return its id."""
    if root is None:
        entries = []
    elif isinstance(root, GitObject):
        entries = [(n, mode, sha) for n, (mode, sha) in catfile.tree_entries(root.data, db.hex_length // 2).items()]
    else:
        entries = db.tree_entries(root)
    tree = db.tree_object([e for e in entries if e[0] != name] + [(name, DIR, subtree)])
    db.add_objects([tree])
    return tree.id


class ColumnCache:
    """Decoded metric histories by blob id, least recently used dropped past `max_points`.

    Blobs are immutable, so an entry is never stale; a long-lived process (the web
    UI) then decodes each history once. Columns are arrays: 24 bytes a point.
    """

    def __init__(self, max_points: int = 2_000_000) -> None:
        self.max_points = max_points
        self._items: OrderedDict[str, Columns] = OrderedDict()
        self._points = 0
        self._lock = threading.Lock()

    def get(self, sha: str) -> Columns | None:
        with self._lock:
            value = self._items.get(sha)
            if value is not None:
                self._items.move_to_end(sha)
            return value

    def put(self, sha: str, columns: Columns) -> None:
        with self._lock:
            if sha in self._items or len(columns[0]) > self.max_points:
                return
            self._items[sha] = columns
            self._points += len(columns[0])
            while self._points > self.max_points:
                _, old = self._items.popitem(last=False)
                self._points -= len(old[0])


METRIC_CACHE = ColumnCache()
MAX_FILE_BYTES = 256 << 20  # any other record file (metrics, output.log): a 300 KB blob may inflate to GBs


class RecordReader:
    """Lazy access to the `.gitexp/` files of one run commit."""

    def __init__(self, db: GitDB, commit: str) -> None:
        self.db = db
        self.commit = commit
        self.tree, self.parents = db.commit_info(commit)
        self.record_tree = db.subtree(self.tree, RECORD_DIR)
        self._top: dict[str, tuple[int, str]] | None = None

    @property
    def is_run(self) -> bool:
        return self.record_tree is not None and "run.yaml" in self.top()

    def top(self) -> dict[str, tuple[int, str]]:
        """{name: (mode, sha)} of the record folder's direct entries."""
        if self._top is None:
            self._top = {}
            if self.record_tree is not None:
                self._top = {name: (mode, sha) for name, mode, sha in self.db.tree_entries(self.record_tree)}
        return self._top

    def read(self, name: str) -> bytes | None:
        """A top-level record file's bytes, or None when absent (size-capped: records are untrusted)."""
        entry = self.top().get(name)
        if entry is None or stat.S_ISDIR(entry[0]):
            return None
        if not stat.S_ISREG(entry[0]):
            raise CorruptRecord(f"malformed record: .gitexp/{name} is not a file (mode {entry[0]:o})")
        limit = MAX_YAML_BYTES if name.endswith(".yaml") else MAX_FILE_BYTES
        try:
            return self.db.read_blob(entry[1], limit)
        except CorruptRecord as exc:
            raise CorruptRecord(f"record file .gitexp/{name}: {exc.message}") from None

    def files_under(self, folder: str) -> dict[str, Entry]:
        """Flat {relative path: Entry} of a record subfolder (metrics, artifacts)."""
        entry = self.top().get(folder)
        if entry is None or not stat.S_ISDIR(entry[0]):
            return {}
        return self.db.list_tree(entry[1])

    def metric_keys(self) -> list[str]:
        return sorted(p[:-4] for p in self.files_under("metrics") if p.endswith(".tsv"))

    def read_metric(self, key: str) -> bytes | None:
        entry = self.files_under("metrics").get(f"{key}.tsv")
        if entry is None:
            return None
        try:
            return self.db.read_blob(entry.sha, MAX_FILE_BYTES)
        except CorruptRecord as exc:
            raise CorruptRecord(f"metric {key!r}: {exc.message}") from None

    def metric_columns(self, key: str) -> Columns | None:
        """One metric's history as columns, decoded once per process (cached by blob id)."""
        entry = self.files_under("metrics").get(f"{key}.tsv")
        if entry is None:
            return None
        cached = METRIC_CACHE.get(entry.sha)
        if cached is None:
            try:
                cached = parse_metric_columns(self.read_metric(key) or b"")
            except CorruptRecord as exc:
                raise CorruptRecord(f"metric {key!r}: {exc.message}") from None
            METRIC_CACHE.put(entry.sha, cached)
        return cached

    def code_root(self) -> str:
        return self.tree


SUMMARY_FILES = ("run.yaml", "params.yaml", "tags.yaml", "summary.yaml")


class Record(Slots):
    """A run's whole record as data: what finalising and editing read, change and write back."""

    __slots__ = ("info", "params", "tags", "metrics", "artifacts")

    def __init__(self, info: RunInfo, params: dict[str, Any], tags: dict[str, str],
                 metrics: dict[str, list[Point]], artifacts: list[Artifact]) -> None:
        self.info, self.params, self.tags, self.metrics, self.artifacts = info, params, tags, metrics, artifacts

    def overlay(self, journal: JournalData) -> "Record":
        """This record with newer journal data on top (the journal wins); a new object.

        The one place where a live run's journals meet its committed record: points
        are ordered by (step, timestamp), deleted tags (None) are dropped.
        """
        tags = {k: v for k, v in {**self.tags, **journal.tags}.items() if v is not None}
        metrics = {k: list(v) for k, v in self.metrics.items()}
        for key, points in journal.metrics.items():
            metrics[key] = merge_points(metrics.get(key, []), points)
        by_path = {a.path: a for a in self.artifacts}
        by_path.update({a.path: a for a in journal.artifacts})
        return Record(self.info, {**self.params, **journal.params}, {k: str(v) for k, v in tags.items()},
                      metrics, list(by_path.values()))

    def files(self, output: bytes | None = None) -> dict[str, bytes | Entry]:
        """The `.gitexp/` files of this record (see `record_files`)."""
        return record_files(self.info, self.params, self.tags, self.metrics, self.artifacts, output)


_STEP_TIME = operator.itemgetter(0, 2)


def merge_points(committed: list[Point], journal: list[Point]) -> list[Point]:
    """Committed points plus newer journal points, ordered by (step, timestamp)."""
    return sorted([*committed, *journal], key=_STEP_TIME)


def read_record(db: GitDB, commit: str, ref: str | None = None) -> Record:
    """The whole record of a run commit, metric histories included (its id checked against `ref`)."""
    rec = RecordReader(db, commit)
    info = RunInfo.from_yaml(rec.read("run.yaml") or b"", ref)
    params = parse_mapping(rec.read("params.yaml"), "params.yaml")
    tags = parse_mapping(rec.read("tags.yaml"), "tags.yaml")
    metrics = {k: parse_metric(rec.read_metric(k) or b"") for k in rec.metric_keys()}
    return Record(info, params, {str(k): str(v) for k, v in tags.items()}, metrics, read_artifacts(rec))


def read_artifacts(rec: RecordReader) -> list[Artifact]:
    """`artifacts.yaml` entries, each marked inline when its blob is in the record."""
    stored = rec.files_under("artifacts")
    out = []
    for item in parse_artifacts(rec.read("artifacts.yaml")):
        path = str(item["path"])
        blob = stored.get(path)
        out.append(Artifact(path, int(item.get("size", 0)), str(item.get("sha256", "")),
                            blob is not None, blob.sha if blob else None))
    return out
