"""Experiment records: `experiment.yaml` on `refs/gitexp/experiments/<slug>` (format version 1).

An experiment record keeps what a ref name cannot: MLflow's free-text display name,
its tags and description, and a stable digit id. The ref points at a commit whose
tree holds one file, `experiment.yaml`; each change is a new commit whose parent is
the previous tip (so `git log` of the ref is the experiment's history), written with
compare-and-swap. Runs never depend on a record: an experiment that only has runs
(`refs/gitexp/runs/<slug>/…`) reads as one named by its slug.
"""

from __future__ import annotations


from gitexp.errors import CorruptRecord, NewerFormat
from gitexp.names import check_experiment, experiment_id
from gitexp.slots import Slots
from gitexp.store import yamlio
from gitexp.store.record import iso_from_ms, ms_from_iso
from gitexp.store.repo import FILE, Entry, GitDB

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

EXPERIMENTS_PREFIX = "refs/gitexp/experiments/"
FILENAME = "experiment.yaml"
FORMAT = 1
_FIELDS = ("format", "id", "slug", "name", "description", "lifecycle_stage", "created", "updated", "tags")


class ExperimentRecord(Slots):
    """Everything in `experiment.yaml`; `created` and `updated` are ISO 8601, UTC."""

    __slots__ = ("slug", "name", "description", "tags", "lifecycle_stage", "created", "updated")

    def __init__(self, slug: str, name: str, description: str | None = None, tags: dict[str, str] | None = None,
                 lifecycle_stage: str = "active", created: str = "", updated: str = "") -> None:
        self.slug, self.name, self.description, self.tags = slug, name, description, {} if tags is None else tags
        self.lifecycle_stage, self.created, self.updated = lifecycle_stage, created, updated

    @property
    def id(self) -> str:
        return experiment_id(self.slug)

    @property
    def created_ms(self) -> int | None:
        return ms_from_iso(self.created)

    @property
    def updated_ms(self) -> int | None:
        return ms_from_iso(self.updated)

    def to_yaml(self) -> bytes:
        return yamlio.dump({
            "format": FORMAT, "id": self.id, "slug": self.slug, "name": self.name,
            "description": self.description, "lifecycle_stage": self.lifecycle_stage,
            "created": self.created, "updated": self.updated, "tags": dict(sorted(self.tags.items())),
        })

    @classmethod
    def from_yaml(cls, data: bytes, slug: str) -> "ExperimentRecord":
        """Parse and type-check `experiment.yaml` of the ref `…/<slug>` (untrusted input).

        The slug comes from the ref name and the id from the slug; a record saying
        otherwise is CORRUPT. Unknown keys are ignored; a newer format raises NewerFormat.
        """
        raw = yamlio.load_record(data, FILENAME)
        if not isinstance(raw, dict):
            raise CorruptRecord(f"malformed {FILENAME}: expected a mapping")
        _check_format(raw.get("format", FORMAT))
        if str(raw.get("slug", slug)) != slug or str(raw.get("id", experiment_id(slug))) != experiment_id(slug):
            raise CorruptRecord(f"{FILENAME} of experiment {slug} names another slug or id",
                                hint="the record was copied or tampered with; the ref name is the experiment's slug")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CorruptRecord(f"malformed {FILENAME}: name must be non-empty text")
        tags = raw.get("tags") or {}
        if not isinstance(tags, dict):
            raise CorruptRecord(f"malformed {FILENAME}: tags must be a mapping")
        desc = raw.get("description")
        return cls(slug=slug, name=name, description=None if desc is None else str(desc),
                   tags={str(k): str(v) for k, v in tags.items()},
                   lifecycle_stage=str(raw.get("lifecycle_stage") or "active"),
                   created=_text(raw.get("created")), updated=_text(raw.get("updated")))


def _check_format(version: Any) -> None:
    if type(version) is not int or version < 1:
        raise CorruptRecord(f"malformed {FILENAME}: format {version!r:.20} is not a version number")
    if version > FORMAT:
        raise NewerFormat(f"experiment written by a newer gitexp (format {version}; this gitexp reads "
                          f"format {FORMAT}): upgrade", hint="pip install -U gitexp")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def experiment_ref(slug: str) -> str:
    return EXPERIMENTS_PREFIX + check_experiment(slug)


def experiment_refs(db: GitDB, prefix: str = EXPERIMENTS_PREFIX) -> dict[str, str]:
    """{ref: tip} of every experiment record (`refs/gitexp/experiments/*`).

    Sync pushes and fetches these with the runs; a remote-tracking copy can be
    listed by passing its prefix.
    """
    return {ref: sha for ref, sha in db.refs_under(prefix).items() if "/" not in ref[len(prefix):]}


def read_experiment(db: GitDB, slug: str, tip: str | None = None) -> tuple[ExperimentRecord, str] | None:
    """(record, tip commit) of experiment `slug`, or None when it has no record."""
    tip = tip or db.read_ref(experiment_ref(slug))
    if tip is None:
        return None
    tree, _parents = db.commit_info(tip)
    entry = db.list_tree(tree).get(FILENAME)
    if entry is None:
        raise CorruptRecord(f"experiment {slug}: its commit {tip[:12]} has no {FILENAME}")
    return ExperimentRecord.from_yaml(db.read_blob(entry.sha, yamlio.MAX_YAML_BYTES), slug), tip


def write_experiment(db: GitDB, record: ExperimentRecord, old: str | None, message: str, now_ms: int,
                     merged: str | None = None) -> str:
    """Commit `record` on its ref with compare-and-swap from `old` (None: create it); the new tip.

    `merged`: a second parent (a pull's merge of another clone's record: both
    histories stay in `git log`). Raises ConcurrentUpdate when the ref moved (or,
    for a create, exists): the caller re-reads and retries.
    """
    record.updated = iso_from_ms(now_ms) or ""
    if not record.created:
        record.created = record.updated
    blob = db.add_blob(record.to_yaml())
    tree = db.write_tree({FILENAME: Entry(FILE, blob)})
    commit = db.write_commit(tree, [p for p in (old, merged) if p], message)
    db.set_ref(experiment_ref(record.slug), old, commit, message.splitlines()[0].removeprefix("gitexp: "))
    return commit
