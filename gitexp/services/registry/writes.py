"""Registry writes: register, assign, unassign, deregister, deprecate.

Every write creates one annotated tag with create-if-absent (`add_if_new`); a
name that is taken means another writer won, and we retry with a fresh read,
never check-then-overwrite. Counted tags (`#<n>`) get one more than the model's
highest counter; because two writers may pick the same `n` for tags of different
names (`churn#prod#5`, `churn#dev#5`), each writer looks again after creating its
tag and, when it sees another tag with its counter, deletes its own
(compare-and-delete) and retries after a random pause. Whoever looks last sees
the other and backs off, so counters end up distinct and nothing is lost.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from gitexp.errors import GitexpError, InvalidValue
from gitexp.services.registry import message as msg
from gitexp.services.registry.artifacts import artifact_digest
from gitexp.services.registry.state import Model, Version, load_registry, model_tags
from gitexp.services.registry.tagnames import (
    FIRST_VERSION, SemVer, TagName, build, check_model, check_stage, check_version, parse, run_chain,
)
from gitexp.services.session import Session
from gitexp.store.record import RunInfo
from gitexp.store.runcommit import RecordReader, read_artifacts
from gitexp.store.tags import create_tag, delete_tag

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

MAX_ATTEMPTS = 40


class VersionExists(GitexpError):
    """The version (or the run, as another version) is already registered."""


class UnknownVersion(GitexpError):
    """No such version, or it was deregistered."""


class UnknownStage(GitexpError):
    """A stage that is not allowed, or that no version holds."""


@dataclass
class Written:
    """What a registry write did: the tag it created, and the command that shares it."""

    action: str
    tag: str
    model: str
    version: str | None
    commit: str
    stage: str | None = None
    run_id: str | None = None
    run_name: str | None = None

    @property
    def share(self) -> str:
        return f"git push origin 'refs/tags/{self.tag}'"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "tag": self.tag, "model": self.model, "version": self.version,
                "stage": self.stage, "commit": self.commit, "run": self.run_id, "run_name": self.run_name,
                "share": self.share}


@dataclass
class RegisterRequest:
    """What to register: `version` or one `bump` (major, minor, patch); else the next patch."""

    model: str
    run: str
    version: str | None = None
    bump: str | None = None
    artifact: str | None = None
    message: str | None = None
    force: bool = False


# -- register -----------------------------------------------------------------------------------
def register(s: Session, req: RegisterRequest) -> Written:
    """Register the run `req.run` (its current commit) as a new version of `req.model`."""
    model = check_model(req.model)
    if req.version and req.bump:
        raise InvalidValue("give a version or a bump, not both", hint="e.g. --version v1.0.0, or --bump-minor")
    version = check_version(req.version) if req.version else None
    from gitexp.services.catalog.listing import resolve  # register only: the others need no run lookup

    s.recover()
    ref, commit = resolve(s, req.run)
    info = RunInfo.from_yaml(RecordReader(s.db, commit).read("run.yaml") or b"")
    if info.status == "RUNNING":
        raise GitexpError(f"run {info.name} ({info.id}) is still running",
                          hint="register it when it has ended (gitexp run … --register NAME does so)")
    fields: dict[str, Any] = {"run": info.id, "run_name": info.name, "description": req.message,
                              "by": s.db.identity().decode("utf-8", "replace")}
    if req.artifact:
        fields["artifact"], fields["sha256"], fields["kind"] = _artifact(s, commit, req.artifact, info)
    chain = run_chain(s.db, commit, info.baseline)
    for attempt in range(MAX_ATTEMPTS):
        m = _model(s, model)
        _refuse_second_version(m, info, chain)
        name = version or _next(m, req.bump)
        if version and not req.force:
            _refuse_not_greater(m, version)
        if name in m.versions:
            suggestion = m.greatest.bump("patch") if m.greatest else FIRST_VERSION
            raise VersionExists(f"{model} {name} is already registered",
                                hint=f"pick a greater version, e.g. --version {suggestion}")
        tag = build(TagName(model, "register", version=name))
        summary = f"Register {model} {name} (run {info.name})"
        text = msg.compose(summary, {**fields, "after": m.counter, "seq": len(m.tags)}, req.message)
        sha = create_tag(s.db, tag, commit, text)
        if sha is None:
            if version:
                raise VersionExists(f"{model} {name} is already registered", hint="pick a greater version")
            _pause(attempt)
            continue
        # One version per commit: if another writer registered this run meanwhile, back off.
        again = _model(s, model)
        clash = [v for v in again.versions.values() if v.version != name and _same_run(v, info, chain)]
        if clash:
            delete_tag(s.db, tag, sha)
            _refuse_second_version(again, info, chain)
        return Written("register", tag, model, name, commit, run_id=info.id, run_name=info.name)
    raise GitexpError(f"could not register {model}: too many concurrent writers", hint="retry the command")


def _artifact(s: Session, commit: str, path: str, info: RunInfo) -> tuple[str, str, str]:
    path = path.strip().strip("/")
    arts = read_artifacts(RecordReader(s.db, commit))
    digest = artifact_digest(arts, path)
    if digest is None:
        known = ", ".join(sorted(a.path for a in arts)[:6]) or "none"
        raise InvalidValue(f"run {info.name} has no artifact {path!r}", hint=f"its artifacts: {known}")
    return path, digest[0], digest[1]


def _next(m: Model, bump: str | None) -> str:
    greatest = m.greatest
    if greatest is None:
        return {"major": "v1.0.0", "minor": "v0.1.0"}.get(bump or "patch", FIRST_VERSION)
    return greatest.bump(bump or "patch")


def _refuse_not_greater(m: Model, version: str) -> None:
    greatest = m.greatest
    if greatest is not None and not SemVer(version) > greatest and version not in m.versions:
        raise VersionExists(f"{version} is not greater than the latest version {greatest} of {m.name}",
                            hint=f"use --version {greatest.bump('patch')} or higher, or --force")


def _same_run(v: Version, info: RunInfo, chain: set[str]) -> bool:
    return v.commit in chain or v.run_id == info.id


def _refuse_second_version(m: Model, info: RunInfo, chain: set[str]) -> None:
    for v in sorted(m.versions.values(), key=lambda v: v.semver):
        if _same_run(v, info, chain):
            state = " (deregistered)" if v.deregistered else ""
            raise VersionExists(f"run {info.name} ({info.id}) is already {m.name} {v.version}{state}",
                                hint=f"assign that version instead: gitexp models assign {m.name} {v.version} "
                                     "--stage STAGE")


# -- stages -------------------------------------------------------------------------------------
def assign(s: Session, model: str, version: str, stage: str, message: str | None = None,
           force: bool = False) -> Written:
    """Assign `stage` to a version: `<model>#<stage>#<n>` on the version's commit."""
    stage = _allowed_stage(s, stage)
    m = _model(s, check_model(model), must_exist=True)
    v = _version(m, version)
    if v.deregistered:
        raise UnknownVersion(f"{m.name} {v.version} is deregistered and cannot get a stage",
                             hint=f"register a new version: gitexp models register {m.name} RUN")
    if m.stages.get(stage) == v.version and not force:
        raise InvalidValue(f"{m.name} {v.version} is already in stage {stage}",
                           hint="nothing to do; --force makes a new assignment anyway")
    return _counted(s, m, v, "assign", stage, f"Assign {stage} to {m.name} {v.version}", message)


def unassign(s: Session, model: str, version: str, stage: str, message: str | None = None) -> Written:
    """Take `stage` from a version: `<model>#<stage>!#<n>`."""
    stage = check_stage(stage)
    m = _model(s, check_model(model), must_exist=True)
    v = _version(m, version)
    if v.version not in m.holders.get(stage, []):
        holder = m.stages.get(stage)
        raise UnknownStage(f"{m.name} {v.version} is not in stage {stage}",
                           hint=f"{stage} is held by {holder}" if holder else f"no version of {m.name} is in {stage}")
    return _counted(s, m, v, "unassign", stage, f"Unassign {stage} from {m.name} {v.version}", message)


def deprecate(s: Session, model: str, message: str | None = None) -> Written:
    """Deprecate a model: `<model>@deprecated#<n>` on its latest event's commit."""
    m = _model(s, check_model(model), must_exist=True)
    if m.deprecated:
        raise InvalidValue(f"model {m.name} is already deprecated", hint="register a new version to revive it")
    target = m.latest or max(m.versions.values(), key=lambda v: v.semver)
    return _counted(s, m, target, "deprecate", None, f"Deprecate {m.name}", message)


def deregister(s: Session, model: str, version: str, message: str | None = None) -> Written:
    """Deregister a version: `<model>@v<semver>!` on its commit; its stages fall back."""
    m = _model(s, check_model(model), must_exist=True)
    v = _version(m, version)
    if v.deregistered:
        raise UnknownVersion(f"{m.name} {v.version} is already deregistered")
    tag = build(TagName(m.name, "deregister", version=v.version))
    text = msg.compose(f"Deregister {m.name} {v.version}", _fields(s, v, m, message), message)
    if create_tag(s.db, tag, v.commit, text) is None:
        raise UnknownVersion(f"{m.name} {v.version} was deregistered by another writer")
    return Written("deregister", tag, m.name, v.version, v.commit, run_id=v.run_id,
                   run_name=v.fields.get("run_name"))


def _counted(s: Session, m: Model, v: Version, action: str, stage: str | None, summary: str,
             message: str | None) -> Written:
    """Create a `#<n>` tag with the model's next counter; see the module docstring."""
    names = m.tags  # as just read with the model: the first attempt lists nothing again
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            names = _model_tags(s, m.name)
        n = 1 + max([m.counter] + [t.number or 0 for t in names])
        tag = build(TagName(m.name, action, stage=stage, number=n))
        text = msg.compose(summary, {**_fields(s, v, m, message, names), "after": n - 1}, message)
        sha = create_tag(s.db, tag, v.commit, text)
        if sha is None:
            _pause(attempt)
            continue
        # Look again (the model's tags only) for another writer's tag with this counter.
        clash = [t for t in _model_tags(s, m.name) if t.number == n and t.tag != tag]
        if clash:
            delete_tag(s.db, tag, sha)
            _pause(attempt)
            continue
        return Written(action, tag, m.name, v.version, v.commit, stage, v.run_id, v.fields.get("run_name"))
    raise GitexpError(f"could not write a tag of {m.name}: too many concurrent writers", hint="retry the command")


def _fields(s: Session, v: Version, m: Model, message: str | None,
            names: list[TagName] | None = None) -> dict[str, Any]:
    return {"run": v.run_id, "run_name": v.fields.get("run_name"), "description": message,
            "by": s.db.identity().decode("utf-8", "replace"), "after": m.counter,
            "seq": len(names if names is not None else m.tags)}


def _model_tags(s: Session, model: str) -> list[TagName]:
    """The parsed names of every tag of `model` now (only its tags are listed)."""
    out = []
    for tag in model_tags(s.db, model):
        t = parse(tag)
        if t is not None and t.model == model:
            out.append(t)
    return out


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0.005, 0.02) * (1 + min(attempt, 10)))


# -- lookups ------------------------------------------------------------------------------------
def _model(s: Session, name: str, must_exist: bool = False) -> Model:
    reg = load_registry(s.db, only=name)
    if must_exist:
        return reg.model(name)
    return reg.models.get(name) or Model(name, tags=reg.names.get(name, []))


def _version(m: Model, version: str) -> Version:
    name = check_version(str(version))
    if name not in m.versions:
        known = ", ".join(v.version for v in sorted(m.versions.values(), key=lambda v: v.semver)[-6:]) or "none"
        raise UnknownVersion(f"{m.name} has no version {name}", hint=f"its versions: {known}")
    return m.versions[name]


def _allowed_stage(s: Session, stage: str) -> str:
    stage = check_stage(stage)
    allowed = s.settings.registry_stages
    if allowed and stage not in allowed:
        raise UnknownStage(f"stage {stage!r} is not allowed here",
                           hint=f"stages in .gitexp.yaml: {', '.join(allowed)}")
    return stage


def find_version(m: Model, version: str | None = None, stage: str | None = None) -> Version:
    """A version by name, by stage, or the latest (not deregistered)."""
    if stage:
        check_stage(stage)
        if stage not in m.stages:
            known = ", ".join(f"{k}={v}" for k, v in sorted(m.stages.items())) or "none"
            raise UnknownStage(f"no version of {m.name} is in stage {stage}", hint=f"its stages: {known}")
        return m.versions[m.stages[stage]]
    if version and version not in ("latest", "greatest"):
        v = _version(m, version)
        if v.deregistered:
            raise UnknownVersion(f"{m.name} {v.version} is deregistered",
                                 hint=f"the latest version is {m.latest.version}" if m.latest else None)
        return v
    if m.latest is None:
        raise UnknownVersion(f"{m.name} has no registered version", hint=f"gitexp models register {m.name} RUN")
    return m.latest
