"""The registry's tag grammar (GTO 1.10's names), built and parsed in this one module.

- `<model>@v<semver>` registers a version; `<model>@v<semver>!` deregisters it;
- `<model>#<stage>#<n>` assigns a stage; `<model>#<stage>!#<n>` unassigns it;
- `<model>@deprecated#<n>` deprecates the model.
`<n>` is one counter per model, shared by every tag of the model that has one.
GTO also reads (and so do we) the counter-less "simple" forms and a counter on any
tag; in a monorepo GTO names a model `path:name`, spelled `path=name` in a tag.
Nothing else in gitexp spells a registry tag name: build them with the functions here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from gitexp.errors import GitexpError, InvalidName

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from gitexp.store.repo import GitDB

TAGS_PREFIX = "refs/tags/"
ACTIONS = ("register", "deregister", "assign", "unassign", "deprecate", "create")

# GTO's constants.py, verbatim in meaning: a name is letters, digits, '-', '_', '/',
# starting and ending with a letter or digit; a dirname may add '.'.
_NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9_/-]*[a-zA-Z0-9])?"
_DIRNAME = r"[a-zA-Z0-9_./-]+"
_SEMVER = (r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
           r"(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
           r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?")
_TAG = re.compile(
    rf"(?P<model>(?:{_DIRNAME}=)?{_NAME})"
    rf"(?:(?:#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?)"
    rf"|@(?P<deprecated>deprecated)|@(?P<created>created))"
    rf"(?:#(?P<n>[0-9]+))?\Z"
)
_NAME_RE = re.compile(rf"(?:{_DIRNAME}:)?{_NAME}\Z")
_STAGE_RE = re.compile(rf"{_NAME}\Z")
_VERSION_RE = re.compile(rf"v?(?P<core>{_SEMVER})\Z")
# What a hand-made registry tag that breaks the grammar looks like (warned about, not read).
_LOOKS_LIKE = re.compile(r"[^#@]+(?:#[^#]*#|@v?\d|@deprecated|#\w)")
MAX_COUNTER = 10**9


@dataclass(frozen=True)
class TagName:
    """A parsed registry tag name: what it does (`action`) to which model.

    `model` is GTO's name (`path:name` for the monorepo form); `number` is the
    counter (`#<n>`), None in GTO's "simple" tags that have none.
    """

    model: str
    action: str  # register, deregister, assign, unassign, deprecate, create
    version: str | None = None
    stage: str | None = None
    number: int | None = None

    @property
    def tag(self) -> str:
        return build(self)


def parse(tag: str) -> TagName | None:
    """The registry meaning of a tag name, or None for any other tag."""
    if "@" not in tag and "#" not in tag:  # most tags of a repository (release-1.2): no regex needed
        return None
    m = _TAG.match(tag)
    if m is None:
        return None
    model = m["model"].replace("=", ":")
    n = int(m["n"]) if m["n"] is not None else None
    if n is not None and n > MAX_COUNTER:
        return None
    if m["version"]:
        return TagName(model, "deregister" if m["cancel"] else "register", version=m["version"], number=n)
    if m["stage"]:
        return TagName(model, "unassign" if m["cancel"] else "assign", stage=m["stage"], number=n)
    return TagName(model, "deprecate" if m["deprecated"] else "create", number=n)


def looks_like_registry_tag(tag: str) -> bool:
    """True for a tag that was probably meant as a registry tag but breaks the grammar."""
    return ("@" in tag or "#" in tag) and parse(tag) is None and _LOOKS_LIKE.match(tag) is not None


def build(t: TagName) -> str:
    """The tag name of a registry event (validated)."""
    model = check_model(t.model).replace(":", "=")
    suffix = f"#{t.number}" if t.number is not None else ""
    if t.action in ("register", "deregister"):
        text = f"{model}@{check_version(t.version or '')}" + ("!" if t.action == "deregister" else "")
    elif t.action in ("assign", "unassign"):
        text = f"{model}#{check_stage(t.stage or '')}" + ("!" if t.action == "unassign" else "")
    elif t.action == "deprecate":
        text = f"{model}@deprecated"
    else:
        raise GitexpError(f"unknown registry action {t.action!r}")
    return text + suffix


def register_tag(model: str, version: str) -> str:
    return build(TagName(model, "register", version=version))


def deregister_tag(model: str, version: str) -> str:
    return build(TagName(model, "deregister", version=version))


def assign_tag(model: str, stage: str, n: int) -> str:
    return build(TagName(model, "assign", stage=stage, number=n))


def unassign_tag(model: str, stage: str, n: int) -> str:
    return build(TagName(model, "unassign", stage=stage, number=n))


def deprecate_tag(model: str, n: int) -> str:
    return build(TagName(model, "deprecate", number=n))


# -- names, stages, versions ------------------------------------------------------------
def check_model(name: str) -> str:
    """A model name as GTO allows it (letters, digits, '-', '_', '/'; `path:name` in monorepos)."""
    return _checked(name, "model name", _NAME_RE, 200, "churn-model")


def check_stage(stage: str) -> str:
    return _checked(stage, "stage", _STAGE_RE, 100, "production")


def _checked(text: str, what: str, pattern: re.Pattern[str], limit: int, example: str) -> str:
    if not isinstance(text, str) or not pattern.match(text) or len(text) > limit:
        raise InvalidName(
            f"invalid {what} {text!r}: use letters, digits, '-', '_' and '/', "
            "starting and ending with a letter or digit",
            hint=f"e.g. {_suggest(text) or example}")
    return text


def check_version(version: str) -> str:
    """`vX.Y.Z[-pre][+build]` (SemVer 2.0); a missing leading `v` is added."""
    m = _VERSION_RE.match(version.strip()) if isinstance(version, str) else None
    if m is None:
        raise InvalidName(f"invalid version {version!r}: a version is SemVer with a leading v",
                          hint="e.g. v1.2.0, v0.1.0-rc.1")
    return "v" + m["core"]


def _suggest(text: object) -> str:
    if not isinstance(text, str):
        return ""
    slug = re.sub(r"[^a-zA-Z0-9_/-]+", "-", text).strip("-_/")
    return slug


@total_ordering
class SemVer:
    """A SemVer 2.0 version with its precedence (build metadata ignored, as the spec says)."""

    def __init__(self, text: str) -> None:
        self.text = check_version(text)
        core = self.text[1:].split("+", 1)[0]
        main, _, pre = core.partition("-")
        self.major, self.minor, self.patch = (int(x) for x in main.split("."))
        self.pre = tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else ()
        # A release sorts after its pre-releases; numeric identifiers before alphanumeric ones.
        ranked = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.pre)
        self.key = (self.major, self.minor, self.patch, 0 if self.pre else 1, ranked)

    def _key(self) -> tuple:
        return self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def bump(self, part: str) -> str:
        if part == "major":
            return f"v{self.major + 1}.0.0"
        if part == "minor":
            return f"v{self.major}.{self.minor + 1}.0"
        return f"v{self.major}.{self.minor}.{self.patch + 1}"

    def __str__(self) -> str:
        return self.text


FIRST_VERSION = "v0.0.1"


# -- which registry tags a run carries (used by rm) --------------------------------------
def registry_tags(db: GitDB, tip: str, baseline: str | None) -> list[str]:
    """Registry tags that point at a commit of this run (its ref's first-parent chain)."""
    from gitexp.store.tags import tag_names

    candidates = [TAGS_PREFIX + tag for tag in tag_names(db) if parse(tag)]
    if not candidates:
        return []
    chain = run_chain(db, tip, baseline)
    hits = []
    for ref in sorted(candidates):
        try:
            if db.resolve(ref) in chain:
                hits.append(ref[len(TAGS_PREFIX):])
        except (KeyError, GitexpError):
            continue
    return hits


def run_chain(db: GitDB, tip: str, baseline: str | None) -> set[str]:
    """The commits of a run: its ref's first-parent chain down to (not including) the baseline."""
    chain: set[str] = set()
    commit: str | None = tip
    while commit and commit != baseline and commit not in chain and len(chain) < 10_000:
        chain.add(commit)
        try:
            parents = db.commit_info(commit)[1]
        except (KeyError, GitexpError):
            break
        commit = parents[0] if parents else None
    return chain
