"""Multi-host: a subscription by id survives its agent's restart (contract additions 1.1).

A real redis-server, in-process agents and a web node, a real WebSocket client.
Without a data dir the restarted agent's stream is a new epoch: the client,
subscribed by id, gets the ``streams`` change and the new epoch from its start.
(With a data dir the epoch and numbering go on: tests/multihost/test_state.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from tests.helpers import apoll, texts, ws_connect
from tests.multihost.conftest import RedisServer, web_config


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
