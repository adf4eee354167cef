"""The one server harness of the tests: a real :class:`~tailcast.server.Server`
on a loopback port, and the hub calls a source would make to feed it.

The async tests start it with the ``start_server`` fixture (``tests/conftest.py``);
the browser tests, whose Playwright loop owns the main thread, start the same
harness on a loop of their own (``tests/viewer/support.py``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any

from tailcast.config import Config, SourceSpec
from tailcast.hub import Hub, Stream
from tailcast.server import Server
from tailcast.sources.base import Source

__all__ = ["ServerHarness", "make_config", "publish_texts"]


def make_config(**overrides: Any) -> Config:
    """A Config for tests: loopback, a free port, small limits where useful."""
    base = Config(host="127.0.0.1", port=0)
    return dataclasses.replace(base, **overrides)


def publish_texts(
    hub: Hub,
    stream: Stream,
    texts: Iterable[str],
    *,
    fd: str | None = None,
    cont: Sequence[bool] | None = None,
    ts: float | None = None,
) -> None:
    """Publish ``texts`` as one batch, exactly as a source would (``Hub.publish_lines``)."""
    items = list(texts)
    flags = list(cont) if cont is not None else [False] * len(items)
    now = time.time() if ts is None else ts
    hub.publish_lines(stream, [(now, t, fd, c) for t, c in zip(items, flags, strict=True)])


class ServerHarness:
    """A started in-process :class:`Server` plus the URLs tests need."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.hub = server.hub
        self.registry = server.registry

    @classmethod
    async def start(
        cls,
        config: Config | None = None,
        sources: list[Source] | None = None,
        specs: tuple[SourceSpec, ...] | None = None,
    ) -> ServerHarness:
        cfg = config or make_config()
        if specs is not None:
            cfg = dataclasses.replace(cfg, sources=specs)
        server = Server(cfg, sources=sources)
        await server.start()
        return cls(server)

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "ws"
