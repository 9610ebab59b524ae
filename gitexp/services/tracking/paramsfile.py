"""`-p key=value` overrides, and the repository's `params.yaml` (DVC's convention).

An override may only change what the file already has, keeping its shape, so that a
run never claims a param its script does not read (Hydra's and DVC's grammar):

| written            | meaning                                                        |
|--------------------|----------------------------------------------------------------|
| `train.lr=0.1`     | change a key the file has; a mapping stays a mapping, a value a value |
| `+dropout=0.1`     | add a key the file lacks                                       |
| `++train=5`        | set it whatever is there (also a mapping ↔ value change; `--force`) |

Values are YAML (`0.01` is a number, `[1, 2]` a list); text that does not parse is
refused rather than stored as a string.
"""

from __future__ import annotations

from gitexp.errors import CorruptRecord, InvalidValue
from gitexp.names import check_key
from gitexp.settings import PARAMS_FILE
from gitexp.slots import Value
from gitexp.store import yamlio

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from pathlib import Path  # (callers pass the work tree's `GitDB.root`)
    from typing import Any

SET, ADD, FORCE = "set", "add", "force"


def parse_assignments(items: tuple[str, ...] | list[str], what: str = "param") -> dict[str, Any]:
    """Parse `key=value` strings; params are typed as YAML scalars (0.01 is a number), tags are text."""
    if what == "param":
        return {o.key: o.value for o in parse_overrides(items)}
    out: dict[str, Any] = {}
    for item in items:
        key, raw = _split(item, what)
        out[key] = raw
    return out


class Override(Value):
    """One `-p`: `key` (dotted for nested params), its typed `value`, and `mode` (set, add, force)."""

    key: str
    value: Any
    mode: str = SET
    text: str = ""  # as typed, for messages

    @property
    def shown(self) -> str:
        return self.text or f"{self.key}={self.value}"


def parse_overrides(items: tuple[str, ...] | list[str]) -> list[Override]:
    """Parse `-p` arguments: `[+|++]key=value`, the value as YAML (refused if it does not parse)."""
    out = []
    for item in items:
        mode = FORCE if item.startswith("++") else ADD if item.startswith("+") else SET
        body = item[{FORCE: 2, ADD: 1, SET: 0}[mode]:]
        key, raw = _split(body, "param", item)
        try:
            value = yamlio.load(raw, "value") if raw.strip() else None
        except CorruptRecord as exc:
            reason = exc.message.removeprefix("malformed value: ")
            raise InvalidValue(f"-p {item}: the value is not valid YAML ({reason})",
                               hint=f"quote it to pass text: -p '{body.partition('=')[0]}=\"{raw}\"'") from None
        out.append(Override(key, value, mode, item))
    return out


def _split(item: str, what: str, shown: str | None = None) -> tuple[str, str]:
    key, sep, raw = item.partition("=")
    if not sep:
        hint = (f"give the {what} its KEY=VALUE before '--'" if item.startswith("-")  # `-p -- cmd`: value forgotten
                else f"write it as {item or 'lr'}=0.01")
        raise InvalidValue(f"{what} {shown or item!r} is not key=value", hint=hint)
    return check_key(key.strip(), f"{what} key"), raw


def typed(raw: str) -> Any:
    """`0.01` → 0.01, `true` → True, `[1, 2]` → [1, 2], anything unparsable stays text."""
    try:
        return yamlio.load(raw, "value")
    except CorruptRecord:
        return raw


class ParamsFile(Value):
    """A params.yaml that was rewritten for a run, and how to put it back."""

    path: Path
    original: bytes
    written: bytes
    params: dict[str, Any]

    def restore(self) -> bool:
        """Put the original bytes back unless the file was edited meanwhile (by the run's script)."""
        try:
            if self.path.read_bytes() != self.written:
                return False
        except FileNotFoundError:
            return False
        write_atomic(self.path, self.original)
        return True


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path`'s content in one step, keeping its permission bits."""
    tmp = path.with_name(f".{path.name}.gitexp-tmp")
    tmp.write_bytes(data)
    try:
        tmp.chmod(path.stat().st_mode & 0o7777)
    except OSError:
        pass
    tmp.replace(path)


def load_params_file(root: Path | None) -> dict[str, Any] | None:
    """The content of `<root>/params.yaml`, or None when there is none."""
    if root is None or not (root / PARAMS_FILE).is_file():
        return None
    data = yamlio.load((root / PARAMS_FILE).read_bytes(), PARAMS_FILE)
    if data is not None and not isinstance(data, dict):
        raise InvalidValue(f"{root / PARAMS_FILE} must hold a mapping of params")
    return data or {}


def check_overrides(data: dict[str, Any], overrides: list[Override], force: bool = False) -> None:
    """Refuse an override that adds a key without `+` or changes a shape without `++`/`--force`."""
    for o in overrides:
        mode = FORCE if force else o.mode
        if mode == FORCE:
            continue
        found, node, where = _lookup(data, o.key)
        if found:
            if mode == ADD:
                raise InvalidValue(f"-p {o.shown}: {PARAMS_FILE} already has {o.key!r}",
                                   hint=f"change it with -p {o.key}={_raw(o)}")
            if isinstance(node, dict) != isinstance(o.value, dict):
                old, new = ("a mapping", "a value") if isinstance(node, dict) else ("a value", "a mapping")
                raise InvalidValue(f"-p {o.shown}: {o.key!r} is {old} in {PARAMS_FILE}; this would make it {new}",
                                   hint=f"to replace it anyway: -p ++{o.key}={_raw(o)} (or --force)")
        elif where is not None:  # a parent on the way is a value, not a mapping
            raise InvalidValue(f"-p {o.shown}: {where!r} is a value in {PARAMS_FILE}, not a mapping with keys",
                               hint=f"to replace it anyway: -p ++{o.key}={_raw(o)} (or --force)")
        elif mode == SET:
            close = closest_keys(o.key, list(flatten_keys(data)))
            did = f"did you mean {close[0]}? " if close else ""
            raise InvalidValue(f"-p {o.shown}: {PARAMS_FILE} has no key {o.key!r}, so the script would not read it",
                               hint=did + f"to add a new key, write -p +{o.key}={_raw(o)}")


def _raw(o: Override) -> str:
    return o.shown.lstrip("+").partition("=")[2]


def _lookup(data: dict[str, Any], dotted: str) -> tuple[bool, Any, str | None]:
    """(found, value, the dotted path of a non-mapping parent in the way or None)."""
    node: Any = data
    parts = dotted.split(".")
    for n, part in enumerate(parts):
        if not isinstance(node, dict):
            return False, None, ".".join(parts[:n])
        if part not in node:
            return False, None, None
        node = node[part]
    return True, node, None


def flatten_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every leaf and every mapping in `data`."""
    out = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        out.append(path)
        if isinstance(value, dict):
            out += flatten_keys(value, path + ".")
    return out


def closest_keys(key: str, keys: list[str], n: int = 3) -> list[str]:
    """Keys that `key` probably meant: same last segment first (`lr` → `train.lr`), then similar spelling."""
    last = key.rsplit(".", 1)[-1].lower()
    same_leaf = [k for k in keys if k.rsplit(".", 1)[-1].lower() == last and k != key]
    import difflib  # a suggestion on a bad key only

    similar = difflib.get_close_matches(key, keys, n=n, cutoff=0.6)
    return list(dict.fromkeys(same_leaf + similar))[:n]


def apply_overrides(root: Path, overrides: dict[str, Any] | list[Override], force: bool = False) -> ParamsFile:
    """Write `overrides` (dotted keys reach nested mappings) into params.yaml, keeping comments.

    A list of `Override`s is checked first (`check_overrides`); a plain dict is written as given.
    """
    path = root / PARAMS_FILE
    original = path.read_bytes()
    if isinstance(overrides, list):
        current = yamlio.load(original, PARAMS_FILE) or {}
        if not isinstance(current, dict):
            raise InvalidValue(f"{path} must hold a mapping of params")
        check_overrides(current, overrides, force)
        updates = {o.key: o.value for o in overrides}
    else:
        updates = overrides
    text, data = yamlio.roundtrip_set(original.decode(), updates)
    written = text.encode()
    write_atomic(path, written)
    return ParamsFile(path, original, written, data if isinstance(data, dict) else {})
