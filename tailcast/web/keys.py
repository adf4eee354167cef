"""The typed keys of the aiohttp application: what every handler finds in ``request.app``.

A module of its own so that the handlers (api, sse, ws, ...) and the assembly
(:mod:`tailcast.web.app`) both depend on it, and not on each other.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from tailcast.config import Config
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.auth import Auth

__all__ = ["AUTH", "CONFIG", "HUB", "PROMETHEUS", "REGISTRY", "SOURCE_HUB", "STORE", "WEBSOCKETS"]

HUB = web.AppKey("hub", Hub)
REGISTRY = web.AppKey("registry", Registry)
CONFIG = web.AppKey("config", Config)
# Optional keys (an app built without them, as in unit tests, has none):
# the history's data dir, for its budget and use (/metrics) ...
STORE = web.AppKey("store", HistoryStore)
# ... and, in multi-host mode, the hub the node's own sources write into (its
# disk faults count for /healthz as well as those of the hub clients read).
SOURCE_HUB = web.AppKey("source_hub", Hub)
AUTH = web.AppKey("auth", Auth)
# Open WebSockets, to close with 1001 at shutdown (handlers remove their own).
WEBSOCKETS = web.AppKey("websockets", set[web.WebSocketResponse[bool]])
# The Prometheus registry /metrics renders (one per application, not the global one).
PROMETHEUS = web.AppKey("prometheus", CollectorRegistry)
