"""One running tailcast server: hub + registry + sources + web app, and their lifecycle.

Shutdown order (:meth:`Server.stop`), written down because it matters:

1. stop accepting connections;
2. close every client: WebSockets get close code 1001, SSE streams end
   (bounded wait, :data:`tailcast.web.shutdown.CLOSE_TIMEOUT`);
3. cancel the source tasks and await each source's ``close()`` (processes get
   SIGTERM, a grace period, then SIGKILL), bounded by :data:`SOURCE_CLOSE_TIMEOUT`;
4. close the history store (a private data dir is removed).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
from pathlib import Path
from typing import Any

from aiohttp import web

from tailcast.config import Config
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub

# Imported eagerly: it does not import redis-py (tailcast.multihost.client
# does, only when --redis is used), so a server without --redis pays nothing.
from tailcast.multihost.roles import WebNode
from tailcast.protocol.redact import Redactor
from tailcast.registry import Registry
from tailcast.sources import build_source
from tailcast.sources.base import SOURCE_CLOSE_TIMEOUT, Source, start_sources, stop_sources
from tailcast.web.app import make_app
from tailcast.web.guard import GUARD, ConnectionGuard, GuardLimits
from tailcast.web.listen import GuardedSite, plan_limits

__all__ = ["OWN_DIR", "SOURCE_CLOSE_TIMEOUT", "Server"]

# A web node's own sources' history, inside the data dir (multi-host mode).
OWN_DIR = "own"

log = logging.getLogger("tailcast.server")


class Server:
    """Build with a :class:`Config`; ``await start()``, then ``await stop()``."""

    def __init__(self, config: Config, sources: list[Source] | None = None) -> None:
        self.config = config
        # The history's home, before any stream exists; ConfigError (exit 2)
        # when the data dir cannot be made, written or is another server's.
        self.store = HistoryStore.open(
            Path(config.data_dir) if config.data_dir else None,
            disk_budget=config.disk_budget,
            max_lines=config.history,
            max_bytes=config.history_bytes,
        )
        self.own_store: HistoryStore | None = None
        try:
            self._build(config, sources)
        except BaseException:
            self._close_stores()
            raise

    def _build(self, config: Config, sources: list[Source] | None) -> None:
        # --redact/--redact-secrets: applied by the hub before a line is numbered or kept.
        redactor = Redactor(config.redact, secrets=config.redact_secrets)
        self.hub = Hub(
            config.history,
            store=self.store,
            history_bytes=config.history_bytes,
            redactor=redactor,
        )
        self.registry = Registry(
            self.hub, max_clients=config.max_clients, queue_bytes=config.queue_bytes
        )
        # Multi-host (--redis): the hub serves what Redis holds; the node's own
        # sources run into a hub of their own that is published there.
        self.redis: WebNode | None = None
        source_hub = self.hub
        if config.redis:
            own = sources if sources is not None else config.sources
            if own:
                # Their history on disk as an agent's: DATA/own (a store of its
                # own, as their ids are those of their mirrored copies in DATA).
                # One --disk-budget for both stores: half each, so that all
                # the node's streams together stay within it (the contract).
                own_budget = config.disk_budget // 2
                self.own_store = HistoryStore.open(
                    self.store.root / OWN_DIR,
                    disk_budget=own_budget,
                    max_lines=config.history,
                    max_bytes=config.history_bytes,
                )
                self.store.disk_budget = config.disk_budget - own_budget
            source_hub = Hub(
                config.history,
                store=self.own_store,
                history_bytes=config.history_bytes,
                redactor=redactor,
            )
            self.redis = WebNode(config.redis, self.hub, source_hub if own else None)
        self.source_hub = source_hub
        # Building sources creates their streams and may raise ConfigError:
        # that happens before anything listens.
        self.sources: list[Source] = (
            sources
            if sources is not None
            else [build_source(spec, source_hub, config) for spec in config.sources]
        )
        self.app = make_app(
            config, self.hub, self.registry, store=self.store, source_hub=source_hub
        )
        # Replaced at start() by one sized to the open-files limit then.
        self.guard = ConnectionGuard(GuardLimits())
        self.app[GUARD] = self.guard
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.url = ""

    async def start(self) -> str:
        """Listen, start the sources; return the URL."""
        config = self.config
        if self.redis is not None:
            # Before listening: an unreachable Redis is a ConfigError (exit 2).
            await self.redis.start()
        ssl_context = None
        if config.tls_cert and config.tls_key:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
        self._fit_descriptors()
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            # The guard closes idle connections first; aiohttp's own timer is
            # a backstop a little later.
            keepalive_timeout=config.idle_timeout + 1.0,
        )
        await self._runner.setup()
        site = GuardedSite(
            self._runner, config.host, config.port, self.guard, ssl_context=ssl_context
        )
        await site.start()
        sockets = site.sockets
        self.port = sockets[0].getsockname()[1] if sockets else config.port
        host = config.host
        if sockets and sockets[0].family == socket.AF_INET6:
            host = f"[{host}]"
        self.url = f"{config.scheme}://{host}:{self.port}{config.base_path}"
        self._tasks = start_sources(self.sources)
        return self.url

    def _fit_descriptors(self) -> None:
        """Size the guard and the clients' cap to the open-files limit now.

        ConfigError (exit 2) if no client fits; a warning if the cap is lowered.
        """
        config = self.config
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 20
        plan = plan_limits(
            soft,
            max_clients=config.max_clients,
            sources=len(self.sources),
            streams=len(self.hub.streams) + len(self.source_hub.streams),
            header_timeout=config.header_timeout,
            idle_timeout=config.idle_timeout,
            max_pending=config.max_pending,
        )
        if plan.max_clients < config.max_clients:
            log.warning(
                "--max-clients lowered from %d to %d: the open-files limit is %d (hard %s); "
                "raise it (ulimit -n, LimitNOFILE=) to serve more",
                config.max_clients,
                plan.max_clients,
                soft,
                "unlimited" if hard == resource.RLIM_INFINITY else hard,
            )
        self.registry.max_clients = plan.max_clients
        self.guard.limits = plan.limits

    async def stop(self) -> None:
        if self._runner is not None:
            # Stops listening, closes WebSockets with 1001 (on_shutdown), ends SSE.
            await self._runner.cleanup()
            self._runner = None
        await stop_sources(self._tasks, self.sources)
        if self.redis is not None:
            await self.redis.stop()
        # Last: nothing publishes any more. A private data dir goes here.
        self._close_stores()

    def _close_stores(self) -> None:
        if self.own_store is not None:  # first: it may lie in a private dir
            self.own_store.close()
            self.own_store = None
        self.store.close()

    def statistics(self) -> dict[str, Any]:
        return {
            "hub": self.hub.statistics(),
            "registry": self.registry.statistics(),
            "connections": self.guard.statistics(),
            "sources": [s.statistics() for s in self.sources],
            "history": self.store.statistics(),
            **({"redis": self.redis.statistics()} if self.redis is not None else {}),
        }
