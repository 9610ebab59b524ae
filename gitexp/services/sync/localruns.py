"""The local runs a push considers: id from the ref; name, status, top-level tree and artifact list
read once, for all of them in one `git cat-file --batch` when git is installed (`read_heads`)."""

from __future__ import annotations

import re

from gitexp.store.catfile import MISSING, CatFileError, available, cat, tree_entries
from gitexp.store.record import RECORD_DIR
from gitexp.store.repo import GitDB

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:  # read through it only when the batch read could not (no git)
    from gitexp.store.runcommit import RecordReader

# run.yaml is written by gitexp as block YAML: its top-level scalar lines are enough here.
_FIELD_NAME = re.compile(r"^name: (.+)$", re.M)
_FIELD_STATUS = re.compile(r"^status: ([A-Z]+)$", re.M)


class LocalRun:
    """A local run to consider: id from its ref; what push needs of its record read at most once."""

    def __init__(self, ref: str, commit: str, db: GitDB) -> None:
        self.ref, self.commit, self.db = ref, commit, db
        self.id = ref.rsplit("/", 1)[-1]
        self._head: tuple[str, str] | None = None
        self._reader: RecordReader | None = None
        self._items: dict[str, tuple[int, str]] | None = None
        self.artifacts_read = False  # whether `artifacts_yaml` was read in a batch
        self.artifacts_yaml: bytes | None = None

    def preload(self, tree: bytes | None, run_yaml: bytes | None, artifacts_yaml: bytes | None) -> None:
        """What `read_heads` read: the raw top-level tree, run.yaml and artifacts.yaml (None: absent)."""
        self._head = _head((run_yaml or b"").decode("utf-8", "replace"))
        if tree is not None:
            self._items = tree_entries(tree, self.db.hex_length // 2)
        self.artifacts_yaml, self.artifacts_read = artifacts_yaml, True

    @property
    def reader(self) -> RecordReader:
        if self._reader is None:
            from gitexp.store.runcommit import RecordReader

            self._reader = RecordReader(self.db, self.commit)
        return self._reader

    def items(self) -> dict[str, tuple[int, str]]:
        """{name: (mode, id)} of the top-level entries of the run's tree (the code, and `.gitexp`)."""
        if self._items is None:
            self._items = {name: (mode, sha) for name, mode, sha in self.db.tree_entries(self.reader.tree)}
        return self._items

    def _read(self) -> tuple[str, str]:
        if self._head is None:
            try:
                data = (self.reader.read("run.yaml") or b"").decode("utf-8", "replace")
            except Exception:  # an unreadable record is not sendable
                data = ""
            self._head = _head(data)
        return self._head

    @property
    def name(self) -> str:
        return self._read()[0]

    @property
    def status(self) -> str:
        return self._read()[1]

    @property
    def lists_no_artifacts(self) -> bool:
        """True when the batch read showed an empty (or no) artifacts.yaml: nothing to upload."""
        data = self.artifacts_yaml
        return self.artifacts_read and (data is None or data.strip() in (b"", b"[]"))


def _head(run_yaml: str) -> tuple[str, str]:
    name = _FIELD_NAME.search(run_yaml)
    status = _FIELD_STATUS.search(run_yaml)
    return name.group(1).strip("'\"") if name else "?", status.group(1) if status else "CORRUPT"


def read_heads(db: GitDB, runs: list[LocalRun]) -> None:
    """Read name, status, tree and artifact list of `runs` in one `git cat-file` (without git: lazily)."""
    if not runs or not available():
        return
    names = [n for r in runs for n in (f"{r.commit}^{{tree}}", f"{r.commit}:{RECORD_DIR}/run.yaml",
                                       f"{r.commit}:{RECORD_DIR}/artifacts.yaml")]
    try:
        got = [None if kind == MISSING else data for kind, _size, data in cat(db.common_dir, names)]
    except CatFileError:
        return  # read lazily through dulwich
    for i, run in enumerate(runs):
        run.preload(*got[3 * i:3 * i + 3])
