"""Getting models out: `NAME[@vX.Y.Z|#STAGE]` specs, `models:/` and `runs:/` URIs, downloads."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitexp.errors import GitexpError, InvalidName
from gitexp.services.catalog.listing import resolve
from gitexp.services.registry.artifacts import Fetched, fetch, run_artifacts
from gitexp.services.registry.state import Version, load_registry
from gitexp.services.registry.tagnames import check_model, check_version
from gitexp.services.registry.writes import find_version
from gitexp.services.session import Session
from gitexp.store.remotestore import RemoteStore


@dataclass(frozen=True)
class Spec:
    """A model reference: a version, a stage, or (neither) the latest version."""

    model: str
    version: str | None = None
    stage: str | None = None


def parse_spec(text: str) -> Spec:
    """`churn`, `churn@v1.2.0`, `churn@latest`, `churn#production` (GTO's shortcuts)."""
    text = text.strip()
    if "#" in text:
        model, _, stage = text.partition("#")
        return Spec(check_model(model), stage=stage)
    if "@" in text:
        model, _, version = text.partition("@")
        return Spec(check_model(model), version=None if version in ("latest", "greatest") else version)
    return Spec(check_model(text))


def parse_models_uri(uri: str) -> Spec:
    """`models:/NAME/VERSION`, `models:/NAME@STAGE`, `models:/NAME/STAGE`, `models:/NAME/latest`."""
    body = uri[len("models:/"):].lstrip("/")
    if "@" in body:
        model, _, stage = body.rpartition("@")
        return Spec(check_model(model), stage=stage)
    model, slash, last = body.rpartition("/")
    if not slash:
        raise InvalidName(f"model URI {uri!r} names no version or stage",
                          hint="use models:/NAME/VERSION, models:/NAME@STAGE or models:/NAME/latest")
    if last == "latest":
        return Spec(check_model(model))
    if re.fullmatch(r"v?\d+\.\d+\.\d+.*", last):
        return Spec(check_model(model), version=check_version(last))
    return Spec(check_model(model), stage=last)


def resolve_version(s: Session, spec: Spec) -> Version:
    reg = load_registry(s.db, only=spec.model)
    return find_version(reg.model(spec.model), spec.version, spec.stage)


def get_model(s: Session, spec: Spec, out: str | Path | None = None,
              remote: str | None = None) -> tuple[Version, Fetched]:
    """Download the model artifact of a version to `out` (default: its name in the current folder).

    Large files missing here come from the artifact store of `remote` (default:
    the branch's upstream remote, else origin), as `gitexp artifacts get` does.
    """
    v = resolve_version(s, spec)
    path = v.artifact or _only_artifact(s, v)
    dest = Path(out) if out is not None else Path(Path(path).name or "model")
    if dest.is_dir():
        dest = dest / Path(path).name
    return v, fetch(s.db, v.commit, path, dest, expect=v.sha256, remote=remote_source(s, remote))


def remote_source(s: Session, remote: str | None = None) -> Callable[[], RemoteStore | None]:
    """The remote artifact store, opened only if a file is asked of it (the sync service's stores)."""
    def open_it() -> RemoteStore | None:
        from gitexp.services.sync.common import remote_store
        from gitexp.store.transport import default_remote_name

        return remote_store(s, remote or default_remote_name(s.db), required=False)

    return open_it


def _only_artifact(s: Session, v: Version) -> str:
    arts = run_artifacts(s.db, v.commit)
    if len(arts) == 1:
        return arts[0].path
    raise GitexpError(f"{v.model} {v.version} names no model artifact and its run has {len(arts)} artifacts",
                      hint=f"register a version with --artifact PATH: gitexp models register {v.model} RUN "
                           "--artifact model.pkl")


def download(s: Session, uri: str, dst: str | Path | None = None) -> Path:
    """MLflow's `download_artifacts` for `models:/…` and `runs:/RUN/PATH`; the local path."""
    base = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="gitexp-"))
    if uri.startswith("models:/"):
        v = resolve_version(s, parse_models_uri(uri))
        path = v.artifact or _only_artifact(s, v)
        return fetch(s.db, v.commit, path, base / (Path(path).name or "model"), expect=v.sha256,
                     remote=remote_source(s)).path
    if uri.startswith("runs:/"):
        run, _, path = uri[len("runs:/"):].lstrip("/").partition("/")
        s.recover()
        _ref, commit = resolve(s, run)
        if not path:
            return fetch(s.db, commit, "", base / "artifacts", remote=remote_source(s)).path
        return fetch(s.db, commit, path, base / Path(path.rstrip("/")).name, remote=remote_source(s)).path
    raise InvalidName(f"unsupported artifact URI {uri!r}", hint="use models:/NAME/VERSION, models:/NAME@STAGE "
                      "or runs:/RUN/PATH")
