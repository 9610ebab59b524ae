"""The registry labels each run carries (`churn@v0.0.2 [production]`), for `ls`, `show` and `diff`.

Those commands ask on every call, so a repository without tags answers without
loading the registry (its tag grammar, the tag objects, the run record reader).
"""

from __future__ import annotations


from gitexp.errors import GitexpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from gitexp.services.session import Session


def registry_of_run(s: Session) -> dict[str, list[str]]:
    """{run id: labels like `churn@v0.0.2 [production]`} for every registered run.

    A version made by gitexp names its run in the tag; one made by another tool
    is traced to the run through its commit's run.yaml.
    """
    if not s.db.refs_under("refs/tags/"):
        return {}
    from gitexp.services.registry.state import load_registry

    reg = load_registry(s.db)
    out: dict[str, list[str]] = {}
    for m in sorted(reg.models.values(), key=lambda m: m.name):
        for v in sorted(m.versions.values(), key=lambda v: v.semver):
            run_id = v.run_id or _run_id_at(s, v.commit)
            if not run_id:
                continue
            label = f"{m.name}@{v.version}" + (" (deregistered)" if v.deregistered else "") + \
                (f" [{', '.join(sorted(v.stages))}]" if v.stages else "")
            out.setdefault(run_id, []).append(label)
    return out


def _run_id_at(s: Session, commit: str) -> str | None:
    from gitexp.store.record import RunInfo
    from gitexp.store.runcommit import RecordReader

    try:
        rec = RecordReader(s.db, commit)
        return RunInfo.from_yaml(rec.read("run.yaml") or b"").id if rec.is_run else None
    except (GitexpError, KeyError):
        return None
