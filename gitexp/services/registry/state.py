"""The registry as data, read from the tags: models, their versions, stages and history.

Events are ordered without timestamps (GTO's tags have 1-second resolution):
stage and deprecation events by their `#<n>` counter; registrations and
deregistrations by the counter value recorded in their message block (`after`,
then `seq`), or, for tags made by other tools, just before the first event
that refers to their version. A tag that breaks the grammar, a lightweight
tag with a registry name, or an event about a commit that has no version is
ignored and reported in `Registry.ignored` (the CLI prints one warning line).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from functools import cached_property

from gitexp.errors import GitexpError
from gitexp.services.registry import message as msg
from gitexp.services.registry.tagnames import SemVer, TagName, looks_like_registry_tag, parse
from gitexp.store.repo import GitDB
from gitexp.store.tags import TagCache, TagInfo, _read_loose_tag, read_tag, tags_starting

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

Key = tuple[int, int, int, tuple, str]


@dataclass
class Event:
    """One registry tag, read."""

    tag: str
    name: TagName
    commit: str
    tagger: str
    time: int  # shown, never used for ordering
    text: str  # the human part of the message
    fields: dict[str, str]
    version: str | None = None  # the version it is about (stage events: found by commit)
    key: Key = (0, 0, 0, (), "")

    @property
    def action(self) -> str:
        return self.name.action

    @property
    def stage(self) -> str | None:
        return self.name.stage

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "action": self.action, "model": self.name.model, "version": self.version,
                "stage": self.stage, "counter": self.name.number, "commit": self.commit, "by": self.tagger,
                "time": self.time, "message": self.text, "run": self.fields.get("run")}


@dataclass
class Version:
    """A registered version: the commit its register tag points at, and what the block says."""

    model: str
    version: str
    commit: str
    tag: str
    registered_by: str
    registered_at: int
    fields: dict[str, str]
    text: str = ""
    deregistered: bool = False
    stages: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        return self.fields.get("run")

    @property
    def artifact(self) -> str | None:
        return self.fields.get("artifact")

    @property
    def sha256(self) -> str | None:
        return self.fields.get("sha256")

    @property
    def name(self) -> str:
        """The model's name (MLflow's `ModelVersion.name`)."""
        return self.model

    @property
    def aliases(self) -> list[str]:
        """The stages this version holds now (MLflow's aliases)."""
        return list(self.stages)

    @property
    def source(self) -> str | None:
        """Where the model is, as a `runs:/RUN/PATH` URI (None without an artifact or run id)."""
        return f"runs:/{self.run_id}/{self.artifact}" if self.run_id and self.artifact else None

    @cached_property
    def semver(self) -> SemVer:
        return SemVer(self.version)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "commit": self.commit, "tag": self.tag,
                "run": self.run_id, "run_name": self.fields.get("run_name"), "artifact": self.artifact,
                "sha256": self.sha256, "registered_by": self.registered_by, "registered_at": self.registered_at,
                "deregistered": self.deregistered, "stages": self.stages, "source": self.source,
                "message": self.text}


@dataclass
class Model:
    """A model: versions by name, events in order, the version of each stage now."""

    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> version
    holders: dict[str, list[str]] = field(default_factory=dict)  # stage -> versions assigned, oldest first
    deprecated: bool = False
    counter: int = 0  # the highest #<n> of the model's tags
    tags: list[TagName] = field(default_factory=list, repr=False)  # every tag of its name (writes count them)

    @property
    def active(self) -> list[Version]:
        """Versions not deregistered, highest first."""
        return sorted((v for v in self.versions.values() if not v.deregistered), key=lambda v: v.semver,
                      reverse=True)

    @property
    def latest(self) -> Version | None:
        active = self.active
        return active[0] if active else None

    @property
    def greatest(self) -> SemVer | None:
        """The highest version ever registered (deregistered ones included: names are never reused)."""
        return max((v.semver for v in self.versions.values()), default=None)

    def by_commit(self, commit: str) -> Version | None:
        hits = [v for v in self.versions.values() if v.commit == commit]
        return max(hits, key=lambda v: v.semver) if hits else None

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {"name": self.name, "latest": latest.version if latest else None, "stages": dict(self.stages),
                "deprecated": self.deprecated, "versions": len(self.versions)}


@dataclass
class Registry:
    """Every model, and the tags that were ignored (with why)."""

    models: dict[str, Model] = field(default_factory=dict)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    # Every tag whose name parses as one of a model's, kept or not (counters and counts are over these).
    names: dict[str, list[TagName]] = field(default_factory=dict)

    def model(self, name: str) -> Model:
        if name not in self.models:
            known = ", ".join(sorted(self.models)[:8]) or "none yet"
            raise UnknownModel(f"unknown model {name!r}", hint=f"registered models: {known}; "
                               "register one with: gitexp models register NAME RUN")
        return self.models[name]

    def warning(self) -> str | None:
        """One line about ignored tags, or None."""
        if not self.ignored:
            return None
        shown = ", ".join(f"{t} ({why})" for t, why in self.ignored[:3])
        more = f" and {len(self.ignored) - 3} more" if len(self.ignored) > 3 else ""
        return f"ignored {len(self.ignored)} malformed registry tag{'s' if len(self.ignored) > 1 else ''}: " \
               f"{shown}{more}"


class UnknownModel(GitexpError):
    """No model of that name is registered."""


# -- reading ----------------------------------------------------------------------------------
def load_registry(db: GitDB, only: str | None = None) -> Registry:
    """Read every registry tag (or one model's) into a Registry."""
    # Thousands of small containers and nothing cyclic: collector passes would cost more than the work.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(db, only)
    finally:
        if enabled:
            gc.enable()


def model_tags(db: GitDB, model: str) -> dict[str, str]:
    """{tag name: sha} of the tags that may be `model`'s: read without listing any other tag.

    A registry tag's model is everything before its first `#` or `@` (`path:name` spelled `path=name`).
    """
    return tags_starting(db, model.replace(":", "="), "#@")


def _load(db: GitDB, only: str | None) -> Registry:
    reg = Registry()
    raw: dict[str, list[Event]] = {}
    if only is None:
        cache: TagCache | None = TagCache(db)
        tags = cache.tags()  # type: ignore[union-attr]
    else:  # one model: only its tags are listed and read (tags.json is for reading them all)
        cache, tags = None, model_tags(db, only)
    for tag, sha in sorted(tags.items()):
        name = parse(tag)
        if name is None:
            if looks_like_registry_tag(tag) and only is None:
                reg.ignored.append((tag, "not a registry tag name"))
            continue
        if only is not None and name.model != only:
            continue
        reg.names.setdefault(name.model, []).append(name)
        if name.action == "create":
            continue
        info = cache.read(tag, sha) if cache is not None else _read_loose_tag(db, tag, sha) or read_tag(db, tag, sha)
        problem = _problem(info)
        if problem:
            reg.ignored.append((tag, problem))
            continue
        text, fields = msg.parse(info.message)
        raw.setdefault(name.model, []).append(Event(tag, name, info.target, info.tagger, info.time, text, fields))
    if cache is not None:
        cache.save(prune=True)
    for model_name, events in raw.items():
        reg.models[model_name] = _build(model_name, events, reg.ignored)
        reg.models[model_name].tags = reg.names.get(model_name, [])
    return reg


def _problem(info: TagInfo) -> str | None:
    if not info.annotated:
        return "a lightweight tag; registry tags are annotated (git tag -a)"
    if not info.target:
        return "does not point at a commit"
    return None


def _build(name: str, events: list[Event], ignored: list[tuple[str, str]]) -> Model:
    model = Model(name)
    model.counter = max((e.name.number or 0 for e in events), default=0)
    for e in events:
        if e.action == "register":
            v = e.name.version or ""
            model.versions[v] = Version(name, v, e.commit, e.tag, e.tagger, e.time, e.fields, e.text)
            e.version = v
    kept = []
    for e in events:
        if e.action == "register":
            kept.append(e)
            continue
        if e.action == "deregister":
            if e.name.version not in model.versions:
                ignored.append((e.tag, f"deregisters {e.name.version}, which was never registered"))
                continue
            e.version = e.name.version
        elif e.action in ("assign", "unassign"):
            version = model.by_commit(e.commit)
            if version is None:
                ignored.append((e.tag, f"points at commit {e.commit[:12]}, which is no version of {name}"))
                continue
            e.version = version.version
        kept.append(e)
    _order(model, kept)
    model.events = sorted(kept, key=lambda e: e.key)
    _replay(model)
    return model


def _order(model: Model, events: list[Event]) -> None:
    """Give each event its sort key; see the module docstring."""
    first_use: dict[str, int] = {}
    last_use: dict[str, int] = {}
    for e in events:
        if e.name.number is not None and e.version:
            first_use[e.version] = min(first_use.get(e.version, e.name.number), e.name.number)
            last_use[e.version] = max(last_use.get(e.version, 0), e.name.number)
    for e in events:
        sv = model.versions[e.version].semver.key if e.version in model.versions else ()
        n = e.name.number
        if n is not None:
            e.key = (n, 0, 0, sv, e.tag)
            continue
        after, seq = _int(e.fields.get("after")), _int(e.fields.get("seq"))
        if e.action == "register":
            k = after if after is not None else first_use.get(e.version or "", model.counter + 1) - 1
            e.key = (k, 1, seq or 0, sv, e.tag)
        elif e.action == "deregister":
            k = after if after is not None else max(last_use.get(e.version or "", 0), _reg_after(model, e))
            e.key = (k, 1 if after is not None else 2, seq if seq is not None else 1 << 30, sv, e.tag)
        else:  # a counter-less stage tag (GTO's simple form): right after its version's registration
            e.key = (_reg_after(model, e), 1, 1 << 29, sv, e.tag)


def _reg_after(model: Model, e: Event) -> int:
    version = model.versions.get(e.version or "")
    return _int(version.fields.get("after")) or 0 if version else 0


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None and len(text) < 12 else None
    except ValueError:
        return None


def _replay(model: Model) -> None:
    """Stages now: the latest assignment of each stage wins; an unassignment falls back."""
    holders: dict[str, list[str]] = {}
    for e in model.events:
        if e.action == "assign" and e.stage and e.version:
            lst = holders.setdefault(e.stage, [])
            if e.version in lst:
                lst.remove(e.version)
            lst.append(e.version)
        elif e.action == "unassign" and e.stage and e.version in holders.get(e.stage, []):
            holders[e.stage].remove(e.version)
        elif e.action == "deregister" and e.version in model.versions:
            model.versions[e.version].deregistered = True
    for stage, lst in sorted(holders.items()):
        live = [v for v in lst if not model.versions[v].deregistered]
        model.holders[stage] = live
        if live:
            model.stages[stage] = live[-1]
            model.versions[live[-1]].stages.append(stage)
    model.deprecated = bool(model.events) and model.events[-1].action == "deprecate"
