"""`-p key=value` overrides, and the repository's `params.yaml` (DVC's convention)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitexp.errors import CorruptRecord, InvalidValue
from gitexp.names import check_key
from gitexp.store import yamlio

PARAMS_FILE = "params.yaml"


def parse_assignments(items: tuple[str, ...] | list[str], what: str = "param") -> dict[str, Any]:
    """Parse `key=value` strings; values are typed as YAML scalars (0.01 is a number)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise InvalidValue(f"{what} {item!r} is not key=value", hint=f"write it as {item or 'lr'}=0.01")
        check_key(key.strip(), f"{what} key")
        out[key.strip()] = typed(raw) if what == "param" else raw
    return out


def typed(raw: str) -> Any:
    """`0.01` → 0.01, `true` → True, `[1, 2]` → [1, 2], anything unparsable stays text."""
    try:
        return yamlio.load(raw, "value")
    except CorruptRecord:
        return raw


@dataclass
class ParamsFile:
    """A params.yaml that was rewritten for a run, and how to put it back."""

    path: Path
    original: bytes
    written: bytes
    params: dict[str, Any]

    def restore(self) -> bool:
        """Put the original content back unless the file was edited meanwhile."""
        try:
            if self.path.read_bytes() != self.written:
                return False
        except FileNotFoundError:
            return False
        self.path.write_bytes(self.original)
        return True


def load_params_file(root: Path | None) -> dict[str, Any] | None:
    """The content of `<root>/params.yaml`, or None when there is none."""
    if root is None or not (root / PARAMS_FILE).is_file():
        return None
    data = yamlio.load((root / PARAMS_FILE).read_bytes(), PARAMS_FILE)
    if data is not None and not isinstance(data, dict):
        raise InvalidValue(f"{root / PARAMS_FILE} must hold a mapping of params")
    return data or {}


def apply_overrides(root: Path, overrides: dict[str, Any]) -> ParamsFile:
    """Write `overrides` (dotted keys reach nested mappings) into params.yaml, keeping comments."""
    path = root / PARAMS_FILE
    original = path.read_bytes()
    text, data = yamlio.roundtrip_set(original.decode(), overrides)
    written = text.encode()
    path.write_bytes(written)
    return ParamsFile(path, original, written, data if isinstance(data, dict) else {})
