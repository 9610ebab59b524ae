"""The web UI's Starlette application: pages, JSON endpoints, and the security rules.

Each request opens its own `Session` (a fresh dulwich Repo, so packed refs
rewritten by `git gc` are never served stale) and reads runs only through
the services, via `gitexp.ui.data`. Run data may come from other people's
pushes, so:

- the Host header must name the bound address or localhost (DNS rebinding);
- every page is rendered by Jinja2 with autoescaping, JSON embedded in pages
  is escaped for `</script>`, scripts build the DOM with `textContent`, and a
  Content-Security-Policy forbids inline scripts;
- artifacts are looked up by exact path in the run's artifact list, and only
  raster images and text are ever shown inline (SVG and HTML are downloads);
- writes exist only with `allow_writes`, and need the server's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitexp.errors import AmbiguousRun, GitexpError, RunNotFound
from gitexp.services.session import Session, open_session
from gitexp.ui import data, writes
from gitexp.ui.templating import templates

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
INLINE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp"}


@dataclass
class UIConfig:
    """How the server was started."""

    repo: str = "."
    host: str = "127.0.0.1"
    port: int = 5050
    allow_writes: bool = False
    read_only_reason: str | None = None  # e.g. "a team server over origin"
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def allowed_hosts(self) -> set[str] | None:
        """Host names the Host header may carry; None when bound to every interface."""
        if self.host in ("0.0.0.0", "::", ""):
            return None
        return {self.host.strip("[]").lower(), *LOOPBACK}


class HostCheck:
    """Refuse requests whose Host header is not an address this server answers to."""

    def __init__(self, app: ASGIApp, allowed: set[str] | None) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]") not in {h.strip("[]") for h in self.allowed}:
                response = PlainTextResponse(f"Host {host!r} is not served here (gitexp ui answers to "
                                             f"{', '.join(sorted(self.allowed))})", status_code=421)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """A strict CSP and friends on every response."""

    HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
               (b"cross-origin-resource-policy", b"same-origin")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def create_app(config: UIConfig, warm: bool = False) -> ASGIApp:
    """The ASGI application serving the repository at `config.repo`.

    `warm` fills the cache index and the default view of the runs table in a
    background thread, so the first page a browser asks for is ready.
    """
    ui = _Handlers(config, templates())
    if warm:
        import threading

        threading.Thread(target=ui.warm, daemon=True, name="gitexp-ui-warm").start()
    routes = [
        Route("/", ui.runs_page), Route("/run/{run}", ui.run_page), Route("/compare", ui.compare_page),
        Route("/registry", ui.registry_page), Route("/api/registry", ui.api_registry),
        Route("/run/{run}/artifact/{path:path}", ui.artifact),
        Route("/api/runs", ui.api_runs), Route("/api/experiments", ui.api_experiments),
        Route("/api/run/{run}", ui.api_run), Route("/api/histories", ui.api_histories),
        Route("/api/compare", ui.api_compare), Route("/api/codediff", ui.api_codediff),
        Route("/api/run/{run}/{action}", ui.api_write, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: ui.not_found, 405: ui.not_allowed})
    return HostCheck(SecurityHeaders(app), config.allowed_hosts())


Handler = Callable[[Request], Awaitable[Response]]


class _Handlers:
    """Route handlers; the blocking work of each runs in a worker thread with its own Session."""

    def __init__(self, config: UIConfig, env: Environment) -> None:
        self.config, self.env = config, env
        self.results = data.ResultCache()

    def warm(self) -> None:
        try:
            with self._session() as s:
                data.runs_table(s, cache=self.results)
        except Exception:  # noqa: BLE001 - the requests will report it
            pass

    # -- plumbing ------------------------------------------------------------------------------
    def _session(self) -> Session:
        return open_session(self.config.repo)

    async def _call(self, fn: Callable[[Session], Any]) -> Any:
        from starlette.concurrency import run_in_threadpool

        def work() -> Any:
            with self._session() as s:
                return fn(s)

        return await run_in_threadpool(work)

    def _page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("static_export", False)
        context.setdefault("root", "/")
        context.setdefault("page", {"static": False})
        context.update(writes=self.config.allow_writes, csrf=self.config.csrf_token if self.config.allow_writes else "",
                       read_only_reason=self.config.read_only_reason)
        return HTMLResponse(self.env.get_template(name).render(**context), status_code=status)

    def _error_page(self, exc: GitexpError) -> HTMLResponse:
        return self._page("error.html", _status(exc), message=exc.message, hint=exc.hint)

    @staticmethod
    def _json(payload: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(data.clean(payload), status_code=status)

    def _json_error(self, exc: GitexpError) -> JSONResponse:
        return self._json({"error": {"message": exc.message, "hint": exc.hint}}, _status(exc))

    async def not_found(self, request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return self._json({"error": {"message": "no such endpoint", "hint": None}}, 404)
        return self._page("error.html", 404, message="Page not found", hint=None)

    async def not_allowed(self, request: Request, exc: Exception) -> Response:
        return self._json({"error": {"message": "method not allowed", "hint": None}}, 405)

    # -- pages ---------------------------------------------------------------------------------
    async def runs_page(self, request: Request) -> Response:
        try:
            exps = await self._call(data.experiments)
        except GitexpError as exc:
            return self._error_page(exc)
        return self._page("runs.html", experiments=exps, page={"static": False, "experiments": exps})

    async def run_page(self, request: Request) -> Response:
        ref = request.path_params["run"]
        try:
            page = await self._call(lambda s: data.run_page(s, ref))
        except GitexpError as exc:
            return self._error_page(exc)
        return self._page("run.html", d=page, page={"static": False, "run": page["run"]["id"],
                                                      "status": page["run"]["info"].get("status"),
                                                      "metrics": page["metric_keys"]})

    async def compare_page(self, request: Request) -> Response:
        try:
            refs = data.split_runs(request.query_params.get("runs"))
            cmp = await self._call(lambda s: data.comparison(s, refs))
        except GitexpError as exc:
            return self._error_page(exc)
        return self._page("compare.html", cmp=cmp, page={"static": False, "runs": [r["id"] for r in cmp["runs"]],
                                                          "names": [r["name"] for r in cmp["runs"]],
                                                          "rows": cmp["rows"]})

    async def registry_page(self, request: Request) -> Response:
        try:
            reg = await self._call(data.registry)
        except GitexpError as exc:
            return self._error_page(exc)
        return self._page("registry.html", reg=reg, page={"static": False, "registry": True})

    async def artifact(self, request: Request) -> Response:
        from gitexp.services.catalog.listing import get_run
        from gitexp.services.runfiles import read_artifact

        ref, path = request.path_params["run"], request.path_params["path"]
        try:
            artifact, body = await self._call(lambda s: read_artifact(s, get_run(s, ref), path))
        except GitexpError as exc:
            return PlainTextResponse(f"{exc.message}\n", status_code=_status(exc))
        return artifact_response(artifact.path, body, request.query_params.get("view", ""))

    # -- JSON ----------------------------------------------------------------------------------
    async def api_runs(self, request: Request) -> Response:
        q = request.query_params
        columns = [c for c in q.get("columns", "").split(",") if c] or None
        try:
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", data.PAGE_SIZE))
        except ValueError:
            return self._json({"error": {"message": "offset and limit must be whole numbers"}}, 400)
        try:
            table = await self._call(lambda s: data.runs_table(
                s, q.get("filter", ""), q.get("sort") or None, q.get("experiment") or None, offset, limit, columns,
                cache=self.results))
        except GitexpError as exc:
            return self._json_error(exc)
        return self._json(table, 400 if "error" in table else 200)

    async def api_registry(self, request: Request) -> Response:
        return await self._api(data.registry)

    async def api_experiments(self, request: Request) -> Response:
        return self._json({"experiments": await self._call(data.experiments)})

    async def api_run(self, request: Request) -> Response:
        ref = request.path_params["run"]
        return await self._api(lambda s: data.run_page(s, ref))

    async def api_histories(self, request: Request) -> Response:
        q = request.query_params
        refs = [r for r in q.get("runs", "").split(",") if r]
        metrics = [m for m in q.get("metrics", "").split(",") if m] or None
        return await self._api(lambda s: data.histories(s, refs, metrics))

    async def api_compare(self, request: Request) -> Response:
        return await self._api(lambda s: data.comparison(s, data.split_runs(request.query_params.get("runs"))))

    async def api_codediff(self, request: Request) -> Response:
        q = request.query_params
        return await self._api(lambda s: data.code_diff(s, q.get("a", ""), q.get("b", "")))

    async def _api(self, fn: Callable[[Session], Any]) -> Response:
        try:
            return self._json(await self._call(fn))
        except GitexpError as exc:
            return self._json_error(exc)

    async def api_write(self, request: Request) -> Response:
        refusal = self._refuse_write(request)
        if refusal is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return self._json({"error": {"message": "the request body is not JSON"}}, 400)
        ref, action = request.path_params["run"], request.path_params["action"]
        return await self._api(lambda s: writes.apply(s, ref, action, body))

    def _refuse_write(self, request: Request) -> Response | None:
        if not self.config.allow_writes:
            reason = self.config.read_only_reason or "start it with 'gitexp ui --allow-writes'"
            return self._json({"error": {"message": f"this server is read-only ({reason})"}}, 403)
        token = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(token.encode(), self.config.csrf_token.encode()):
            return self._json({"error": {"message": "missing or wrong CSRF token; reload the page"}}, 403)
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1].lower() != request.headers.get("host", "").lower():
            return self._json({"error": {"message": f"cross-origin request from {origin} refused"}}, 403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return self._json({"error": {"message": "writes take application/json"}}, 415)
        return None


def artifact_response(path: str, body: bytes, view: str) -> Response:
    """Raster images may be shown inline, text as text/plain; everything else is a download."""
    suffix = Path(path).suffix.lower()
    name = Path(path).name
    if view == "inline" and suffix in INLINE_TYPES:
        return Response(body, media_type=INLINE_TYPES[suffix])
    if view == "text" and data.preview_kind(path) == "text":
        return PlainTextResponse(body.decode("utf-8", "replace"))
    quoted = name.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "artifact"
    from urllib.parse import quote

    disposition = f"attachment; filename=\"{quoted}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type="application/octet-stream", headers={"content-disposition": disposition})


def _status(exc: GitexpError) -> int:
    if isinstance(exc, RunNotFound) or type(exc).__name__ == "ArtifactNotFound":
        return 404
    if isinstance(exc, AmbiguousRun):
        return 409
    return 400
