"""A WebSocket response whose close the peer can read: a lingering close.

When aiohttp's reader fails on a client frame (one over ``--max-frame``: close
code 1009; a protocol error), aiohttp writes its close frame and closes the
TCP connection at once. The peer may well still be sending: the rest of that
frame, frames after it. A socket closed with bytes unread, or receiving bytes
after its close, answers with a TCP reset, and a peer that is writing when
the reset arrives drops what it had not read yet — our close frame among it —
and sees 1006 (abnormal closure) instead of 1009.

So after such a close the socket is half-closed (FIN after the close frame),
and still read (aiohttp throws the bytes away) until the peer closes its side
too, for at most :data:`LINGER_SECONDS`. The handler awaits
:meth:`LingeringWebSocketResponse.linger` before it returns, because aiohttp
closes the connection as soon as the handler is done.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WebSocketError, web
from aiohttp.abc import AbstractStreamWriter

__all__ = ["LINGER_POLL_SECONDS", "LINGER_SECONDS", "LingeringWebSocketResponse"]

# Longest wait for the peer to close its side after our close frame.
LINGER_SECONDS = 2.0
# How often a lingering socket looks whether the peer has closed (asyncio says
# so only to the protocol, which is aiohttp's).
LINGER_POLL_SECONDS = 0.01


class LingeringWebSocketResponse(web.WebSocketResponse):
    """:class:`aiohttp.web.WebSocketResponse` with a lingering close after a failed read."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request: web.BaseRequest | None = None
        self._lingering = False

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter:
        self._request = request
        return await super().prepare(request)

    def _close_transport(self) -> None:
        # Overrides aiohttp's hook, called whenever it drops the connection.
        transport = self._request.transport if self._request is not None else None
        if (
            transport is None
            or transport.is_closing()
            or not isinstance(self.exception(), WebSocketError)
        ):
            # A completed closing handshake, a dead peer, a timeout: nothing
            # more will come worth waiting for.
            super()._close_transport()
            return
        if transport.can_write_eof():  # not TLS: it has no half-close
            transport.write_eof()
        if not transport.is_reading():
            transport.resume_reading()  # unread bytes are what makes the reset
        self._lingering = True

    async def linger(self) -> None:
        """After a lingering close: wait (bounded) for the peer to close, then close."""
        if not self._lingering:
            return
        self._lingering = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        try:
            while loop.time() < deadline:
                transport = self._request.transport if self._request is not None else None
                if transport is None or transport.is_closing():
                    return
                await asyncio.sleep(LINGER_POLL_SECONDS)
        finally:
            super()._close_transport()
