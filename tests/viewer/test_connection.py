"""The viewer's connection in a real Chromium: a server restart (new epoch),
a network blip (resume with ``since``), gaps filled from history, and the
login form on close code 4001."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Request, WebSocket, expect

from tests.harness import publish_texts
from tests.helpers import poll
from tests.viewer.support import (
    TcpProxy,
    ThreadServer,
    list_texts,
    row_seqs,
    row_texts,
    wait_rows,
)

Server = Callable[..., ThreadServer]


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def test_server_restart_starts_the_stream_over(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("app")
    srv.publish(sid, [f"old {i}" for i in range(1, 31)])
    page.goto(srv.url)
    live(page)
    assert wait_rows(page, sid, 30) == list(range(1, 31))

    srv.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "retrying")
    srv.start()  # same port, new hub: a new epoch, numbering from 1 again
    assert srv.add_stream("app") == sid
    srv.publish(sid, [f"new {i}" for i in range(1, 6)])
    poll(lambda: row_texts(page, sid) == [f"new {i}" for i in range(1, 6)])
    live(page)
    srv.publish(sid, [f"new {i}" for i in range(6, 9)])
    poll(lambda: row_seqs(page, sid) == list(range(1, 9)))
    assert row_texts(page, sid) == [f"new {i}" for i in range(1, 9)]


def test_network_blip_resumes_without_duplicates_or_losses(
    page: Page, server: Server, proxy: Callable[[int], TcpProxy]
) -> None:
    srv = server()
    a = srv.add_stream("alpha")
    b = srv.add_stream("beta")
    srv.publish(a, [f"a{i}" for i in range(1, 51)])
    srv.publish(b, [f"b{i}" for i in range(1, 11)])
    px = proxy(srv.port)
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda data: sent.append(json.loads(data)))
        ws.on("framereceived", lambda data: received.append(json.loads(data)))

    page.on("websocket", watch)
    page.goto(f"http://127.0.0.1:{px.port}/")
    live(page)
    wait_rows(page, a, 50)
    wait_rows(page, b, 10)

    for _ in range(2):
        px.cut(refuse=True)
        expect(page.locator("#conn")).to_have_attribute("data-state", "retrying")
        # Published while the page is cut off: it must get them on resume.
        base = srv.last_seq(a)
        srv.publish(a, [f"a{base + i}" for i in range(1, 71)])
        srv.publish(a, ["piece "])
        px.allow()
        live(page)
        # A cont piece across the reconnect still joins its line.
        srv.publish(a, ["joined"], cont=[True])
        srv.publish(b, [f"b{srv.last_seq(b) + 1}"])
        last = srv.last_seq(a)

        # The joined row keeps its first piece's seq (last - 1), which it has
        # before "joined" arrives: wait for the text, in the view and on screen.
        def resumed(last: int = last) -> bool:
            return row_seqs(page, a)[-1:] == [last - 1] and list_texts(page, a)[-1:] == [
                "piece joined"
            ]

        poll(resumed)
        poll(lambda: row_texts(page, a)[-1:] == ["piece joined"])

    seqs = row_seqs(page, a)
    # Every line once: the cont pieces (one per round) share their line's row.
    expected = list(range(1, srv.last_seq(a) + 1))
    for joined in (121, 193):
        expected.remove(joined + 1)
    assert seqs == expected
    # beta's last line was published after alpha's: it may still be on its way.
    poll(lambda: row_seqs(page, b) == list(range(1, 13)))
    assert px.connections >= 3
    # On the wire: each reconnect resumed with `since`, and the server never
    # had to send a line twice.
    subscribes = [f for f in sent if f.get("type") == "subscribe"]
    assert subscribes[0]["since"] == {}
    assert subscribes[1]["since"] == {"alpha": 50, "beta": 10}
    assert subscribes[2]["since"] == {"alpha": 122, "beta": 11}
    got = [
        (f["stream"], line["seq"]) for f in received if f["type"] == "lines" for line in f["lines"]
    ]
    assert len(got) == len(set(got))


def test_a_burst_through_a_tiny_queue_arrives_whole(page: Page, server: Server) -> None:
    # A tiny queue: a burst published in one go overflows it, and the page's
    # sender reads on from the history: every line arrives, no gap marker.
    srv = server(queue_bytes=4096)
    sid = srv.add_stream("burst")
    page.goto(srv.url)
    live(page)
    srv.publish(sid, ["first"])
    wait_rows(page, sid, 1)
    srv.publish_many(
        sid, [[f"burst {n:04d} " + "x" * 80 for n in range(i, i + 20)] for i in range(0, 600, 20)]
    )
    poll(lambda: row_seqs(page, sid) == list(range(1, 602)))
    expect(page.locator("#rows .row.gap")).to_have_count(0)
    texts = list_texts(page, sid)  # more than a screen: the view's list
    assert texts[1:] == [f"burst {n:04d} " + "x" * 80 for n in range(600)]
    # The page goes on live after catching up.
    srv.publish(sid, ["after"])
    poll(lambda: row_seqs(page, sid)[-1:] == [602])


def test_gap_marker_loads_the_missing_lines(page: Page, server: Server) -> None:
    # A gap whose lines the history still holds. The server no longer sends
    # one (a slow reader catches up instead), but the page must fill any gap it
    # gets from a server: this one is put in the page's queue by hand, and the
    # lines it covers are published past the page's cursor.
    srv = server()
    sid = srv.add_stream("burst")
    page.goto(srv.url)
    live(page)
    srv.publish(sid, ["first"])
    wait_rows(page, sid, 1)
    burst = [f"burst {n:04d} " + "x" * 80 for n in range(600)]

    def skip_the_burst() -> None:
        assert srv.server is not None
        registry, hub = srv.server.registry, srv.server.hub
        stream = hub.streams[sid]
        first = stream.last_seq + 1
        for client in registry.clients:
            with registry._lock:  # what the registry's own callers hold
                if sid in client.cursors:
                    client._push_gap(sid, first, first + len(burst) - 1)
                    client.cursors[sid] = first + len(burst)
        publish_texts(hub, stream, burst)

    srv.call(skip_the_burst)
    gap = page.locator("#rows .row.gap").first
    expect(gap).to_contain_text("lines skipped")
    assert len(row_seqs(page, sid)) < 601
    loads = page.locator("#rows .row.gap .load")
    while (count := loads.count()) > 0:
        loads.first.click()
        expect(loads).to_have_count(count - 1)
    poll(lambda: row_seqs(page, sid) == list(range(1, 602)))
    assert list_texts(page, sid)[1:] == burst  # more than a screen: the view's list
    # The page goes on live after the fill.
    srv.publish(sid, ["after"])
    poll(lambda: row_seqs(page, sid)[-1:] == [602])


def test_gap_beyond_history_says_so(
    page: Page, server: Server, proxy: Callable[[int], TcpProxy]
) -> None:
    srv = server(history=20)
    sid = srv.add_stream("short")
    srv.publish(sid, ["one"])
    px = proxy(srv.port)
    page.goto(f"http://127.0.0.1:{px.port}/")
    live(page)
    wait_rows(page, sid, 1)
    px.cut(refuse=True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "retrying")
    srv.publish(sid, [f"line {i}" for i in range(2, 102)])  # 81 of them leave the ring
    px.allow()
    live(page)
    gap = page.locator("#rows .row.gap")
    expect(gap).to_contain_text("80 lines skipped")
    assert gap.get_attribute("data-from") == "2"
    assert gap.get_attribute("data-to") == "81"
    poll(lambda: row_seqs(page, sid) == [1, *range(82, 102)])
    gap.locator(".load").click()
    expect(gap).to_contain_text("no longer in the server's history")


def test_login_on_4001_then_lines(page: Page, server: Server) -> None:
    token = "s3cret-t0ken"
    srv = server(token=token)
    sid = srv.add_stream("private")
    srv.publish(sid, ["for your eyes only"])
    urls: list[str] = []

    def record(request: Request) -> None:
        urls.append(request.url)

    page.on("request", record)
    page.on("websocket", lambda ws: urls.append(ws.url))
    page.goto(srv.url)
    form = page.locator("#login")
    expect(form).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "auth")
    expect(page.locator("#token")).to_be_focused()
    assert page.locator("#rows .row").count() == 0

    page.keyboard.type("wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).to_have_text("wrong token")
    expect(form).to_be_visible()

    page.locator("#token").fill(token)
    page.keyboard.press("Enter")
    expect(form).to_be_hidden()
    live(page)
    assert wait_rows(page, sid, 1) == [1]
    assert row_texts(page, sid) == ["for your eyes only"]
    # The token never went into a URL, and the page does not keep it.
    assert urls and not any(token in u for u in urls)
    assert page.locator("#token").input_value() == ""
    assert token not in page.evaluate("JSON.stringify(localStorage) + document.cookie")
