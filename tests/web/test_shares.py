"""Share links over HTTP and WebSocket: every route with a share token.

What a share token must see (its streams, everywhere it is presented: header,
``bearer.`` subprotocol, login cookie) and what it must not (other streams:
404/4004, as if they did not exist; control, /metrics, /api/shares: 403), and
that a revoked or expired share is 401/4001 at once, open connections included.
A real server on loopback, real sockets.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import ServerHarness, make_config
from tests.helpers import DEADLINE, apoll, assert_contiguous, ws_connect
from tests.web.conftest import Serve, publish

TOKEN = "owner-token-for-share-tests"
OWNER = {"Authorization": f"Bearer {TOKEN}"}
# Revocation closes at once, expiry within a second (the watcher looks every
# 0.2 s); the deadline leaves room for a loaded machine.
CLOSE_DEADLINE = 3.0


async def make_share(
    session: aiohttp.ClientSession, h: ServerHarness, streams: list[str], expires_in: float = 3600
) -> dict[str, Any]:
    body = {"streams": streams, "expires_in": expires_in}
    async with session.post(h.url + "api/shares", json=body, headers=OWNER) as response:
        assert response.status == 201, await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        share: dict[str, Any] = await response.json()
    return share


async def status(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], **kw: Any
) -> tuple[int, Any]:
    async with session.request(method, url, headers=headers, **kw) as response:
        text = await response.text()
        is_json = text and "json" in response.content_type
        return response.status, json.loads(text) if is_json else text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_without_a_token_shares_are_refused_with_why(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    for method in ("GET", "POST"):
        code, body = await status(
            session, method, h.url + "api/shares", {}, json={"streams": ["app"], "expires_in": 60}
        )
        assert code == 403
        assert "--token" in body["error"]
    code, body = await status(session, "DELETE", h.url + "api/shares/x", {})
    assert code == 403


async def test_owner_creates_lists_and_revokes(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    before = time.time()
    share = await make_share(session, h, ["app"], 120)
    assert set(share) == {"id", "token", "streams", "expires"}
    assert share["streams"] == ["app"]
    assert before + 119 <= share["expires"] <= time.time() + 121
    assert len(share["token"]) >= 40 and share["token"] != TOKEN
    code, listed = await status(session, "GET", h.url + "api/shares", OWNER)
    assert code == 200
    assert [s["id"] for s in listed["shares"]] == [share["id"]]
    assert share["token"] not in json.dumps(listed)  # listed without tokens
    assert "token" not in listed["shares"][0]
    code, _ = await status(session, "DELETE", h.url + f"api/shares/{share['id']}", OWNER)
    assert code == 204
    code, listed = await status(session, "GET", h.url + "api/shares", OWNER)
    assert listed["shares"] == []
    code, body = await status(session, "DELETE", h.url + f"api/shares/{share['id']}", OWNER)
    assert code == 404 and "unknown share" in body["error"]


async def test_bad_share_requests_are_400_with_why(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    cases: list[tuple[Any, str]] = [
        ({"streams": ["nope"], "expires_in": 60}, "unknown stream: nope"),
        ({"streams": ["*"], "expires_in": 60}, "unknown stream: *"),
        ({"streams": [], "expires_in": 60}, "streams"),
        ({"streams": "app", "expires_in": 60}, "streams"),
        ({"streams": ["app"]}, "expires_in"),
        ({"streams": ["app"], "expires_in": 0}, "expires_in"),
        ({"streams": ["app"], "expires_in": -5}, "expires_in"),
        ({"streams": ["app"], "expires_in": True}, "expires_in"),
        ({"streams": ["app"], "expires_in": 10**9}, "expires_in"),
        ([1, 2], "body must be JSON"),
    ]
    for body, why in cases:
        code, answer = await status(session, "POST", h.url + "api/shares", OWNER, json=body)
        assert code == 400, body
        assert why in answer["error"], (body, answer)
    code, answer = await status(session, "POST", h.url + "api/shares", OWNER, data=b"{")
    assert code == 400
    code, listed = await status(session, "GET", h.url + "api/shares", OWNER)
    assert listed["shares"] == []  # nothing was made by any of them


async def test_a_share_token_reads_only_its_streams_over_http(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN, allow_control=True)
    publish(h.hub, h.hub.streams["app"], 3)
    publish(h.hub, h.hub.streams["other"], 3)
    share = await make_share(session, h, ["app"])
    as_share = bearer(share["token"])
    u = h.url
    code, body = await status(session, "GET", u + "api/streams", as_share)
    assert code == 200 and [s["id"] for s in body["streams"]] == ["app"]
    code, body = await status(session, "GET", u + "api/streams/app/lines", as_share)
    assert code == 200
    assert_contiguous(body["lines"], 1)
    code, body = await status(session, "GET", u + "api/streams/app/lines?format=text", as_share)
    assert code == 200 and "line 000003" in body
    # Another stream is as unknown as one that does not exist, on every route naming one.
    for path in ("lines", "lines?format=text", "events", "stats"):
        for stream in ("other", "nope"):
            code, body = await status(session, "GET", u + f"api/streams/{stream}/{path}", as_share)
            assert code == 404, (stream, path)
            assert body["error"] == f"unknown stream: {stream}"
    # Control, /metrics and share management are the owner's.
    for method, path in (
        ("POST", "api/streams/app/restart"),
        ("POST", "api/streams/app/stop"),
        ("POST", "api/streams/other/restart"),
        ("GET", "metrics"),
        ("GET", "api/shares"),
        ("POST", "api/shares"),
        ("DELETE", f"api/shares/{share['id']}"),
    ):
        code, body = await status(
            session, method, u + path, as_share, json={"streams": ["app"], "expires_in": 9}
        )
        assert code == 403, (method, path)
        assert "share link" in body["error"]
    code, _ = await status(session, "GET", u + "healthz", as_share)
    assert code == 200
    code, body = await status(session, "GET", u, as_share)
    assert code == 200  # the viewer itself
    # The owner still has everything, and the share still exists.
    code, body = await status(session, "GET", u + "api/shares", OWNER)
    assert [s["id"] for s in body["shares"]] == [share["id"]]
    code, _ = await status(session, "GET", u + "metrics", OWNER)
    assert code == 200


async def test_a_share_token_over_websocket_sees_only_its_streams(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 2)
    publish(h.hub, h.hub.streams["other"], 2)
    share = await make_share(session, h, ["app"])
    # The bearer. subprotocol, as a browser presents it.
    client = await ws_connect(
        session, h.ws_url, protocols=("tailcast.v1", "bearer." + share["token"])
    )
    hello = await client.recv()
    assert hello["type"] == "hello"
    assert [s["id"] for s in hello["streams"]] == ["app"]
    await client.send({"type": "subscribe", "streams": ["*"], "tail": 10})
    assert_contiguous(await client.wait_lines("app", 2), 1)
    publish(h.hub, h.hub.streams["other"], 5)
    publish(h.hub, h.hub.streams["app"], 1)
    await client.wait_lines("app", 3)
    # A stream that appears later is not the share's either.
    h.hub.add_stream("late", "stdin")
    publish(h.hub, h.hub.streams["late"], 2)
    publish(h.hub, h.hub.streams["app"], 1)
    await client.wait_lines("app", 4)
    assert set(client.lines) == {"app"}
    assert not [f for f in client.frames if f["type"] == "streams"]
    assert "other" not in json.dumps(client.frames) and "late" not in json.dumps(client.frames)
    await client.send({"type": "subscribe", "streams": ["other"]})
    assert await client.wait_closed() == 4004
    # ?streams= in the URL, with the header.
    client = await ws_connect(session, h.ws_url + "?streams=other", headers=bearer(share["token"]))
    assert (await client.recv())["type"] == "hello"
    assert await client.wait_closed() == 4004
    client = await ws_connect(session, h.ws_url + "?streams=app", headers=bearer(share["token"]))
    assert (await client.recv())["type"] == "hello"
    assert_contiguous(await client.wait_lines("app", 4), 1)
    await client.ws.close()


async def test_a_share_logs_in_to_a_cookie_that_ends_with_it(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    share = await make_share(session, h, ["app"], 600)
    async with session.post(h.url + "api/login", json={"token": share["token"]}) as response:
        assert response.status == 204
        morsel = response.cookies["tailcast_session"]
    assert 590 <= int(morsel["max-age"]) <= 600  # no longer than the share
    cookie = {"Cookie": f"tailcast_session={morsel.value}"}
    code, body = await status(session, "GET", h.url + "api/streams", cookie)
    assert code == 200 and [s["id"] for s in body["streams"]] == ["app"]
    code, _ = await status(session, "GET", h.url + "api/streams/other/lines", cookie)
    assert code == 404
    code, _ = await status(session, "GET", h.url + "metrics", cookie)
    assert code == 403
    client = await ws_connect(session, h.ws_url, headers=cookie)
    assert [s["id"] for s in (await client.recv())["streams"]] == ["app"]
    await status(session, "DELETE", h.url + f"api/shares/{share['id']}", OWNER)
    assert await client.wait_closed(CLOSE_DEADLINE) == 4001
    code, _ = await status(session, "GET", h.url + "api/streams", cookie)
    assert code == 401
    async with session.post(h.url + "api/login", json={"token": share["token"]}) as response:
        assert response.status == 401


async def _open_sse(session: aiohttp.ClientSession, url: str, token: str) -> aiohttp.ClientResponse:
    response = await session.get(url, headers=bearer(token))
    assert response.status == 200
    assert (await response.content.readline()).startswith(b"retry:")
    return response


async def _ended(response: aiohttp.ClientResponse, within: float) -> bool:
    """Read the event stream until it ends; ``True`` if it did within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        chunk = await asyncio.wait_for(
            response.content.read(65536), max(0.01, deadline - time.monotonic())
        )
        if not chunk:
            return True
    return False


async def test_revoking_closes_open_connections_at_once(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 2)
    share = await make_share(session, h, ["app"])
    kept = await make_share(session, h, ["app"])  # another share, not revoked
    client = await ws_connect(session, h.ws_url + "?streams=app", headers=bearer(share["token"]))
    other = await ws_connect(session, h.ws_url + "?streams=app", headers=bearer(kept["token"]))
    owner = await ws_connect(session, h.ws_url + "?streams=app", headers=OWNER)
    for c in (client, other, owner):
        await c.wait_lines("app", 2)
    sse = await _open_sse(session, h.url + "api/streams/app/events", share["token"])
    code, _ = await status(session, "DELETE", h.url + f"api/shares/{share['id']}", OWNER)
    assert code == 204
    assert await client.wait_closed(CLOSE_DEADLINE) == 4001
    assert await _ended(sse, CLOSE_DEADLINE)
    # The others go on.
    publish(h.hub, h.hub.streams["app"], 1)
    await other.wait_lines("app", 3)
    await owner.wait_lines("app", 3)
    # And the token is nothing now, on every way in.
    code, _ = await status(session, "GET", h.url + "api/streams", bearer(share["token"]))
    assert code == 401
    again = await ws_connect(session, h.ws_url, headers=bearer(share["token"]))
    assert await again.wait_closed() == 4001
    await other.ws.close()
    await owner.ws.close()


async def test_expiry_closes_open_connections_within_a_second(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    share = await make_share(session, h, ["app"], expires_in=1.5)
    client = await ws_connect(
        session, h.ws_url, protocols=("tailcast.v1", "bearer." + share["token"])
    )
    assert (await client.recv())["type"] == "hello"
    sse = await _open_sse(session, h.url + "api/streams/app/events", share["token"])
    code, _ = await status(session, "GET", h.url + "api/streams", bearer(share["token"]))
    assert code == 200
    expires = share["expires"]
    assert await client.wait_closed(1.5 + CLOSE_DEADLINE) == 4001
    closed_at = time.time()
    assert await _ended(sse, CLOSE_DEADLINE)
    assert closed_at >= expires - 0.05  # not before its time
    code, _ = await status(session, "GET", h.url + "api/streams", bearer(share["token"]))
    assert code == 401
    code, listed = await status(session, "GET", h.url + "api/shares", OWNER)
    assert listed["shares"] == []


async def test_shares_are_kept_across_a_restart_with_a_data_dir(
    start_server: Any, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    config = make_config(token=TOKEN, data_dir=str(tmp_path / "data"))
    h: ServerHarness = await start_server(config, sources=[])
    h.hub.add_stream("app", "stdin")
    share = await make_share(session, h, ["app"])
    gone = await make_share(session, h, ["app"])
    await status(session, "DELETE", h.url + f"api/shares/{gone['id']}", OWNER)
    saved = (tmp_path / "data" / "shares.json").read_text()
    assert share["id"] in saved and share["token"] not in saved  # a hash, never the token
    assert (tmp_path / "data" / "shares.json").stat().st_mode & 0o077 == 0
    await h.stop()
    h2: ServerHarness = await start_server(config, sources=[])
    h2.hub.add_stream("app", "stdin")
    code, body = await status(session, "GET", h2.url + "api/streams", bearer(share["token"]))
    assert code == 200 and [s["id"] for s in body["streams"]] == ["app"]
    code, _ = await status(session, "GET", h2.url + "api/streams", bearer(gone["token"]))
    assert code == 401
    code, listed = await status(session, "GET", h2.url + "api/shares", OWNER)
    assert [s["id"] for s in listed["shares"]] == [share["id"]]


async def test_many_share_clients_are_all_closed(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    share = await make_share(session, h, ["app"])
    clients = [
        await ws_connect(session, h.ws_url + "?streams=app", headers=bearer(share["token"]))
        for _ in range(20)
    ]
    await apoll(lambda: len(h.registry.clients) == 20, DEADLINE)
    await status(session, "DELETE", h.url + f"api/shares/{share['id']}", OWNER)
    codes = await asyncio.gather(*(c.wait_closed(CLOSE_DEADLINE) for c in clients))
    assert codes == [4001] * 20
    await apoll(lambda: not h.registry.clients, DEADLINE)


async def test_share_rules_hold_under_a_base_path(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN, base_path="/logs/")
    publish(h.hub, h.hub.streams["app"], 1)
    share = await make_share(session, h, ["app"])
    as_share = bearer(share["token"])
    code, body = await status(session, "GET", h.url + "api/streams/app/lines", as_share)
    assert code == 200 and len(body["lines"]) == 1
    code, _ = await status(session, "GET", h.url + "api/streams/other/lines", as_share)
    assert code == 404
    code, _ = await status(session, "GET", h.url + "metrics", as_share)
    assert code == 403
    for path in ("", "static/app.js"):
        code, _ = await status(session, "GET", h.url + path, as_share)
        assert code == 200, path
