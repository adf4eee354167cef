"""The JSON HTTP routes: streams, history pages, control, stats, errors."""

from __future__ import annotations

import aiohttp
import pytest
import yarl

from tailcast.history.kept import MEMORY_LINES
from tailcast.protocol import wire
from tailcast.protocol.lines import Piece
from tailcast.web.api import MAX_LIMIT, TextLines
from tests.web.conftest import Serve, get_json, line_text, publish


async def test_list_streams(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    publish(h.hub, h.hub.streams["app"], 2)
    body = await get_json(session, h.url + "api/streams")
    assert body == {"streams": h.hub.infos()}
    app = body["streams"][0]
    assert (app["id"], app["kind"], app["first_seq"], app["last_seq"]) == ("app", "stdin", 1, 2)


async def test_lines_page_forward_with_since_and_limit(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish(h.hub, app, 25)
    seqs: list[int] = []
    since = 0
    while True:
        page = await get_json(session, h.url + f"api/streams/app/lines?since={since}&limit=10")
        assert page["stream"] == "app"
        assert page["epoch"] == app.epoch
        assert (page["first_seq"], page["last_seq"]) == (1, 25)
        if not page["lines"]:
            break
        assert len(page["lines"]) <= 10
        seqs += [line["seq"] for line in page["lines"]]
        since = page["lines"][-1]["seq"]
    assert seqs == list(range(1, 26))
    page = await get_json(session, h.url + "api/streams/app/lines?since=3&limit=2")
    assert [line["text"] for line in page["lines"]] == [line_text(4), line_text(5)]


async def test_lines_newest_without_since(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(history=500)
    app = h.hub.streams["app"]
    publish(h.hub, app, 150)
    page = await get_json(session, h.url + "api/streams/app/lines?limit=3")
    assert [line["seq"] for line in page["lines"]] == [148, 149, 150]
    page = await get_json(session, h.url + "api/streams/app/lines")
    assert [line["seq"] for line in page["lines"]] == list(range(51, 151))  # default 100


async def test_lines_since_before_the_ring_starts_at_first_seq(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(history=10)
    publish(h.hub, h.hub.streams["app"], 30)
    page = await get_json(session, h.url + "api/streams/app/lines?since=0&limit=5")
    assert page["first_seq"] == 21
    assert [line["seq"] for line in page["lines"]] == [21, 22, 23, 24, 25]


async def test_lines_as_text_join_cont_pieces(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    h.hub.publish(app, [Piece("one"), Piece("two-a"), Piece("-two-b", cont=True), Piece("")])
    h.hub.publish(app, [Piece("-two-c", cont=True)])  # rest of a flushed partial line
    h.hub.publish(app, [Piece("\u20ac \x1b[1mbold\x1b[0m")])
    async with session.get(h.url + "api/streams/app/lines?format=text") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert response.charset == "utf-8"
        assert await response.text() == "one\ntwo-a-two-b\n-two-c\n\u20ac \x1b[1mbold\x1b[0m\n"
    async with session.get(h.url + "api/streams/app/lines?format=text&since=2&limit=2") as r:
        assert await r.text() == "-two-b\n\n"  # a page that starts with a cont piece


async def test_lines_page_backwards_across_the_memory_ring(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    total = MEMORY_LINES + 2_500  # the oldest 2 500 are on disk only
    for _ in range(total // 2_500):
        publish(h.hub, app, 2_500)
    assert app.history.ring_first == total - MEMORY_LINES + 1 > 1
    seqs: list[int] = []
    before = app.last_seq + 1
    while True:
        page = await get_json(session, h.url + f"api/streams/app/lines?before={before}&limit=700")
        assert (page["stream"], page["epoch"]) == ("app", app.epoch)
        assert (page["first_seq"], page["last_seq"]) == (1, total)
        if not page["lines"]:
            break
        page_seqs = [line["seq"] for line in page["lines"]]
        assert page_seqs == list(range(before - len(page_seqs), before))  # oldest first
        assert len(page_seqs) == min(700, before - 1)
        assert [line["text"] for line in page["lines"]] == [line_text(n) for n in page_seqs]
        seqs = page_seqs + seqs
        before = page_seqs[0]
    assert seqs == list(range(1, total + 1))
    assert app.history.lines_from_disk >= total - MEMORY_LINES


async def test_lines_before_defaults_and_edges(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    publish(h.hub, app, 1_500)
    url = h.url + "api/streams/app/lines?"
    page = await get_json(session, url + "before=1501")
    assert [line["seq"] for line in page["lines"]] == list(range(501, 1501))  # default 1000
    # Beyond last_seq: the newest lines.
    page = await get_json(session, url + "before=999999&limit=3")
    assert [line["seq"] for line in page["lines"]] == [1498, 1499, 1500]
    page = await get_json(session, url + "before=1")
    assert page["lines"] == []
    page = await get_json(session, url + "before=3&limit=10")
    assert [line["seq"] for line in page["lines"]] == [1, 2]
    async with session.get(url + "before=4&limit=2&format=text") as response:
        assert await response.text() == line_text(2) + "\n" + line_text(3) + "\n"


async def test_lines_limit_is_capped_for_every_page(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()  # --history is larger than the cap
    assert h.hub.history > MAX_LIMIT
    publish(h.hub, h.hub.streams["app"], 5)
    for query in ("", "since=0&", "before=3&", "format=text&"):
        url = h.url + "api/streams/app/lines?" + query
        page = await get_json(session, url.replace("format=text&", "") + f"limit={MAX_LIMIT}")
        assert page["lines"]
        body = await get_json(session, url + f"limit={MAX_LIMIT + 1}", 400)
        assert body["error"] == f"limit must be a whole number from 1 to {MAX_LIMIT}"


async def test_lines_text_without_limit_streams_the_whole_history(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    total = 300_000
    for _ in range(total // 20_000):
        publish(h.hub, app, 20_000)
    assert len(app.history.ring) < total  # most of it is read back from disk
    async with session.get(h.url + "api/streams/app/lines?format=text") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert response.charset == "utf-8"
        # Streamed: chunked, no length known in advance.
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.headers
        assert response.headers["Content-Disposition"] == 'inline; filename="app.log"'
        got: list[str] = []
        rest = b""
        async for block in response.content.iter_any():
            *whole, rest = (rest + block).split(b"\n")
            got += [w.decode() for w in whole]
    assert rest == b""
    assert len(got) == total
    assert got == [line_text(n) for n in range(1, total + 1)]
    assert app.history.lines_from_disk >= total - MEMORY_LINES


async def test_lines_text_download_joins_cont_pieces(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    app = h.hub.streams["app"]
    h.hub.publish(app, [Piece("one"), Piece("two-a"), Piece("-two-b", cont=True)])
    h.hub.publish(app, [Piece("-two-c", cont=True), Piece("")])
    async with session.get(h.url + "api/streams/app/lines?format=text") as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert await response.text() == "one\ntwo-a-two-b-two-c\n\n"
    # An empty stream downloads as an empty text.
    async with session.get(h.url + "api/streams/other/lines?format=text") as response:
        assert response.status == 200
        assert await response.text() == ""


def test_text_lines_join_across_feeds_but_not_across_a_hole() -> None:
    def enc(seq: int, text: str, cont: bool = False) -> bytes:
        return wire.encode_line(seq, 0.0, text, None, cont)

    text = TextLines()
    out = text.feed([enc(1, "a"), enc(2, "b")])
    out += text.feed([enc(3, "-b", cont=True)])  # the next chunk continues line 2
    out += text.feed([enc(7, "x", cont=True)])  # after a hole: nothing to join to
    assert out + text.end() == "a\nb-b\nx\n"
    assert TextLines().end() == ""


@pytest.mark.parametrize(
    "query",
    [
        "since=-1",
        "since=abc",
        "since=1.5",
        "since=99999999999999999999",
        "limit=0",
        "limit=-5",
        "limit=x",
        "limit=1001",
        "format=xml",
        "before=0",
        "before=-1",
        "before=x",
        "since=1&before=5",
    ],
)
async def test_lines_bad_parameters_are_400(
    serve: Serve, session: aiohttp.ClientSession, query: str
) -> None:
    h = await serve(history=1000)
    body = await get_json(session, h.url + "api/streams/app/lines?" + query, 400)
    assert isinstance(body["error"], str)
    # The error names the parameter that is wrong.
    assert query.split("=", maxsplit=1)[0].rsplit("&", maxsplit=1)[-1] in body["error"]


async def test_unknown_stream_and_path_are_404_json(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    for path in (
        "api/streams/nope/lines",
        "api/streams/nope/stats",
        "api/streams/nope/events",
        "api/nothing",
    ):
        body = await get_json(session, h.url + path, 404)
        assert body["error"], path
    async with session.get(h.url + "static/nothing.js") as response:
        assert response.status == 404
    # An encoded ".." never leaves the viewer's directory.
    sneaky = yarl.URL(h.url + "static/%2e%2e/%2e%2e/setup.cfg", encoded=True)
    async with session.get(sneaky) as response:
        assert response.status in (403, 404)
        assert "[metadata]" not in await response.text()
    async with session.post(h.url + "api/streams/nope/restart") as response:
        assert response.status in (403, 404)
        assert "error" in await response.json()


async def test_stats_only_for_docker_streams(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    body = await get_json(session, h.url + "api/streams/app/stats", 404)
    assert "docker" in body["error"].lower()


class Recording:
    """Stands in for a process source's controller: records what the route asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def restart(self) -> None:
        self.calls.append("restart")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_control_is_403_unless_allowed(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    controller = Recording()
    h.hub.streams["other"].controller = controller
    for action in ("restart", "stop"):
        async with session.post(h.url + f"api/streams/other/{action}") as response:
            assert response.status == 403
            assert "allow-control" in (await response.json())["error"]
        async with session.get(h.url + f"api/streams/other/{action}") as response:
            assert response.status == 405
    assert controller.calls == []


async def test_control_with_allow_control(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(allow_control=True)
    controller = Recording()
    h.hub.streams["other"].controller = controller
    for action in ("restart", "stop"):
        async with session.post(h.url + f"api/streams/other/{action}") as response:
            assert response.status == 202
            assert await response.json() == {"stream": "other", "action": action}
        # Only process streams: never a file or stdin, whatever the request says.
        async with session.post(h.url + f"api/streams/app/{action}") as response:
            assert response.status == 403
    assert controller.calls == ["restart", "stop"]
