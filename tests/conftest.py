"""Fixtures shared by every test: the server harness (``tests/harness.py``) on a loopback port.

Browser tests (``tests/viewer``) run last: Playwright's sync API keeps an
event loop running in the main thread for as long as its session-scoped
browser lives, and no asyncio test can run after it has started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tailcast.config import Config, SourceSpec
from tailcast.sources.base import Source
from tests.harness import ServerHarness


@pytest_asyncio.fixture
async def start_server() -> AsyncIterator[Callable[..., Any]]:
    """``harness = await start_server(config, sources=[...])``; stopped at the end."""
    started: list[ServerHarness] = []

    async def start(
        config: Config | None = None,
        sources: list[Source] | None = None,
        specs: tuple[SourceSpec, ...] | None = None,
    ) -> ServerHarness:
        harness = await ServerHarness.start(config, sources, specs)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.stop()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the browser tests to the end (stable: the rest keep their order)."""
    items.sort(key=lambda item: "tests/viewer/" in item.nodeid)
