"""Why a listing came out empty or odd: keys no run has, the keys meant, runs elsewhere.

`gitexp ls -f "metrics.val_acc > 0.5"` matching nothing should say that no run has
`val_acc` and that `metrics.val/acc` exists; `-f "val/acc > 0.5"` (no prefix) should
suggest `metrics.val/acc`; an empty default experiment should mention the runs in
other experiments; a fresh clone should say how to fetch the runs others pushed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gitexp.errors import FilterSyntaxError
from gitexp.services.catalog.filterexpr import ATTRIBUTES, parse_filter, parse_sort
from gitexp.services.session import Session
from gitexp.store.record import flatten

KINDS = ("params", "metrics", "tags")


@dataclass
class KeyIndex:
    """Every params/metrics/tags key the given runs have."""

    keys: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})

    @classmethod
    def of(cls, runs: Iterable) -> KeyIndex:
        index = cls()
        for r in runs:
            index.keys["params"].update(flatten(r.params))
            index.keys["metrics"].update(r.summary)
            index.keys["tags"].update(r.tags)
        return index

    def has(self, kind: str, key: str) -> bool:
        if kind == "attributes":
            return True
        if kind == "params":  # a filter may name a whole nested mapping (params.train)
            return any(k == key or k.startswith(key + ".") for k in self.keys[kind])
        return key in self.keys.get(kind, set())

    def closest(self, key: str, kind: str | None = None, n: int = 3) -> list[str]:
        """Full keys (`metrics.val/acc`) close to `key`: same letters and digits first, then spelling."""
        pool = [(k, f"{kd}.{k}") for kd in ([kind] if kind in KINDS else KINDS) for k in sorted(self.keys[kd])]
        if kind is None or kind not in KINDS:
            pool += [(a, a) for a in ATTRIBUTES]
        squeezed = _squeeze(key)
        same = [full for k, full in pool if _squeeze(k) == squeezed or _squeeze(re.split(r"[./]", k)[-1]) == squeezed]
        names = [k for k, _ in pool]
        similar = [pool[names.index(m)][1] for m in difflib.get_close_matches(key, names, n=n, cutoff=0.6)]
        return list(dict.fromkeys(same + similar))[:n]


def _squeeze(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def missing_keys(index: KeyIndex, filter_string: str | None, sort: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(kind, key) pairs the filter or sort keys name that none of the runs has."""
    refs = set(parse_filter(filter_string).referenced()) if filter_string else set()
    refs |= {(k.kind, k.key) for k in (parse_sort(t) for t in sort)}
    return sorted((kind, key) for kind, key in refs if not index.has(kind, key))


def describe_missing(index: KeyIndex, missing: list[tuple[str, str]], where: str) -> tuple[str, str | None]:
    """('no run in experiment 'x' has metrics.val_acc', 'did you mean metrics.val/acc?')."""
    names = ", ".join(f"{kind}.{key}" for kind, key in missing)
    suggestions = [c for kind, key in missing for c in index.closest(key, kind)]
    if not suggestions:
        suggestions = [c for _, key in missing for c in index.closest(key)]
    hint = f"did you mean {' or '.join(dict.fromkeys(suggestions))}?" if suggestions else None
    return f"no run {where} has {names}", hint


def explain_unknown_attribute(index: KeyIndex, exc: FilterSyntaxError) -> FilterSyntaxError:
    """Add a hint to "unknown attribute 'val'" when the word is a key without its prefix."""
    if not exc.message.startswith("unknown attribute") or exc.hint:
        return exc
    word = re.match(r"[A-Za-z0-9_\-./:]+", exc.expression[exc.position:])
    if word:
        close = index.closest(word.group())
        if close:
            exc.hint = f"did you mean {' or '.join(close)}? keys need their prefix: metrics., params., tags."
    return exc


def count_elsewhere(s: Session, experiment: str, filter_string: str | None) -> int:
    """How many runs outside `experiment` match the filter (all of them without a filter)."""
    from gitexp.services.catalog.listing import run_refs
    from gitexp.services.catalog.query import search

    if not filter_string:
        return sum(1 for ref in run_refs(s) if not ref.startswith(f"refs/gitexp/runs/{experiment}/"))
    try:
        return sum(1 for r in search(s, filter_string) if r.experiment != experiment)
    except FilterSyntaxError:
        return 0


def remote_hint(s: Session) -> str | None:
    """In a repository with no runs but a remote: how to fetch the runs pushed there."""
    try:
        remotes = [section[1].decode() for section in s.db.repo.get_config().sections()
                   if len(section) == 2 and section[0] == b"remote"]
    except Exception:
        return None
    if not remotes:
        return None
    name = "origin" if "origin" in remotes else remotes[0]
    return (f"runs pushed to {name} are not fetched by a plain clone or fetch: "
            f"git fetch {name} 'refs/gitexp/*:refs/gitexp/*'")
