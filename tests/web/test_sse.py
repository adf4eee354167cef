"""``GET /api/streams/ID/events``: Server-Sent Events, resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.helpers import DEADLINE, apoll, assert_contiguous
from tests.web.conftest import Serve, line_text, publish


@dataclass
class Event:
    id: str | None
    event: str | None
    data: dict[str, Any] | None
    raw: list[str]


class SSEReader:
    """Reads events from a real SSE response, field by field as the spec says."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.lines: list[dict[str, Any]] = []

    async def next_block(self, within: float = DEADLINE) -> list[str]:
        block: list[str] = []
        deadline = time.monotonic() + within
        while True:
            left = max(0.01, deadline - time.monotonic())
            raw = await asyncio.wait_for(self.response.content.readline(), left)
            if not raw:
                raise ConnectionError("the event stream ended")
            line = raw.decode("utf-8").rstrip("\n")
            if line == "":
                if block:
                    return block
                continue
            block.append(line)

    async def next_event(self, within: float = DEADLINE) -> Event:
        while True:
            block = await self.next_block(within)
            fields: dict[str, str] = {}
            for line in block:
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
            if "data" not in fields:
                continue  # retry: or a comment
            data = json.loads(fields["data"])
            if data.get("type") == "lines":
                self.lines.extend(data["lines"])
            return Event(fields.get("id"), fields.get("event"), data, block)

    async def wait_lines(self, count: int) -> list[dict[str, Any]]:
        while len(self.lines) < count:
            await self.next_event()
        return self.lines


async def open_events(
    session: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[aiohttp.ClientResponse, SSEReader]:
    response = await session.get(url, headers=headers or None)
    return response, SSEReader(response)


async def test_event_format(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish(h.hub, app, 5)
    response, sse = await open_events(session, h.url + "api/streams/app/events?tail=3")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    first = await sse.next_block()
    assert first == ["retry: 1000"]
    event = await sse.next_event()
    assert event.raw[0] == "id: 5"
    assert event.raw[1] == "event: lines"
    assert event.raw[2].startswith("data: {")
    assert len(event.raw) == 3  # one data line: JSON never holds a raw newline
    assert event.data is not None
    assert event.data["type"] == "lines"
    assert event.data["stream"] == "app"
    assert [line["text"] for line in event.data["lines"]] == [line_text(n) for n in (3, 4, 5)]
    h.hub.set_state(app, "live")
    status = await sse.next_event()
    assert (status.id, status.event) == (None, "status")
    assert status.data == {"type": "status", "stream": "app", "state": "live"}
    publish(h.hub, app, 2, fd="err")
    event = await sse.next_event()
    assert (event.id, event.event) == ("7", "lines")
    assert event.data is not None
    assert [line["fd"] for line in event.data["lines"]] == ["err", "err"]
    response.close()


async def test_last_event_id_resumes_without_duplicates(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish(h.hub, app, 4)
    response, sse = await open_events(session, h.url + "api/streams/app/events")
    lines = await sse.wait_lines(4)
    publish(h.hub, app, 3)
    lines = await sse.wait_lines(7)
    assert_contiguous(lines, 1)
    last_id = "7"
    response.close()
    publish(h.hub, app, 5)  # while away
    response, again = await open_events(
        session, h.url + "api/streams/app/events", **{"Last-Event-ID": last_id}
    )
    publish(h.hub, app, 2)
    resumed = await again.wait_lines(7)
    assert_contiguous(resumed, 8)
    assert resumed[-1]["seq"] == 14
    response.close()

    def gone() -> bool:
        # The server notices a vanished reader when a write fails.
        publish(h.hub, app, 1)
        return bool(h.registry.statistics()["clients"] == 0)

    await apoll(gone)


async def test_resume_from_before_the_ring_gets_a_gap(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(history=10)
    app = h.hub.streams["app"]
    publish(h.hub, app, 30)  # ring: 21..30
    response, sse = await open_events(
        session, h.url + "api/streams/app/events", **{"Last-Event-ID": "2"}
    )
    gap = await sse.next_event()
    assert (gap.id, gap.event) == ("20", "gap")
    assert gap.data == {"type": "gap", "stream": "app", "from": 3, "to": 20}
    assert_contiguous(await sse.wait_lines(10), 21)
    response.close()


async def test_errors(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    async with session.get(h.url + "api/streams/nope/events") as response:
        assert response.status == 404
        assert (await response.json())["error"]
    for headers, query in (({"Last-Event-ID": "x"}, ""), ({}, "?tail=-1"), ({}, "?tail=abc")):
        async with session.get(h.url + "api/streams/app/events" + query, headers=headers) as r:
            assert r.status == 400
            assert "error" in await r.json()
    async with session.get(
        h.url + "api/streams/app/events", headers={"Origin": "https://evil.example"}
    ) as response:
        assert response.status == 403
        assert "error" in await response.json()
    assert h.registry.statistics()["connects"] == 0


async def test_a_vanished_sse_client_frees_its_slot(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """An idle stream whose client went away is noticed without waiting for a write."""
    h = await serve(max_clients=1)
    response, reader = await open_events(session, h.url + "api/streams/app/events")
    publish(h.hub, h.hub.get("app"), 1)
    await reader.wait_lines(1)
    assert h.registry.statistics()["clients"] == 1
    response.close()  # drop the connection; nothing more is published
    # Well under the 15 s keepalive: the liveness check, not a failed write, frees it.
    await apoll(lambda: h.registry.statistics()["clients"] == 0, timeout=5.0)
    # The slot is free again: a new client is served, not refused with 503.
    response2, reader2 = await open_events(session, h.url + "api/streams/app/events")
    assert response2.status == 200
    await reader2.wait_lines(1)
    response2.close()


async def test_a_burst_larger_than_the_queue_arrives_whole(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """SSE catches up from history like the WebSocket: every line, no gap."""
    h = await serve(queue_bytes=16 * 1024, history=100_000)
    app = h.hub.streams["app"]
    publish(h.hub, app, 10)
    # Resumed from the start: the replay itself comes through catch-up.
    response, sse = await open_events(
        session, h.url + "api/streams/app/events", **{"Last-Event-ID": "0"}
    )
    await sse.wait_lines(10)
    publish(h.hub, app, 20_000)  # one batch, ~50 queues' worth
    events: list[str | None] = []
    while len(sse.lines) < 20_010:
        events.append((await sse.next_event()).event)
    assert_contiguous(sse.lines, 1)
    assert len(sse.lines) == 20_010
    assert "gap" not in events
    stats = h.registry.statistics()
    assert (stats["gaps"], stats["lines_dropped"]) == (0, 0)
    assert stats["lines_from_history"] >= 20_000
    response.close()
