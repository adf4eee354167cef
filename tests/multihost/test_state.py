"""Agents keep their state with ``--data-dir``; a Redis restart loses nothing that fits.

A real redis-server (restarted empty: no persistence), in-process agents fed by
the test, a web node and a WebSocket client that subscribed by id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import apoll, assert_contiguous, texts, ws_connect
from tests.multihost.conftest import AgentHarness, RedisServer, redis_seqs, web_config


async def test_an_agent_restarted_with_a_data_dir_keeps_epoch_and_numbering(
    tmp_path: Path,
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url, data = redis_server.url, str(tmp_path / "agent")
    first: AgentHarness = await start_agent(url, "app", data_dir=data)
    epoch = first.hub.streams["app"].epoch
    first.write(first.hub.streams["app"], 10)
    web = await start_server(web_config(url))
    await apoll(lambda: "app" in web.hub.streams and web.hub.streams["app"].last_seq == 10)
    client = await ws_connect(session, web.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 10})
    await client.wait_lines("app", 10)

    await first.agent.stop()
    second: AgentHarness = await start_agent(url, "app", data_dir=data)
    stream = second.hub.streams["app"]
    assert (stream.epoch, stream.last_seq) == (epoch, 10)
    second.write(stream, 5)
    lines = await client.wait_lines("app", 15)
    assert_contiguous(lines, 1)
    assert texts(lines) == [f"app {n}" for n in range(1, 16)]
    assert web.hub.streams["app"].epoch == epoch  # the same stream on the web node
    key = f"tailcast:lines:app:{epoch}"
    assert await redis_seqs(url, key) == list(range(1, 16))
    assert not [f for f in client.frames if f["type"] in ("gap", "error")]


async def test_redis_restarted_mid_burst_loses_nothing_the_agent_kept(
    tmp_path: Path,
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = redis_server.url
    agent: AgentHarness = await start_agent(url, "app", data_dir=str(tmp_path / "a"))
    web = await start_server(web_config(url))
    await apoll(lambda: "app" in web.hub.streams)
    client = await ws_connect(session, web.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 0})
    stream = agent.hub.streams["app"]
    total = 30_000
    restarted = False
    while stream.last_seq < total:
        agent.write(stream, 500)
        if not restarted and stream.last_seq >= total // 3:
            redis_server.kill()  # mid-burst: what was in Redis is gone
            restarted = True
        elif restarted and stream.last_seq == 2 * total // 3:
            redis_server.start()  # empty; the agent publishes its history again
        await asyncio.sleep(0.001)  # pacing for the burst, not synchronisation
    lines = await client.wait_lines("app", total, timeout=60)
    assert_contiguous(lines, 1)
    assert lines[-1]["seq"] == total
    assert agent.agent.publisher.lines_lost == 0
    assert not [f for f in client.frames if f["type"] == "gap"]
