"""Multi-host: a subscription by id survives its agent's restart (contract additions 1.1).

A real redis-server, in-process agents and a web node, a real WebSocket client.
Without a data dir the restarted agent's stream is a new epoch: the client,
subscribed by id, gets the ``streams`` change and the new epoch from its start.
(With a data dir the epoch and numbering go on: tests/multihost/test_state.py.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import DEADLINE, apoll, run_tailcast, texts, ws_connect
from tests.multihost.conftest import RedisServer, web_config
from tests.multihost.test_commands import run_agent


async def test_a_subscription_by_id_survives_an_agent_restart(
    redis_server: RedisServer,
    start_agent: Callable[..., Any],
    start_server: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = redis_server.url
    first = await start_agent(url, "app")
    first.write(first.hub.streams["app"], 10)
    web = await start_server(web_config(url))
    await apoll(lambda: "app" in web.hub.streams and web.hub.streams["app"].last_seq == 10)
    client = await ws_connect(session, web.ws_url)
    await client.send({"type": "subscribe", "streams": ["app"], "tail": 10})
    assert texts(await client.wait_lines("app", 10)) == [f"app {n}" for n in range(1, 11)]
    old_epoch = web.hub.streams["app"].epoch

    await first.agent.stop()
    second = await start_agent(url, "app")
    assert second.hub.streams["app"].epoch != old_epoch
    second.write(second.hub.streams["app"], 5)
    lines = await client.wait_lines("app", 15)
    assert texts(lines[10:]) == [f"app {n}" for n in range(1, 6)]
    assert [line["seq"] for line in lines[10:]] == [1, 2, 3, 4, 5]
    assert web.hub.streams["app"].epoch == second.hub.streams["app"].epoch
    assert not [f for f in client.frames if f["type"] in ("gap", "error")]


@pytest.mark.parametrize("agent_keeps", [False, True], ids=["new-epoch", "agent-data-dir"])
async def test_a_subscription_by_id_survives_a_glob_match_recreated_behind_an_agent(
    tmp_path: Path, redis_server: RedisServer, session: aiohttp.ClientSession, agent_keeps: bool
) -> None:
    """Real processes: ``tailcast agent DIR/*.log`` and ``tailcast serve --redis``.

    The match is deleted, then created again: the client, subscribed by id,
    gets the ``streams`` change and then the new file's lines. Without a data
    dir the agent numbers the new file as a new epoch (from 1); with one, the
    stream's epoch and numbering go on (3, 4).
    """
    url = redis_server.url
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "job.log"
    path.write_text("one\ntwo\n")
    agent = ["--redis", url, "--lines", "10", str(logs / "*.log")]
    if agent_keeps:
        agent += ["--data-dir", str(tmp_path / "agent")]
    serve = ("serve", "--redis", url, "--port", "0", "--data-dir", str(tmp_path / "web"))
    with run_agent(*agent), run_tailcast(*serve) as web:
        deadline = time.monotonic() + DEADLINE
        while "job.log" not in await stream_ids(session, web.url):
            assert time.monotonic() < deadline, "job.log never reached the web node"
            await asyncio.sleep(0.05)
        client = await ws_connect(session, web.ws_url + "?streams=job.log&tail=10")
        assert texts(await client.wait_lines("job.log", 2)) == ["one", "two"]
        path.unlink()
        gone = await client.recv_type("streams")
        while any(s["id"] == "job.log" for s in gone["streams"]):
            gone = await client.recv_type("streams")
        path.write_text("three\nfour\n")
        back = await client.recv_type("streams")
        while not any(s["id"] == "job.log" for s in back["streams"]):
            back = await client.recv_type("streams")
        lines = await client.wait_lines("job.log", 4)
    assert texts(lines) == ["one", "two", "three", "four"]
    assert [line["seq"] for line in lines[2:]] == ([3, 4] if agent_keeps else [1, 2])
    assert not [f for f in client.frames if f["type"] in ("gap", "error")]


async def stream_ids(session: aiohttp.ClientSession, url: str) -> set[str]:
    async with session.get(url + "api/streams") as resp:
        body = await resp.json()
    return {s["id"] for s in body["streams"]}
