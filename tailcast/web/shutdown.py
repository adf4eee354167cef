"""The application's shutdown hook: every client is told the server is going.

Registry clients (WebSocket and SSE alike) are closed, which ends their
handlers; WebSockets also get close code 1001 (going away), within a bounded
wait so that one client that never takes its close frame cannot hold the
shutdown.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from tailcast.protocol import wire
from tailcast.web.keys import REGISTRY, WEBSOCKETS

__all__ = ["CLOSE_TIMEOUT", "close_clients"]

# Longest time shutdown waits for WebSocket clients to take their close frame.
CLOSE_TIMEOUT = 2.0


async def close_clients(app: web.Application) -> None:
    """Shutdown: every client gets close code 1001, within a bounded wait."""
    app[REGISTRY].close_all("server shutting down")
    open_sockets = app[WEBSOCKETS]  # (apart: mypy infers list()'s key type from its argument)
    sockets = list(open_sockets)
    if sockets:
        await asyncio.wait(
            [
                asyncio.ensure_future(
                    ws.close(code=wire.CLOSE_GOING_AWAY, message=b"server shutting down")
                )
                for ws in sockets
            ],
            timeout=CLOSE_TIMEOUT,
        )
