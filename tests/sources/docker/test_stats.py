"""A container's ``/api/streams/ID/stats`` against a real engine (Podman leaves
``precpu_stats`` empty: the provider takes two samples itself).

The engine comes from ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.sources.docker.conftest import (
    Api,
    Engine,
    serve,
    unique,
    until_state,
)

pytestmark = pytest.mark.timeout(120)


async def test_stats_cpu_and_memory(
    engine: Engine, api: Api, start_server: Any, session: aiohttp.ClientSession
) -> None:
    name = unique("busy")
    h = await serve(start_server, engine, f"docker:{name}")
    stream = h.hub.streams[name]
    await api.run("echo busy; while :; do :; done", name=name)
    await until_state(stream, "live")
    async with session.get(h.url + f"api/streams/{name}/stats") as resp:
        assert resp.status == 200
        stats = await resp.json()
    assert stats["cpu_percent"] is not None and stats["cpu_percent"] > 10, stats
    assert 0 < stats["memory_bytes"] <= stats["memory_limit_bytes"], stats
