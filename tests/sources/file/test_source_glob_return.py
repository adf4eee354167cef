"""A glob match deleted and recreated, seen by a client that subscribed to it by id.

Contract additions 1.1 ("Subscriptions by id"): the subscription stays in
force while the stream is gone; when the file is back the client gets the
``streams`` change and then the new file's lines, on the same connection,
nothing repeated. (A real server, a real file, a real WebSocket.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tailcast.config import parse_source
from tests.harness import make_config
from tests.helpers import apoll, texts, ws_connect


async def test_a_recreated_glob_match_reaches_its_subscriber_again(
    tmp_path: Path, start_server: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "job.log"
    path.write_bytes(b"one\ntwo\n")
    config = make_config(lines=10, data_dir=tmp_path / "data")
    h = await start_server(config, specs=(parse_source(str(tmp_path / "*.log")),))
    client = await ws_connect(session, h.ws_url + "?tail=10&streams=job.log")
    assert texts(await client.wait_lines("job.log", 2)) == ["one", "two"]
    first_epoch = h.hub.streams["job.log"].epoch
    path.unlink()
    await apoll(lambda: "job.log" not in h.hub.streams)
    gone = await client.recv_type("streams")
    while any(s["id"] == "job.log" for s in gone["streams"]):
        gone = await client.recv_type("streams")
    path.write_bytes(b"three\nfour\n")
    back = await client.recv_type("streams")
    while not any(s["id"] == "job.log" for s in back["streams"]):
        back = await client.recv_type("streams")
    lines = await client.wait_lines("job.log", 4)
    assert texts(lines) == ["one", "two", "three", "four"]
    seqs = [line["seq"] for line in lines]
    # The store kept the id's epoch and numbering: the seq goes on, no repeat.
    assert h.hub.streams["job.log"].epoch == first_epoch
    assert seqs == [1, 2, 3, 4]
    assert not [f for f in client.frames if f["type"] in ("gap", "error")]
