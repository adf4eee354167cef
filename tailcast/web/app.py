"""The aiohttp application of one server: assembly only.

:func:`make_app` puts the parts together — the app keys
(:mod:`~tailcast.web.keys`), the middlewares and security headers
(:mod:`~tailcast.web.middleware`), the routes of the viewer, health, metrics,
WebSocket, SSE and the JSON API, and the shutdown hook
(:mod:`~tailcast.web.shutdown`). No handler lives here, and no handler
imports this module.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tailcast.config import Config
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.shares import ShareStore
from tailcast.web import api, health, metrics, shares, sse, viewer, ws
from tailcast.web.auth import Auth
from tailcast.web.keys import (
    AUTH,
    CONFIG,
    HUB,
    PROMETHEUS,
    REGISTRY,
    SOURCE_HUB,
    STORE,
    WEBSOCKETS,
)
from tailcast.web.middleware import middlewares, security_headers
from tailcast.web.shutdown import close_clients

__all__ = ["MAX_FIELD_SIZE", "make_app"]

# Longest request header aiohttp accepts: a documented limit (README, "Bounded").
MAX_FIELD_SIZE = 16 * 1024


def make_app(
    config: Config,
    hub: Hub,
    registry: Registry,
    *,
    store: HistoryStore | None = None,
    source_hub: Hub | None = None,
) -> web.Application:
    """The aiohttp application for one server.

    ``store`` is the history's data dir (its disk use in /metrics);
    ``source_hub`` the hub of the node's own sources when it is not ``hub``
    (multi-host: its faults are in /healthz too).
    """
    app = web.Application(
        middlewares=middlewares(config.base_path, config.max_body),
        client_max_size=config.max_body,
        handler_args={"max_field_size": MAX_FIELD_SIZE},
    )
    app[HUB] = hub
    app[REGISTRY] = registry
    app[CONFIG] = config
    # Share links are kept in the data dir when there is one, else in memory.
    app[AUTH] = Auth(config.token, ShareStore(Path(config.data_dir) if config.data_dir else None))
    app[WEBSOCKETS] = set()
    if store is not None:
        app[STORE] = store
    if source_hub is not None and source_hub is not hub:
        app[SOURCE_HUB] = source_hub
    app[PROMETHEUS] = metrics.prometheus_registry(hub, registry, store)
    _add_routes(app.router, config.base_path)
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(close_clients)
    app.cleanup_ctx.append(shares.watch_expiry)
    return app


def _add_routes(r: web.UrlDispatcher, base: str) -> None:
    """Every route, under the base path (``/`` or ``/PREFIX/``)."""
    r.add_get(base, viewer.index)
    if base != "/":
        r.add_get(base[:-1], viewer.index)
    r.add_get(base + "healthz", health.healthz)
    r.add_get(base + "metrics", metrics.metrics)
    r.add_get(base + "ws", ws.websocket_handler)
    r.add_post(base + "api/login", api.login)
    r.add_get(base + "api/streams", api.list_streams)
    r.add_get(base + "api/streams/{id}/lines", api.stream_lines)
    r.add_get(base + "api/streams/{id}/events", sse.events_handler)
    r.add_get(base + "api/streams/{id}/stats", api.stream_stats)
    r.add_post(base + "api/streams/{id}/restart", api.stream_restart)
    r.add_post(base + "api/streams/{id}/stop", api.stream_stop)
    r.add_post(base + "api/shares", shares.create_share)
    r.add_get(base + "api/shares", shares.list_shares)
    r.add_delete(base + "api/shares/{id}", shares.delete_share)
    r.add_get(base + "static/{name:.+}", viewer.static_file)
