"""`gitexp models …`: the model registry (annotated Git tags, GTO's names).

Writes print what they did and the exact command that shares it on stderr;
`ls`, `show` and `history` print data on stdout (`--json` for machines).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from gitexp.cli.options import JSON, Output, echo_json, echo_table, open_db, output_options
from gitexp.render.formats import fmt_value

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from typing import Any


def _done(text: str) -> None:
    click.echo(f"gitexp: {text}", err=True)


def _written(w: Any, what: str) -> None:
    _done(f"{what}: created tag {w.tag} (commit {w.commit[:12]})")
    _done(f"share it: {w.share}")


def _warn(reg: Any) -> None:
    line = reg.warning()
    if line:
        click.echo(f"gitexp: warning: {line}", err=True)


def _view(out: Output, read: Callable[[Any], tuple[Any, Any]]) -> Any:
    """A registry view read in one session, its warning shown; None once printed as JSON."""
    with open_db() as s:
        data, reg = read(s)
    _warn(reg)
    if out.kind == JSON:
        echo_json(data)
        return None
    return data


@click.group()
def models() -> None:
    """The model registry: versions and stages as annotated Git tags.

    Tags follow GTO's names, so GTO reads a gitexp registry and gitexp reads
    GTO's: NAME@vX.Y.Z registers a version, NAME#STAGE#N assigns a stage,
    NAME#STAGE!#N unassigns it, NAME@vX.Y.Z! deregisters, NAME@deprecated#N
    deprecates the model. See docs/registry.md.

    \b
    Example:
        gitexp models register churn brisk-otter --artifact model.pkl
        gitexp models assign churn v0.0.1 --stage production
        gitexp models get churn#production -o model.pkl
    """


@models.command()
@click.argument("name")
@click.argument("run")
@click.option("--version", "version", metavar="vX.Y.Z", help="The version to register (default: next patch).")
@click.option("--bump-major", "bump", flag_value="major", help="Next major version.")
@click.option("--bump-minor", "bump", flag_value="minor", help="Next minor version.")
@click.option("--bump-patch", "bump", flag_value="patch", help="Next patch version (the default).")
@click.option("--artifact", metavar="PATH", help="The run artifact (file or folder) that is the model.")
@click.option("-m", "--message", help="A description of this version.")
@click.option("--force", is_flag=True, help="Allow a version not greater than the latest.")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def register(name: str, run: str, version: str | None, bump: str | None, artifact: str | None,
             message: str | None, force: bool, as_json: bool) -> None:
    """Register RUN as a new version of model NAME (tag NAME@vX.Y.Z on the run's commit).

    The first version is v0.0.1; later ones bump the patch unless --version or
    a --bump-* option says otherwise. A run is one version of a model at most.

    \b
    Example:
        gitexp models register churn brisk-otter --artifact model.pkl
        gitexp models register churn calm-heron --bump-minor -m "new features"
    """
    from gitexp.services.registry.writes import RegisterRequest, register as do_register

    with open_db() as s:
        w = do_register(s, RegisterRequest(name, run, version, bump, artifact, message, force))
    if as_json:
        echo_json(w.to_dict())
    _written(w, f"registered {w.model} {w.version} (run {w.run_name})")


def _assign(name: str, version: str, stage: str, message: str | None, force: bool, as_json: bool) -> None:
    from gitexp.services.registry.writes import assign as do_assign

    with open_db() as s:
        w = do_assign(s, name, version, stage, message, force)
    if as_json:
        echo_json(w.to_dict())
    _written(w, f"assigned {w.stage} to {w.model} {w.version}")


_ASSIGN_HELP = """Assign STAGE to VERSION of model NAME (tag NAME#STAGE#N); the latest assignment wins.

    \b
    Example:
        gitexp models assign churn v0.0.2 --stage production
        gitexp models promote churn v0.0.2 --stage staging -m "passed review"
    """


def _assign_command(cmd_name: str) -> click.Command:
    @click.command(cmd_name, help=_ASSIGN_HELP)
    @click.argument("name")
    @click.argument("version")
    @click.option("-s", "--stage", required=True, help="The stage, e.g. dev, staging, production.")
    @click.option("-m", "--message", help="Why.")
    @click.option("--force", is_flag=True, help="Assign again even if the version already holds the stage.")
    @click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
    def command(name: str, version: str, stage: str, message: str | None, force: bool, as_json: bool) -> None:
        _assign(name, version, stage, message, force, as_json)

    return command


models.add_command(_assign_command("assign"))
models.add_command(_assign_command("promote"))


@models.command()
@click.argument("name")
@click.argument("version")
@click.option("-s", "--stage", required=True, help="The stage to take away.")
@click.option("-m", "--message", help="Why.")
def unassign(name: str, version: str, stage: str, message: str | None) -> None:
    """Take STAGE away from VERSION of NAME (tag NAME#STAGE!#N).

    \b
    Example:
        gitexp models unassign churn v0.0.2 --stage production
    """
    from gitexp.services.registry.writes import unassign as do_unassign

    with open_db() as s:
        w = do_unassign(s, name, version, stage, message)
    _written(w, f"unassigned {w.stage} from {w.model} {w.version}")


@models.command()
@click.argument("name")
@click.argument("version")
@click.option("-m", "--message", help="Why.")
def deregister(name: str, version: str, message: str | None) -> None:
    """Deregister VERSION of NAME (tag NAME@vX.Y.Z!); its stages fall back to earlier assignments.

    \b
    Example:
        gitexp models deregister churn v0.0.3 -m "data leak"
    """
    from gitexp.services.registry.writes import deregister as do_deregister

    with open_db() as s:
        w = do_deregister(s, name, version, message)
    _written(w, f"deregistered {w.model} {w.version}")


@models.command()
@click.argument("name")
@click.option("-m", "--message", help="Why.")
def deprecate(name: str, message: str | None) -> None:
    """Deprecate model NAME (tag NAME@deprecated#N); registering a new version revives it.

    \b
    Example:
        gitexp models deprecate churn -m "replaced by churn-v2"
    """
    from gitexp.services.registry.writes import deprecate as do_deprecate

    with open_db() as s:
        w = do_deprecate(s, name, message)
    _written(w, f"deprecated {w.model}")


@models.command("ls")
@output_options
def ls_models(out: Output) -> None:
    """List models: latest version and the version in each stage.

    \b
    Example:
        gitexp models ls
        gitexp models ls --json
    """
    from gitexp.services.registry.views import models_table

    rows = _view(out, lambda s: models_table(s))
    if rows is None:
        return
    if not rows:
        _done("no models registered yet; register one with: gitexp models register NAME RUN")
        return
    stages = sorted({st for r in rows for st in r["stages"]})
    table = [[r["name"] + (" (deprecated)" if r["deprecated"] else ""), r["latest"] or "-"]
             + [r["stages"].get(st, "-") for st in stages] for r in rows]
    echo_table(["model", "latest"] + stages, table, out)


@models.command("show")
@click.argument("name")
@output_options
def show_model(name: str, out: Output) -> None:
    """Show the versions of model NAME with their runs, key metrics and stages.

    \b
    Example:
        gitexp models show churn
    """
    from gitexp.services.registry.views import model_versions

    data = _view(out, lambda s: model_versions(s, name))
    if data is None:
        return
    keys: list[str] = []
    for v in data["versions"]:
        keys += [k for k in v["metrics"] if k not in keys]
    keys = keys[:4]
    rows = [[v["version"] + (" (deregistered)" if v["deregistered"] else ""), ", ".join(v["stages"]) or "-",
             v["run_name"] or "-", (v["run"] or "-")[:12], v["artifact"] or "-"]
            + [fmt_value(v["metrics"].get(k), 12) for k in keys] for v in data["versions"]]
    title = f"model {data['name']}" + (" (deprecated)" if data["deprecated"] else "")
    click.echo(click.style(title, bold=True))
    echo_table(["version", "stages", "run", "run id", "artifact"] + keys, rows, out)


@models.command("history")
@click.argument("name", required=False)
@output_options
def history_cmd(name: str | None, out: Output) -> None:
    """Every registry event in order (by counter, never by timestamp): who, when, what.

    \b
    Example:
        gitexp models history churn
        gitexp models history --json
    """
    from datetime import datetime, timezone

    from gitexp.services.registry.views import history

    events = _view(out, lambda s: history(s, name))
    if events is None:
        return

    def when(t: int) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")

    rows = [[e["model"], e["action"], e["version"] or "-", e["stage"] or "-", e["by"].split(" <")[0],
             when(e["time"]), e["tag"]] for e in events]
    echo_table(["model", "event", "version", "stage", "by", "when", "tag"], rows, out)


@models.command("get")
@click.argument("spec", metavar="NAME[@vX.Y.Z|#STAGE]")
@click.option("-o", "--output", "out", metavar="PATH", help="Where to write the model (default: its file name).")
@click.option("--remote", metavar="REMOTE", help="Whose artifact store has large files missing here "
              "(default: the branch's upstream remote, else origin).")
def get(spec: str, out: str | None, remote: str | None) -> None:
    """Download the model artifact of a version, verifying its sha256.

    NAME alone is the latest version; NAME@vX.Y.Z a version; NAME#STAGE the
    version in that stage. This is what a deployment script runs. Files come
    from the run, the local store, or the remote's artifact store.

    \b
    Example:
        gitexp models get churn#production -o model.pkl
        gitexp models get churn@v0.0.2
    """
    from gitexp.services.registry.deploy import get_model, parse_spec

    with open_db() as s:
        v, fetched = get_model(s, parse_spec(spec), out, remote)
    _done(f"wrote {v.model} {v.version} ({fetched.source}, sha256 {fetched.sha256[:12]}) to {fetched.path}")
