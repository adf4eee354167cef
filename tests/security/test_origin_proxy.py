"""The Origin check (cross-site WebSocket hijacking) on WebSocket upgrades and
SSE, with every kind of valid credential, look-alike origins, and the
``X-Forwarded-*`` headers believed only with ``--trust-proxy``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tailcast.cli import build_parser
from tailcast.config import build_config
from tests.harness import ServerHarness
from tests.helpers import ws_connect
from tests.security.conftest import BEARER, TOKEN
from tests.web.conftest import Serve, publish

CREDENTIALS = ["header", "subprotocol", "cookie"]


async def _credentials(
    how: str, h: ServerHarness, session: aiohttp.ClientSession
) -> dict[str, Any]:
    """ws_connect/request keyword arguments that carry a valid credential."""
    if how == "header":
        return {"headers": dict(BEARER)}
    if how == "subprotocol":
        return {"headers": {}, "protocols": ("tailcast.v1", f"bearer.{TOKEN}")}
    async with session.post(h.url + "api/login", json={"token": TOKEN}) as response:
        assert response.status == 204
        value = response.cookies["tailcast_session"].value
    return {"headers": {"Cookie": f"tailcast_session={value}"}}


def _hostile(h: ServerHarness) -> list[str]:
    own = urlsplit(h.url).netloc
    host, port = own.rsplit(":", 1)
    return [
        "https://evil.example",
        "null",  # sandboxed frames, file: pages
        "",
        "127.0.0.1",  # no scheme
        f"http://{own}.evil.example",  # own host as a prefix
        f"http://evil.example/{own}",  # own host in the path
        f"http://{own}@evil.example",  # own host as userinfo
        f"http://evil.example:{port}",
        f"http://{host}:{int(port) + 1}",  # another port on the same host
        f"http://{host}",  # no port
        "ws://evil.example",
    ]


@pytest.mark.parametrize("how", CREDENTIALS)
async def test_cross_origin_websocket_refused_with_every_credential(
    serve: Serve, session: aiohttp.ClientSession, how: str
) -> None:
    h = await serve(token=TOKEN)
    kwargs = await _credentials(how, h, session)
    for origin in _hostile(h):
        headers = {**kwargs["headers"], "Origin": origin}
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(h.ws_url + "?streams=app", **{**kwargs, "headers": headers})
        assert info.value.status == 403, origin
    assert h.registry.statistics()["connects"] == 0
    # The same credential from the own origin works: the refusals were the Origin's.
    own = "http://" + urlsplit(h.url).netloc
    client = await ws_connect(
        session, h.ws_url, **{**kwargs, "headers": {**kwargs["headers"], "Origin": own}}
    )
    assert (await client.recv())["type"] == "hello"
    await client.ws.close()


@pytest.mark.parametrize("how", ["header", "cookie"])
async def test_cross_origin_sse_refused_with_a_valid_credential(
    serve: Serve, session: aiohttp.ClientSession, how: str
) -> None:
    h = await serve(token=TOKEN)
    publish(h.hub, h.hub.streams["app"], 3)
    kwargs = await _credentials(how, h, session)
    url = h.url + "api/streams/app/events"
    for origin in _hostile(h):
        headers = {**kwargs["headers"], "Origin": origin}
        async with session.get(url, headers=headers) as response:
            assert response.status == 403, origin
            assert await response.json() == {"error": "origin not allowed"}
    assert h.registry.statistics()["connects"] == 0
    own = "http://" + urlsplit(h.url).netloc
    async with session.get(url, headers={**kwargs["headers"], "Origin": own}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")


async def test_own_origin_compares_without_case_or_trailing_slash(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve()
    netloc = urlsplit(h.url).netloc
    for origin in (f"HTTP://{netloc}".upper(), f"http://{netloc}/"):
        client = await ws_connect(session, h.ws_url, headers={"Origin": origin})
        assert (await client.recv())["type"] == "hello", origin
        await client.ws.close()


async def test_allow_origin_is_exact(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(allow_origin=("https://dash.example",))
    client = await ws_connect(session, h.ws_url, headers={"Origin": "https://dash.example"})
    assert (await client.recv())["type"] == "hello"
    await client.ws.close()
    for origin in (
        "http://dash.example",  # scheme differs
        "https://dash.example:444",
        "https://sub.dash.example",
        "https://dash.example.evil",
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(h.ws_url, headers={"Origin": origin})
        assert info.value.status == 403, origin


# -- behind a proxy ------------------------------------------------------------------

PROXIED = {"X-Forwarded-Host": "logs.example", "X-Forwarded-Proto": "https"}


async def test_forwarded_headers_ignored_unless_trusted(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """Without --trust-proxy, anyone could name any host in X-Forwarded-Host."""
    h = await serve()
    headers = {**PROXIED, "Origin": "https://logs.example"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(h.ws_url, headers=headers)
    assert info.value.status == 403
    async with session.get(h.url + "api/streams/app/events", headers=headers) as response:
        assert response.status == 403


async def test_trusted_proxy_origin_is_scheme_and_forwarded_host(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    h = await serve(trust_proxy=True)
    ok = {**PROXIED, "Origin": "https://logs.example"}
    client = await ws_connect(session, h.ws_url, headers=ok)
    assert (await client.recv())["type"] == "hello"
    await client.ws.close()
    async with session.get(h.url + "api/streams/app/events", headers=ok) as response:
        assert response.status == 200
    # A chain of proxies: the first (client-side) value counts.
    chained = {
        "X-Forwarded-Host": "logs.example, inner.local",
        "X-Forwarded-Proto": "https, http",
        "Origin": "https://logs.example",
    }
    client = await ws_connect(session, h.ws_url, headers=chained)
    assert (await client.recv())["type"] == "hello"
    await client.ws.close()
    netloc = urlsplit(h.url).netloc
    for headers in (
        {**PROXIED, "Origin": "http://logs.example"},  # the browser's scheme differs
        {**PROXIED, "Origin": "https://evil.example"},
        # The proxy named another host: the server's own Host no longer counts.
        {**PROXIED, "Origin": f"https://{netloc}"},
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(h.ws_url, headers=headers)
        assert info.value.status == 403, headers
    # No forwarded headers (a direct request): the Host is the origin, as before.
    client = await ws_connect(session, h.ws_url, headers={"Origin": f"http://{netloc}"})
    assert (await client.recv())["type"] == "hello"
    await client.ws.close()


async def _cookie_attributes(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> list[str]:
    async with session.post(url + "api/login", json={"token": TOKEN}, headers=headers) as resp:
        assert resp.status == 204
        return [part.strip().lower() for part in resp.headers["Set-Cookie"].split(";")]


async def test_cookie_secure_flag_follows_a_trusted_proxy_only(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    plain = await serve(token=TOKEN)
    assert "secure" not in await _cookie_attributes(session, plain.url, {})
    # Untrusted: a client saying "https" changes nothing.
    https = {"X-Forwarded-Proto": "https"}
    assert "secure" not in await _cookie_attributes(session, plain.url, https)
    trusted = await serve(token=TOKEN, trust_proxy=True)
    assert "secure" in await _cookie_attributes(session, trusted.url, https)
    assert "secure" not in await _cookie_attributes(
        session, trusted.url, {"X-Forwarded-Proto": "http"}
    )
    assert "secure" not in await _cookie_attributes(session, trusted.url, {})


def test_trust_proxy_option_reaches_the_config() -> None:
    """--trust-proxy and TAILCAST_TRUST_PROXY set the Config field; off by default."""
    ns = build_parser()["serve"].parse_args(["--trust-proxy", "-"])
    assert build_config({"trust_proxy": ns.trust_proxy}, ["-"], environ={}).trust_proxy
    assert build_config({}, ["-"], environ={"TAILCAST_TRUST_PROXY": "yes"}).trust_proxy
    assert not build_config({}, ["-"], environ={}).trust_proxy
