"""A container's stream across a restart with the same data dir (a real engine).

The container goes on writing while tailcast is down; after the restart its
stream reads on after the last line it kept: the lines written meanwhile
arrive, none twice, numbered on in the same epoch.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tailcast.config import parse_source
from tailcast.hub import Stream
from tests.harness import ServerHarness, make_config
from tests.helpers import apoll
from tests.sources.docker.conftest import DEADLINE, Api, Engine, lines_of, texts, unique

pytestmark = pytest.mark.timeout(120)

TICKER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done"


async def engine_lines(api: Api, cid: str) -> int:
    """How many lines the container has written so far (the engine's own log)."""
    async with api.session.get(f"http://d/containers/{cid}/logs?stdout=1") as resp:
        return (await resp.read()).count(b"line ")


async def until_engine_lines(api: Api, cid: str, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while await engine_lines(api, cid) < count:
        assert time.monotonic() < deadline, f"the container wrote fewer than {count} lines"
        await asyncio.sleep(0.05)  # polling the engine, with a deadline


async def serving(engine: Engine, source: str, data_dir: Path) -> ServerHarness:
    config = make_config(
        docker_host=engine.docker_host,
        flush_delay=0.1,
        data_dir=str(data_dir),
        sources=(parse_source(source),),
    )
    return await ServerHarness.start(config)


async def take(h: ServerHarness, stream_id: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """Wait for ``count`` kept lines; the stream's epoch and its lines."""
    await apoll(lambda: stream_id in h.hub.streams, timeout=DEADLINE)
    stream: Stream = h.hub.streams[stream_id]
    await apoll(lambda: stream.last_seq >= count, timeout=DEADLINE)
    return stream.epoch, lines_of(stream)


@pytest.mark.parametrize("selector", ["name", "label"])
async def test_a_restart_reads_on_after_the_last_line_kept(
    engine: Engine, api: Api, tmp_path: Path, selector: str
) -> None:
    name, app = unique("ticker"), unique("app")
    source = f"docker:{name}" if selector == "name" else f"docker:label=app={app}"
    cid = await api.run(TICKER, name=name, labels={"app": app})
    data = tmp_path / "data"
    h = await serving(engine, source, data)
    try:
        epoch, first = await take(h, name, 5)
    finally:
        await h.stop()
    # The container goes on while tailcast is down.
    written_while_down = await engine_lines(api, cid) + 5
    await until_engine_lines(api, cid, written_while_down)
    h = await serving(engine, source, data)
    try:
        again, both = await take(h, name, len(first) + 10)
        stream = h.hub.streams[name]

        def read_on() -> bool:
            words = texts(stream)[-1].split()
            return len(words) == 2 and int(words[1]) >= written_while_down

        # The kept lines alone may reach that count (the first run kept lines after
        # `first`), and the lines read on may come in more than one publish: wait
        # for the last line written while down.
        await apoll(read_on, timeout=DEADLINE)
        both = lines_of(stream)
        assert again == epoch
        assert [x["seq"] for x in both] == list(range(1, len(both) + 1))
        numbers = [int(t.split()[1]) for t in texts(stream)]
        # Every line once, in order, those written while down included.
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert numbers[-1] >= written_while_down
    finally:
        await h.stop()
