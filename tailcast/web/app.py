"""The aiohttp application: routes, middlewares, static viewer, metrics, shutdown.

Security headers go on every response through ``on_response_prepare`` (no
inline script, no framing, no sniffing, no referrer). Middlewares, outermost
first:

1. ``errors``: every error answer is JSON ``{"error": TEXT}`` with its status;
2. ``body_limit``: a body announced larger than ``--max-body`` is ``413`` at once;
3. ``auth``: with a token configured, everything but ``/healthz``, the login
   route and the viewer's static files (which hold no log data: the viewer
   must load to show its login form) needs credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tailcast import __version__
from tailcast.config import Config
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.auth import Auth

__all__ = [
    "AUTH",
    "CONFIG",
    "HUB",
    "REGISTRY",
    "WEBSOCKETS",
    "json_error",
    "make_app",
    "static_dir",
]

HUB = web.AppKey("hub", Hub)
REGISTRY = web.AppKey("registry", Registry)
CONFIG = web.AppKey("config", Config)
AUTH = web.AppKey("auth", Auth)
# Open WebSockets, to close with 1001 at shutdown (handlers remove their own).
WEBSOCKETS = web.AppKey("websockets", set[web.WebSocketResponse[bool]])

SERVER_NAME = f"tailcast/{__version__}"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Longest time shutdown waits for WebSocket clients to take their close frame.
CLOSE_TIMEOUT = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def static_dir() -> Path:
    """Where the viewer's files are: inside the installed package, or the source tree."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "static", here.parent / "static"):
        if (candidate / "index.html").is_file():
            return candidate
    raise FileNotFoundError("the viewer's static files are missing from this installation")


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(
            exc.status,
            reason or "error",
            **{k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
        )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and streams included (a middleware misses those
    built by the error middleware or prepared inside a handler)."""
    response.headers.update(SECURITY_HEADERS)


def _open_paths(base: str) -> tuple[set[str], str]:
    return {base + "healthz", base + "api/login", base, base[:-1] or "/"}, base + "static/"


def make_body_limit_middleware(max_body: int) -> Any:
    """413 at once for a request that announces a body over ``--max-body``
    (aiohttp itself would only notice while reading it, if it ever arrives)."""

    @web.middleware
    async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body:
            return json_error(413, f"request body larger than {max_body} bytes (--max-body)")
        return await handler(request)

    return body_limit_middleware


def make_auth_middleware(base: str) -> Any:
    open_exact, open_prefix = _open_paths(base)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.app[AUTH]
        path = request.path
        # /ws answers unauthenticated clients itself, with close code 4001,
        # because a browser cannot read the status of a refused upgrade.
        if (
            auth.enabled
            and path not in open_exact
            and not path.startswith(open_prefix)
            and path != base + "ws"
            and not auth.request_ok(request)
        ):
            return json_error(401, "not authenticated", **{"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return auth_middleware


class _Metrics(Collector):
    """Reads the hub's and registry's statistics() at scrape time."""

    def __init__(self, hub: Hub, registry: Registry) -> None:
        self.hub = hub
        self.registry = registry

    def collect(self) -> list[Metric]:
        hub = self.hub.statistics()
        reg = self.registry.statistics()
        lines_in = CounterMetricFamily("tailcast_lines_in", "Lines published", labels=["stream"])
        bytes_in = CounterMetricFamily(
            "tailcast_bytes_in", "Encoded bytes published", labels=["stream"]
        )
        lines_out = CounterMetricFamily(
            "tailcast_lines_out", "Lines sent to clients", labels=["stream"]
        )
        history = GaugeMetricFamily(
            "tailcast_history_lines", "Lines in the history ring", labels=["stream"]
        )
        for sid, n in hub["lines_in"].items():
            lines_in.add_metric([sid], n)
            bytes_in.add_metric([sid], hub["bytes_in"][sid])
            history.add_metric([sid], hub["history_lines"][sid])
            lines_out.add_metric([sid], reg["lines_out"].get(sid, 0))
        return [
            lines_in,
            bytes_in,
            lines_out,
            history,
            GaugeMetricFamily("tailcast_streams", "Streams", value=hub["streams"]),
            GaugeMetricFamily("tailcast_clients", "Connected clients", value=reg["clients"]),
            CounterMetricFamily(
                "tailcast_connections", "Clients connected since start", value=reg["connects"]
            ),
            GaugeMetricFamily(
                "tailcast_queue_bytes", "Bytes queued for clients", value=reg["queued_bytes"]
            ),
            GaugeMetricFamily(
                "tailcast_queue_frames", "Frames queued for clients", value=reg["queued_frames"]
            ),
            CounterMetricFamily(
                "tailcast_lines_dropped",
                "Lines dropped for slow clients",
                value=reg["lines_dropped"],
            ),
            CounterMetricFamily("tailcast_gaps", "Gap messages sent", value=reg["gaps"]),
            *_task_gauge(),
        ]


def _task_gauge() -> list[Metric]:
    """Live asyncio tasks: flat while clients come and go, or something leaks."""
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # scraped outside the event loop: nothing to count
        return []
    return [GaugeMetricFamily("tailcast_tasks", "asyncio tasks alive", value=tasks)]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_PROM])
    return web.Response(
        body=body, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


async def index(request: web.Request) -> web.StreamResponse:
    base = request.app[CONFIG].base_path
    if request.path != base:
        raise web.HTTPPermanentRedirect(base)
    response = web.FileResponse(static_dir() / "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _static_path(name: str) -> Path | None:
    root = static_dir().resolve()
    try:
        path = (root / name).resolve()
        # resolve() has already applied "..", symlinks and the like: whatever the
        # encoding, the result must still be a file inside the viewer's folder.
        if path.is_relative_to(root) and path.is_file():
            return path
    except (OSError, ValueError):
        # A NUL byte (ValueError), a name too long for the system (OSError):
        # no such file either — never a 500 (found by tests/security/test_fuzz.py).
        pass
    return None


async def static_file(request: web.Request) -> web.StreamResponse:
    """The viewer's files; a missing one is a JSON 404 like every other error."""
    path = await asyncio.to_thread(_static_path, request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound(text="no such file")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


_PROM = web.AppKey("prometheus", CollectorRegistry)


async def _close_websockets(app: web.Application) -> None:
    """Shutdown: every client gets close code 1001, within a bounded wait."""
    app[REGISTRY].close_all("server shutting down")
    open_sockets = app[WEBSOCKETS]
    sockets = list(open_sockets)
    if sockets:
        await asyncio.wait(
            [
                asyncio.ensure_future(
                    ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
                )
                for ws in sockets
            ],
            timeout=CLOSE_TIMEOUT,
        )


def make_app(config: Config, hub: Hub, registry: Registry) -> web.Application:
    """The aiohttp application for one server."""
    # Imported here: these modules import this one for the app keys.
    from tailcast.web import api, sse, ws

    base = config.base_path
    app = web.Application(
        middlewares=[
            errors_middleware,
            make_body_limit_middleware(config.max_body),
            make_auth_middleware(base),
        ],
        client_max_size=config.max_body,
        handler_args={"max_field_size": 16 * 1024},
    )
    app[HUB] = hub
    app[REGISTRY] = registry
    app[CONFIG] = config
    app[AUTH] = Auth(config.token)
    app[WEBSOCKETS] = set()
    prom = CollectorRegistry(auto_describe=False)
    prom.register(_Metrics(hub, registry))
    app[_PROM] = prom

    r = app.router
    r.add_get(base, index)
    if base != "/":
        r.add_get(base[:-1], index)
    r.add_get(base + "healthz", healthz)
    r.add_get(base + "metrics", metrics)
    r.add_get(base + "ws", ws.websocket_handler)
    r.add_post(base + "api/login", api.login)
    r.add_get(base + "api/streams", api.list_streams)
    r.add_get(base + "api/streams/{id}/lines", api.stream_lines)
    r.add_get(base + "api/streams/{id}/events", sse.events_handler)
    r.add_get(base + "api/streams/{id}/stats", api.stream_stats)
    r.add_post(base + "api/streams/{id}/restart", api.stream_restart)
    r.add_post(base + "api/streams/{id}/stop", api.stream_stop)
    r.add_get(base + "static/{name:.+}", static_file)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_websockets)
    return app
