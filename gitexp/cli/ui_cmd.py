"""`gitexp ui`: serve the web UI, or export it as static pages."""

from __future__ import annotations

import socket
import sys
import threading
import time

import click

from gitexp.errors import GitexpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING (click imports typing anyway: this is only the house idiom)
if TYPE_CHECKING:
    from typing import Any

INSTALL_HINT = "pip install 'gitexp[ui]'"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but localhost exposes your runs to the network.")
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in a web browser.")
@click.option("--allow-writes", is_flag=True, help="Allow tag, note and rename from the run page (CSRF-protected).")
@click.option("--remote", metavar="REMOTE",
              help="Team server: pull this remote's runs and registry tags every --refresh seconds (read-only).")
@click.option("--refresh", default=60, show_default=True, type=click.IntRange(5, None), metavar="SECONDS",
              help="With --remote: seconds between pulls.")
@click.option("--export", "export_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write the pages as static HTML + JSON into DIR instead of serving.")
@click.option("--filter", "filter_string", default="", metavar="EXPR", help="With --export: only runs matching EXPR.")
@click.option("-e", "--experiment", metavar="NAME", help="With --export: only this experiment's runs.")
def ui(port: int, host: str, open_browser: bool, allow_writes: bool, remote: str | None, refresh: int,
       export_dir: str | None, filter_string: str, experiment: str | None) -> None:
    """Browse, filter, chart and compare runs in a web browser.

    Serves the runs table, run pages and comparisons of this repository on
    http://127.0.0.1:5050/ until Ctrl-C. Read-only unless --allow-writes.
    Needs the optional dependencies: pip install 'gitexp[ui]'.

    \b
    Example:
        gitexp ui --open
        gitexp ui --port 8080 --allow-writes
        gitexp ui --host 0.0.0.0 --remote origin --refresh 60
        gitexp ui --export site/ --filter "metrics.acc > 0.9"
    """
    from gitexp.services.session import open_session

    if export_dir:
        _need("jinja2")
        from gitexp.ui.export import export_site

        with open_session() as s:
            done = export_site(s, export_dir, filter_string, experiment)
        click.echo(f"wrote {done.runs} run pages and index.html to {done.folder}")
        return
    if filter_string or experiment:
        raise click.UsageError("--filter and --experiment go with --export; the served UI has a filter box")
    _need("starlette", "uvicorn", "jinja2")
    if remote and allow_writes:
        raise click.UsageError("a team server (--remote) is read-only: drop --allow-writes")
    with open_session() as s:  # fails early outside a repository, or without that remote
        repo = str(s.db.repo.path)
        fetcher = _remote_fetcher(s, remote) if remote else None
    serve(repo, host, port, open_browser, allow_writes, remote, refresh, fetcher)


def _need(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise GitexpError(f"gitexp ui needs {', '.join(missing)}, which is not installed", hint=INSTALL_HINT)


def _remote_fetcher(s: Any, remote: str) -> Any:
    """The team server's refresh of `remote` (a pull without artifacts); the remote is checked now."""
    from gitexp.ui.team import check_remote, refresh

    name = check_remote(s, remote)
    return lambda session: refresh(session, name)


def serve(repo: str, host: str, port: int, open_browser: bool, allow_writes: bool, remote: str | None,
          refresh: int, fetcher: Any) -> None:
    """Bind, print the address, serve until Ctrl-C."""
    import uvicorn

    from gitexp.ui.app import UIConfig, create_app

    sock = _bind(host, port)
    port = sock.getsockname()[1]
    reason = f"a team server over {remote}" if remote else None
    config = UIConfig(repo=repo, host=host, port=port, allow_writes=allow_writes, read_only_reason=reason)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if host not in LOOPBACK:
        click.secho(f"warning: serving on {host}: anyone who can reach this address can read your runs",
                    fg="yellow", err=True)
    started = threading.Event()
    app = create_app(config, warm=started)
    server = _notifying_server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none",
                                              timeout_graceful_shutdown=2), started)
    if fetcher is not None:
        threading.Thread(target=_fetch_loop, args=(repo, fetcher, refresh), daemon=True).start()
    click.echo(f"gitexp ui: serving {repo} at {url} ({'writes allowed' if allow_writes else 'read-only'}); "
               "Ctrl-C stops", err=True)
    click.echo(url)
    sys.stdout.flush()
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])


def _notifying_server(config: Any, started: threading.Event) -> Any:
    """A uvicorn server that sets `started` once it listens (the UI then warms its caches)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            started.set()

    return Server(config)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GitexpError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          hint=f"pick another port: gitexp ui --port {port + 1 if port else 5051}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _fetch_loop(repo: str, fetcher: Any, period: int) -> None:
    from gitexp.services.session import open_session

    while True:
        try:
            with open_session(repo) as s:
                _result, problems = fetcher(s)
            for line in problems:
                click.echo(f"gitexp ui: {line}", err=True)
        except Exception as exc:  # keep serving what we have
            click.echo(f"gitexp ui: refresh failed: {getattr(exc, 'message', None) or exc}", err=True)
        time.sleep(period)
