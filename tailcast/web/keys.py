"""The typed keys of the aiohttp application: what every handler finds in ``request.app``.

A module of its own so that the handlers (api, sse, ws, ...) and the assembly
(:mod:`tailcast.web.app`) both depend on it, and not on each other.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from tailcast.config import Config
from tailcast.hub import Hub
from tailcast.registry import Registry
from tailcast.web.auth import Auth

__all__ = ["AUTH", "CONFIG", "HUB", "PROMETHEUS", "REGISTRY", "WEBSOCKETS"]

HUB = web.AppKey("hub", Hub)
REGISTRY = web.AppKey("registry", Registry)
CONFIG = web.AppKey("config", Config)
AUTH = web.AppKey("auth", Auth)
# Open WebSockets, to close with 1001 at shutdown (handlers remove their own).
WEBSOCKETS = web.AppKey("websockets", set[web.WebSocketResponse[bool]])
# The Prometheus registry /metrics renders (one per application, not the global one).
PROMETHEUS = web.AppKey("prometheus", CollectorRegistry)
