"""`gitexp artifacts ls` and `gitexp artifacts get`: a run's files, wherever their bytes are."""

from __future__ import annotations

import click

from gitexp.cli.options import JSON, Output, echo_json, echo_table, open_db, output_options


@click.group()
def artifacts() -> None:
    """List and download the artifacts of a run.

    \b
    Example:
        gitexp artifacts ls brisk-otter
        gitexp artifacts get brisk-otter model -o out/
    """


@artifacts.command("ls")
@click.argument("run")
@click.option("--remote", help="Remote whose store to check (default: upstream, else origin).")
@output_options
def ls(run: str, remote: str | None, out: Output) -> None:
    """List RUN's artifacts: path, size, sha256 and where the bytes are.

    WHERE is run (inline in the run commit), local (the local side store),
    remote (the remote's artifact store) or missing.

    \b
    Example:
        gitexp artifacts ls brisk-otter
    """
    from gitexp.services.sync.artifacts import list_artifacts

    with open_db() as s:
        rows = list_artifacts(s, run, remote)
    if out.kind == JSON:
        echo_json([r.__dict__ for r in rows])
        return
    echo_table(["path", "size", "where", "sha256"], [[r.path, r.size, r.where, r.sha256[:12]] for r in rows], out)


@artifacts.command("get")
@click.argument("run")
@click.argument("paths", nargs=-1)
@click.option("-o", "--output", "dest", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write into (paths keep their folders).")
@click.option("--remote", help="Remote whose store to download from (default: upstream, else origin).")
def get(run: str, paths: tuple[str, ...], dest: str, remote: str | None) -> None:
    """Download RUN's artifacts (all, or PATHS and folders under them), verified by sha256.

    \b
    Example:
        gitexp artifacts get brisk-otter -o out/
        gitexp artifacts get brisk-otter model/weights.pt -o out/
    """
    from gitexp.services.sync.artifacts import download

    with open_db() as s:
        written = download(s, run, paths, dest, remote)
    for path in written:
        click.echo(str(path))
    click.echo(f"gitexp: wrote {len(written)} file(s) to {dest}", err=True)
