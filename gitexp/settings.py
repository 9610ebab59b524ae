"""Settings: team defaults in a tracked `.gitexp.yaml`, personal overrides in git config."""

from __future__ import annotations

import os

from gitexp.errors import ConfigError, CorruptRecord
from gitexp.slots import Slots

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:  # every command reads the settings: no dulwich, no YAML unless .gitexp.yaml exists
    from gitexp.store.repo import GitDB

SETTINGS_FILE = ".gitexp.yaml"
PARAMS_FILE = "params.yaml"  # a run's params, rewritten by `-p` (services/tracking/paramsfile.py)


class SnapshotLimits(Slots):
    """Caps on untracked files in a run's code snapshot: per file, in total, and extra ignore patterns."""

    __slots__ = ("max_file_size", "max_total_size", "ignore", "secrets")

    def __init__(self) -> None:
        self.max_file_size = 1 << 20
        self.max_total_size = 50 << 20
        self.ignore: list[str] = []
        self.secrets: list[str] = []  # more credential-like names (store/secrets.py)


class Settings(Slots):
    """Every knob gitexp reads, with its default."""

    __slots__ = ("default_experiment", "artifact_threshold", "output_log_max", "flush_interval", "snapshot",
                 "remote_stores", "registry_stages", "pack_threshold")

    def __init__(self) -> None:
        self.default_experiment = "default"
        self.artifact_threshold = 1 << 20
        self.output_log_max = 1 << 20
        self.flush_interval = 1.0
        self.snapshot = SnapshotLimits()
        self.remote_stores: dict[str, str] = {}
        self.registry_stages: list[str] | None = None  # allowed registry stages; None: any
        self.pack_threshold = 1000  # loose objects before gitexp packs them (0: never)


_INTS = ("artifact_threshold", "output_log_max", "pack_threshold")


def load_settings(db: GitDB) -> Settings:
    """Merge `.gitexp.yaml` (team) and `gitexp.*` git config (personal, wins)."""
    settings = Settings()
    tree = db.place.work_tree
    if tree is not None and os.path.exists(os.path.join(tree, SETTINGS_FILE)):
        _apply_file(settings, os.path.join(tree, SETTINGS_FILE))
    for key in ("default_experiment", *_INTS, "flush_interval"):
        value = db.config("gitexp", key.replace("_", ""))
        if value is not None:
            _set(settings, key, value, f"git config gitexp.{key.replace('_', '')}")
    return settings


def _apply_file(settings: Settings, path: str) -> None:
    from gitexp.store import yamlio

    try:
        with open(path, "rb") as f:
            raw = yamlio.load(f.read(), SETTINGS_FILE) or {}
    except CorruptRecord as exc:
        raise ConfigError(exc.message, hint=f"fix {path}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{SETTINGS_FILE} must be a mapping", hint=f"fix {path}")
    for key, value in raw.items():
        if key == "snapshot" and isinstance(value, dict):
            _apply_snapshot(settings.snapshot, value, path)
        elif key == "remote_stores" and isinstance(value, dict):
            settings.remote_stores = {str(k): str(v) for k, v in value.items()}
        elif key == "registry" and isinstance(value, dict):
            settings.registry_stages = _stages(value, path)
        elif key in ("default_experiment", *_INTS, "flush_interval"):
            _set(settings, key, value, str(path))
        else:
            raise ConfigError(f"unknown setting {key!r} in {SETTINGS_FILE}", hint="see docs/concepts.md#settings")


def _stages(raw: dict, path: str) -> list[str] | None:
    for key in raw:
        if key != "stages":
            raise ConfigError(f"unknown registry setting {key!r} in {SETTINGS_FILE}", hint="see docs/registry.md")
    stages = raw.get("stages")
    if stages is None:
        return None
    if not isinstance(stages, list) or not all(isinstance(s, str) and s for s in stages):
        raise ConfigError(f"registry.stages in {SETTINGS_FILE} must be a list of stage names", hint=f"fix {path}")
    return list(stages)


def _apply_snapshot(limits: SnapshotLimits, raw: dict, path: str) -> None:
    for key, value in raw.items():
        if key in ("max_file_size", "max_total_size"):
            setattr(limits, key, _int(value, f"snapshot.{key}", str(path)))
        elif key == "ignore" and isinstance(value, list):
            limits.ignore = [str(v) for v in value]
        elif key == "secrets" and isinstance(value, list):
            limits.secrets = [str(v) for v in value]
        else:
            raise ConfigError(f"unknown snapshot setting {key!r} in {SETTINGS_FILE}")


def _set(settings: Settings, key: str, value: object, source: str) -> None:
    if key in _INTS:
        setattr(settings, key, _int(value, key, source))
    elif key == "flush_interval":
        try:
            settings.flush_interval = max(0.01, float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{key} in {source} must be a number of seconds, not {value!r}") from None
    else:
        from gitexp.names import check_experiment

        settings.default_experiment = check_experiment(str(value))


def _int(value: object, key: str, source: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{key} in {source} must be a whole number of bytes, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{key} in {source} must not be negative")
    return number
