"""The middlewares: JSON errors, security headers on every answer, the auth gate."""

from __future__ import annotations

import aiohttp
import pytest

from tests.web.conftest import Serve

TOKEN = "correct horse battery staple"


async def test_security_headers_everywhere(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    for method, path in (
        ("GET", ""),
        ("GET", "healthz"),
        ("GET", "api/streams"),
        ("GET", "api/streams/app/lines?format=text"),
        ("GET", "api/streams/nope/lines"),
        ("GET", "api/streams/app/lines?since=x"),
        ("GET", "metrics"),
        ("POST", "api/streams/other/stop"),
        ("GET", "no/such/path"),
        ("GET", "static/nothing.js"),
    ):
        async with session.request(method, h.url + path) as response:
            headers = response.headers
            assert "default-src 'none'" in headers["Content-Security-Policy"], path
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["X-Frame-Options"] == "DENY", path
            assert headers["Referrer-Policy"] == "no-referrer", path


PROTECTED = [
    ("GET", "api/streams"),
    ("GET", "api/streams/app/lines"),
    ("GET", "api/streams/app/lines?format=text"),
    ("GET", "api/streams/app/events"),
    ("GET", "api/streams/app/stats"),
    ("POST", "api/streams/other/restart"),
    ("POST", "api/streams/other/stop"),
    ("GET", "metrics"),
    ("GET", "api/streams/nope/lines"),  # not even whether a stream exists
    ("GET", "no/such/path"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_routes_need_credentials(
    serve: Serve, session: aiohttp.ClientSession, method: str, path: str
) -> None:
    h = await serve(token=TOKEN, allow_control=True)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        async with session.request(method, h.url + path, headers=headers) as response:
            assert response.status == 401, (path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert (await response.json())["error"] == "not authenticated"
    # A token in the URL is never accepted.
    sep = "&" if "?" in path else "?"
    async with session.request(method, h.url + path + f"{sep}token={TOKEN}") as response:
        assert response.status == 401


async def test_healthz_and_viewer_are_open(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve(token=TOKEN)
    async with session.get(h.url + "healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    # The viewer's page holds no log data; it must load to show its login form.
    async with session.get(h.url) as response:
        assert response.status == 200
