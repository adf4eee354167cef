"""Fixtures shared by every test: an in-process server on a loopback port.

Browser tests (``tests/viewer``) run last: Playwright's sync API keeps an
event loop running in the main thread for as long as its session-scoped
browser lives, and no asyncio test can run after it has started.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tailcast.config import Config, SourceSpec
from tailcast.server import Server
from tailcast.sources.base import Source


def make_config(**overrides: Any) -> Config:
    """A Config for tests: loopback, a free port, small limits where useful."""
    base = Config(host="127.0.0.1", port=0)
    return dataclasses.replace(base, **overrides)


class ServerHarness:
    """A started in-process :class:`Server` plus the URLs tests need."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.hub = server.hub
        self.registry = server.registry

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "ws"


@pytest_asyncio.fixture
async def start_server() -> AsyncIterator[Callable[..., Any]]:
    """``harness = await start_server(config, sources=[...])``; stopped at the end."""
    started: list[Server] = []

    async def start(
        config: Config | None = None,
        sources: list[Source] | None = None,
        specs: tuple[SourceSpec, ...] | None = None,
    ) -> ServerHarness:
        cfg = config or make_config()
        if specs is not None:
            cfg = dataclasses.replace(cfg, sources=specs)
        server = Server(cfg, sources=sources)
        await server.start()
        started.append(server)
        return ServerHarness(server)

    yield start
    for server in started:
        await server.stop()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the browser tests to the end (stable: the rest keep their order)."""
    items.sort(key=lambda item: "tests/viewer/" in item.nodeid)
