"""Listening: the descriptor budget, and a site whose connections the guard sees.

:func:`plan_limits` splits the open-files limit between what the server needs
for itself (sources, history, the event loop) and its connections: clients
(``--max-clients``), waiting connections (:mod:`tailcast.web.guard`) and a
cap on all of them, so that ``accept()`` is refused by the guard before the
kernel refuses it. When ``--max-clients`` does not fit, it is lowered and the
server says so: under a service manager the limit can change without the
configuration changing, and a server that starts with fewer slots, saying
why, beats one that exits and is restarted in a loop. Only a limit that
leaves no client at all is an error (exit 2).

:class:`GuardedSite` listens like aiohttp's ``TCPSite``, but every protocol
it builds is wrapped in :class:`~tailcast.web.guard.GuardedProtocol`; TLS
handshakes get ``--header-timeout`` too.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from dataclasses import dataclass

from aiohttp import web

from tailcast.errors import ConfigError
from tailcast.web.guard import ConnectionGuard, GuardedProtocol, GuardLimits

__all__ = [
    "ACCEPT_BATCH",
    "BASE_RESERVE",
    "LISTEN_BACKLOG",
    "PER_SOURCE",
    "PER_STREAM",
    "GuardedSite",
    "Plan",
    "plan_limits",
]

# Descriptors the server holds besides connections: stdio, the event loop's
# epoll and self-pipe, listening sockets, the thread pool's, the history's
# lock and metadata, Redis, logging; with room to spare.
BASE_RESERVE = 64
# A followed file and its watch; a process's pipes or pty; Docker API streams.
PER_SOURCE = 8
# A stream's open history segment and its reads in flight.
PER_STREAM = 4
# asyncio accepts up to its ``backlog`` connections per turn of the loop, and
# the guard sees them only a turn or two later: a burst of connections can
# hold about two batches' worth of descriptors before any is dropped. So the
# batch is kept small, and reserved; the kernel's queue stays long.
ACCEPT_BATCH = 64
LISTEN_BACKLOG = 1024


@dataclass(frozen=True)
class Plan:
    """What the descriptors allow: the guard's limits and the clients' cap."""

    limits: GuardLimits
    max_clients: int
    reserve: int


def plan_limits(
    soft: int,
    *,
    max_clients: int,
    sources: int,
    streams: int,
    header_timeout: float,
    idle_timeout: float,
    max_pending: int,
) -> Plan:
    """Split ``soft`` open files; ConfigError if no client would fit."""
    reserve = BASE_RESERVE + 2 * ACCEPT_BATCH + PER_SOURCE * sources + PER_STREAM * streams
    connections = soft - reserve
    # The waiting pool: 8 addresses' worth, but never more than a quarter of
    # the connections, so that trusted clients keep most of them.
    pool_total = max(max_pending, min(8 * max_pending, connections // 4))
    clients = min(max_clients, connections - pool_total)
    if clients < 1:
        raise ConfigError(
            f"--max-clients: the open-files limit ({soft}) leaves no descriptor for clients "
            f"({reserve} for sources and history, {pool_total} for waiting connections); "
            "raise it (ulimit -n, LimitNOFILE=)",
            option="max_clients",
        )
    limits = GuardLimits(
        header_timeout=header_timeout,
        idle_timeout=idle_timeout,
        max_pending=max_pending,
        pool_total=pool_total,
        max_connections=connections,
    )
    return Plan(limits, clients, reserve)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through ``guard``."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = ACCEPT_BATCH,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = self._guard

        def factory() -> asyncio.Protocol:
            return GuardedProtocol(server(), guard)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            ssl_handshake_timeout=guard.limits.header_timeout if self._ssl_context else None,
        )
        for sock in self.sockets:
            # A longer queue in the kernel than asyncio's batch (listen() again
            # only sets the length); through a duplicate, as asyncio's wrapper
            # does not offer listen().
            with socket.socket(fileno=os.dup(sock.fileno())) as raw:
                raw.listen(LISTEN_BACKLOG)

    @property
    def sockets(self) -> list[socket.socket]:
        server = self._server
        return list(server.sockets) if isinstance(server, asyncio.Server) else []
