"""Safe YAML reading and writing (ruamel.yaml; the C loader when installed)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.resolver import VersionedResolver

from gitexp.errors import CorruptRecord


class _Yaml12Resolver(VersionedResolver):
    """YAML 1.2 resolution without re-deriving the version for every scalar.

    ruamel looks the document's version up on each implicit tag resolution;
    fixing it at 1.2 (what we write) makes loading records ~2.5x faster.
    """

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)

    @property
    def versioned_resolver(self) -> Any:
        table = self.__dict__.get("_table")
        if table is None:
            table = self.__dict__["_table"] = VersionedResolver.versioned_resolver.fget(self)  # type: ignore[attr-defined]
        return table


try:  # the C parser (ruamel.yaml.clib); ruamel's own YAML(typ="safe") builds a loader class per call
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.cyaml import CParser

    class _Loader(CParser, SafeConstructor, _Yaml12Resolver):  # type: ignore[misc]
        """C parser, safe constructor (no tags, no code), YAML 1.2 resolution."""

        def __init__(self, stream: bytes | str) -> None:
            CParser.__init__(self, stream)
            self._parser = self._composer = self
            SafeConstructor.__init__(self, loader=self)
            _Yaml12Resolver.__init__(self, loadumper=self)

    def _load(data: bytes | str) -> Any:
        loader = _Loader(data)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
except ImportError:  # pure-Python ruamel: its own safe loader
    _safe = YAML(typ="safe")
    _safe.Resolver = _Yaml12Resolver
    _load = _safe.load
_dumper = YAML(typ="safe")
_dumper.default_flow_style = False
_dumper.sort_base_mapping_type_on_output = False  # keep the order we chose
_dumper.width = 4096


def load(data: bytes | str, what: str = "YAML") -> Any:
    """Parse YAML safely (no tags, no code); raise CorruptRecord on bad input."""
    try:
        return _load(data)
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptRecord(f"malformed {what}: {first}") from None


def dump(obj: Any) -> bytes:
    """Serialise plain data (dicts, lists, scalars) as block-style YAML bytes."""
    buf = io.StringIO()
    _dumper.dump(_plain(obj), buf)
    return buf.getvalue().encode()


def _plain(obj: Any) -> Any:
    """Convert numpy scalars, tuples and other odd types into YAML-safe plain data."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return _plain(obj.item())
    return str(obj)


def roundtrip_set(text: str, updates: dict[str, Any]) -> tuple[str, Any]:
    """Apply dotted-key updates to a YAML document, keeping comments and key order.

    Returns the new text and the resulting data as plain Python objects.
    """
    rt = YAML()  # round-trip mode; loading is still safe (no arbitrary tags)
    rt.preserve_quotes = True
    doc = rt.load(text) if text.strip() else None
    if doc is None:
        doc = rt.load("{}")
    for dotted, value in updates.items():
        node = doc
        *parents, last = dotted.split(".")
        for part in parents:
            if part not in node or not isinstance(node[part], dict):
                node[part] = {}
            node = node[part]
        node[last] = value
    out = io.StringIO()
    rt.dump(doc, out)
    new_text = out.getvalue()
    return new_text, load(new_text, "params file")
