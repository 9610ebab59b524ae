"""What `models ls`, `show` and `history` display, as plain data (dicts ready for JSON)."""

from __future__ import annotations


from gitexp.errors import GitexpError
from gitexp.services.registry.state import Registry, Version, load_registry
from gitexp.services.session import Session

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


def models_table(s: Session) -> tuple[list[dict[str, Any]], Registry]:
    """One row per model: name, latest version, the version in each stage, deprecated."""
    reg = load_registry(s.db)
    rows = [m.to_dict() for _, m in sorted(reg.models.items())]
    return rows, reg


def model_versions(s: Session, name: str) -> tuple[dict[str, Any], Registry]:
    """A model with each version's run, key metrics and stages, newest version first."""
    reg = load_registry(s.db, only=name)
    m = reg.model(name)
    versions = []
    for v in sorted(m.versions.values(), key=lambda v: v.semver, reverse=True):
        versions.append({**v.to_dict(), **_run_of(s, v)})
    return {**m.to_dict(), "versions": versions}, reg


def history(s: Session, name: str | None = None) -> tuple[list[dict[str, Any]], Registry]:
    """Every event in order (per model, by counter; models by name)."""
    reg = load_registry(s.db, only=name)
    if name is not None:
        reg.model(name)
    events = [e.to_dict() for _, m in sorted(reg.models.items()) for e in m.events]
    return events, reg


def _run_of(s: Session, v: Version) -> dict[str, Any]:
    """The run id, name and last metric values of a version's commit."""
    from gitexp.store.record import RunInfo, parse_mapping  # YAML: only `show` needs it
    from gitexp.store.runcommit import RecordReader

    out: dict[str, Any] = {"run": v.run_id, "run_name": v.fields.get("run_name"), "metrics": {}}
    try:
        rec = RecordReader(s.db, v.commit)
        if not rec.is_run:
            return out
        info = RunInfo.from_yaml(rec.read("run.yaml") or b"")
        out["run"], out["run_name"] = info.id, info.name
        summary = parse_mapping(rec.read("summary.yaml"), "summary.yaml")
        out["metrics"] = {k: v.get("last") for k, v in summary.items() if isinstance(v, dict)}
    except (GitexpError, KeyError):
        pass
    return out
