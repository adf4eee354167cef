"""Authentication: token header, login cookie and sessions, failed-login throttling."""

from __future__ import annotations

import aiohttp

from tests.helpers import assert_contiguous, ws_connect
from tests.web.conftest import Serve, publish

TOKEN = "correct horse battery staple"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_bearer_header_opens_the_api(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 2)
    async with session.get(h.url + "api/streams/app/lines", headers=BEARER) as response:
        assert response.status == 200
        assert_contiguous((await response.json())["lines"], 1)
    async with session.get(h.url + "metrics", headers=BEARER) as response:
        assert response.status == 200


async def test_login_sets_a_strict_http_only_cookie_that_works(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 3)
    async with session.post(h.url + "api/login", json={"token": TOKEN}) as response:
        assert response.status == 204
        set_cookie = response.headers["Set-Cookie"]
        morsel = response.cookies["tailcast_session"]
    attributes = [part.strip().lower() for part in set_cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    assert TOKEN not in set_cookie  # a session id, never the token itself
    assert len(morsel.value) >= 32
    cookie = {"Cookie": f"tailcast_session={morsel.value}"}
    async with session.get(h.url + "api/streams/app/lines", headers=cookie) as response:
        assert response.status == 200
        assert len((await response.json())["lines"]) == 3
    client = await ws_connect(session, h.ws_url + "?streams=app", headers=cookie)
    assert (await client.recv())["type"] == "hello"
    assert_contiguous(await client.wait_lines("app", 3), 1)
    await client.ws.close()
    # A made-up session id is nothing.
    fake = {"Cookie": "tailcast_session=" + "A" * 43}
    async with session.get(h.url + "api/streams", headers=fake) as response:
        assert response.status == 401
    client = await ws_connect(session, h.ws_url, headers=fake)
    assert await client.wait_closed() == 4001


async def test_wrong_token_and_bad_bodies(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(token=TOKEN)
    async with session.post(h.url + "api/login", json={"token": "nope"}) as response:
        assert response.status == 401
        assert "Set-Cookie" not in response.headers
        assert (await response.json())["error"]
    for body in (b"not json", b"[]", b'{"token": 5}', b"{}"):
        async with session.post(h.url + "api/login", data=body) as response:
            assert response.status == 400, body
            assert (await response.json())["error"]


async def test_failed_logins_are_throttled(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(token=TOKEN)
    statuses = []
    for _ in range(12):
        async with session.post(h.url + "api/login", json={"token": "guess"}) as response:
            statuses.append(response.status)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    # Even the right token waits: the point is to stop guessing.
    async with session.post(h.url + "api/login", json={"token": TOKEN}) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "60"


async def test_no_token_configured_means_open(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    async with session.get(h.url + "api/streams") as response:
        assert response.status == 200
    async with session.post(h.url + "api/login", json={"token": "anything"}) as response:
        assert response.status == 204
        assert "Set-Cookie" not in response.headers
