"""Filters over the wire: ``subscribe``'s ``filter``; ``q``, ``regex``, ``case``, ``invert``,
``levels`` on ``/lines`` and ``/events``; ``before`` + a filter searches the history on disk."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tailcast.hub import Hub, Stream
from tests.harness import publish_texts
from tests.helpers import WSClient, apoll, texts, ws_connect
from tests.web.conftest import Serve, get_json
from tests.web.test_sse import open_events

MIXED = [
    "INFO:root:start",
    "ERROR:root:Disk full",
    "Traceback (most recent call last):",
    '  File "app.py", line 1',
    "OSError: no space",
    "WARNING:root:disk slow",
    "DEBUG:root:tick 42",
    "INFO:root:done",
]

# (filter object, the query string that says the same, the texts that pass)
CASES: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"text": "disk"}, "q=disk", [MIXED[1], *MIXED[2:5], MIXED[5]]),
    ({"text": "Disk", "case": True}, "q=Disk&case=1", MIXED[1:5]),
    ({"text": r"tick \d+$", "regex": True}, "q=tick+%5Cd%2B%24&regex=1", [MIXED[6]]),
    ({"text": "root", "invert": True}, "q=root&invert=1", []),
    ({"text": "disk", "invert": True}, "q=disk&invert=1", [MIXED[0], MIXED[6], MIXED[7]]),
    ({"levels": ["error"]}, "levels=error", MIXED[1:5]),
    ({"levels": ["warn", "debug"]}, "levels=warn,debug", MIXED[5:7]),
    ({"levels": ["info"], "text": "done"}, "levels=info&q=done", [MIXED[7]]),
]


def feed(hub: Hub, stream: Stream, times: int = 1) -> None:
    for _ in range(times):
        publish_texts(hub, stream, MIXED)


async def applied(ws: WSClient) -> None:
    """Wait until the server has applied every frame sent so far (frames are served in order)."""
    await ws.send({"type": "sync"})
    await ws.recv_type("error")


async def subscribed(session: aiohttp.ClientSession, url: str, frame: dict[str, Any]) -> WSClient:
    ws = await ws_connect(session, url)
    await ws.recv_type("hello")
    await ws.send({"type": "subscribe", "streams": ["app"], **frame})
    await applied(ws)
    return ws


async def sent_everything(h: Any, last: int) -> None:
    """Every client of the server has been through ``app`` up to ``last`` and sent it all."""

    def done() -> bool:
        clients = h.registry.clients
        return bool(clients) and all(
            c.cursors.get("app", 0) > last and not c.queue and not c.behind for c in clients
        )

    assert await apoll(done)


@pytest.mark.parametrize(("flt", "query", "expected"), CASES)
async def test_every_filter_key_over_websocket(
    serve: Serve,
    session: aiohttp.ClientSession,
    flt: dict[str, Any],
    query: str,
    expected: list[str],
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    feed(h.hub, app)  # history: read by catch-up through the filter
    ws = await subscribed(session, h.ws_url, {"tail": 100, "filter": flt})
    feed(h.hub, app)  # live: filtered per client
    h.hub.publish_lines(h.hub.streams["other"], [(1.0, "sync", None, False)])
    await ws.send({"type": "subscribe", "streams": ["other"], "tail": 1})
    await ws.wait_lines("other", 1)  # queued after every app line before it
    got = ws.lines.get("app", [])
    assert texts(got) == expected * 2
    assert all(f["type"] != "gap" for f in ws.frames)
    seqs = [line["seq"] for line in got]
    assert seqs == sorted(set(seqs))  # in order, none twice; they jump over the rest


@pytest.mark.parametrize(("flt", "query", "expected"), CASES)
async def test_every_filter_key_on_lines(
    serve: Serve,
    session: aiohttp.ClientSession,
    flt: dict[str, Any],
    query: str,
    expected: list[str],
) -> None:
    h = await serve()
    feed(h.hub, h.hub.streams["app"], 3)
    base = h.url + "api/streams/app/lines?"
    newest = await get_json(session, base + query + "&limit=1000")
    assert texts(newest["lines"]) == expected * 3
    before = await get_json(session, base + query + "&before=17")  # the first two copies
    assert texts(before["lines"]) == expected * 2
    assert before["next_before"] is None  # searched to the start
    forward = await get_json(session, base + query + "&since=8")
    assert texts(forward["lines"]) == expected * 2
    async with session.get(base + query + "&before=25&format=text") as response:
        assert (await response.text()).splitlines() == expected * 3


@pytest.mark.parametrize(("flt", "query", "expected"), CASES)
async def test_every_filter_key_on_events(
    serve: Serve,
    session: aiohttp.ClientSession,
    flt: dict[str, Any],
    query: str,
    expected: list[str],
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    feed(h.hub, app)
    response, sse = await open_events(session, h.url + f"api/streams/app/events?tail=100&{query}")
    assert response.status == 200
    assert await sse.next_block() == ["retry: 1000"]  # subscribed
    feed(h.hub, app)
    await sent_everything(h, 16)
    while len(sse.lines) < len(expected) * 2:
        await sse.next_event()
    with pytest.raises(TimeoutError):
        await sse.next_event(0.3)  # and nothing more
    assert texts(sse.lines) == expected * 2
    response.close()


async def test_bad_patterns(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    feed(h.hub, h.hub.streams["app"])
    ws = await ws_connect(session, h.ws_url)
    await ws.recv_type("hello")
    for bad in ({"text": "(", "regex": True}, {"levels": ["loud"]}, {"text": 5}):
        await ws.send({"type": "subscribe", "streams": ["app"], "tail": 5, "filter": bad})
        error = await ws.recv_type("error")
        assert error["message"]
    await ws.send({"type": "subscribe", "streams": ["app"], "tail": 2})
    assert len(await ws.wait_lines("app", 2)) == 2  # the connection still serves
    assert not [f for f in ws.frames if f["type"] == "lines" and len(f["lines"]) > 2]
    for query in ("q=(&regex=1", "levels=loud", "regex=maybe"):
        for path in ("lines", "events"):
            async with session.get(h.url + f"api/streams/app/{path}?{query}") as response:
                assert response.status == 400, (path, query)
                assert "error" in await response.json()


async def test_pathological_regex_costs_no_one_else(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    pattern = {"text": "(a+)+$", "regex": True}
    evil = await subscribed(session, h.ws_url, {"tail": 0, "filter": pattern})
    other = await subscribed(session, h.ws_url, {"tail": 0})
    long_line = "a" * 100_000 + "!"
    for n in range(20):
        publish_texts(h.hub, app, [long_line] * 5 + [f"tick {n}"])
        await asyncio.sleep(0)  # a source's read loop yields between reads
    # Each client gets its lines well within the test's deadline: the evil
    # pattern costs what any pattern costs (RE2 is linear in the line).
    await other.wait_lines("app", 120)
    h.hub.publish_lines(h.hub.streams["other"], [(1.0, "sync", None, False)])
    await evil.send({"type": "subscribe", "streams": ["other"], "tail": 1})
    await evil.wait_lines("other", 1)
    assert texts(evil.lines.get("app", [])) == []  # "!" ends every line: no match
    async with session.get(h.url + "api/streams/app/lines?q=(a%2B)%2B%24&regex=1") as response:
        assert response.status == 200
        assert (await response.json())["lines"] == []


async def test_backwards_search_through_the_history_on_disk(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    for n in range(30):
        publish_texts(h.hub, app, [f"INFO:root:noise {n}.{i}" for i in range(2000)])
        if n in (2, 20):
            publish_texts(h.hub, app, [f"ERROR:root:rare needle {n}"])
    assert app.history.ring_first > 3000  # the old matches are on disk only
    base = h.url + "api/streams/app/lines?q=needle"
    page = await get_json(session, base + "&limit=1")
    assert texts(page["lines"]) == ["ERROR:root:rare needle 20"]
    older = await get_json(session, base + f"&limit=1&before={page['next_before']}")
    assert texts(older["lines"]) == ["ERROR:root:rare needle 2"]
    oldest = await get_json(session, base + f"&before={older['lines'][0]['seq']}")
    assert oldest["lines"] == [] and oldest["next_before"] is None
    lines = json.loads(json.dumps(older["lines"]))
    assert lines[0]["level"] == "error"


async def test_a_read_that_starts_inside_a_message_judges_it_by_its_head(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """Lines 4 and 5 continue "ERROR:root:Disk full" (line 2): a read from line 4 keeps
    them with their head, which matches, though they do not match on their own."""
    h = await serve()
    feed(h.hub, h.hub.streams["app"])
    want = MIXED[3:5]
    flt = {"text": "Disk", "case": True}
    ws = await subscribed(session, h.ws_url, {"since": {"app": 3}, "filter": flt})  # history
    await ws.wait_lines("app", 2)
    await applied(ws)  # and nothing more came before the answer to this
    assert texts(ws.lines["app"]) == want
    assert [line["seq"] for line in ws.lines["app"]] == [4, 5]
    forward = await get_json(session, h.url + "api/streams/app/lines?q=Disk&case=1&since=3")
    assert texts(forward["lines"]) == want
    # A head that does not match: its follows lines stay out (they do not match alone).
    other = await get_json(session, h.url + "api/streams/app/lines?q=File&case=1&since=3")
    assert texts(other["lines"]) == [MIXED[3]]  # on its own match only


async def test_a_live_read_that_starts_inside_a_message_judges_it_by_its_head(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish_texts(h.hub, app, MIXED[:3])  # the head and the first line of its traceback
    ws = await subscribed(session, h.ws_url, {"tail": 0, "filter": {"text": "Disk", "case": True}})
    publish_texts(h.hub, app, MIXED[3:])  # live: the rest of the traceback, then others
    await sent_everything(h, 8)
    await ws.wait_lines("app", 2)
    await applied(ws)
    assert texts(ws.lines["app"]) == MIXED[3:5]
