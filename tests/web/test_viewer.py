"""The viewer's page and its static files (never a file outside the viewer's folder)."""

from __future__ import annotations

import aiohttp

from tests.web.conftest import Serve


async def test_viewer_is_served(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    async with session.get(h.url) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "<" in await response.text()


async def test_static_files_never_leave_the_viewer_folder(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """Traversal in any encoding, and a missing file, are JSON 404s; real files are served."""
    h = await serve()
    async with session.get(h.url + "static/app.js") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/javascript"
    for path in (
        "static/nope.js",
        "static/ansi/",
        "static/../setup.cfg",
        "static/%2e%2e/%2e%2e/setup.cfg",
        "static/..%2f..%2fsetup.cfg",
        "static/%252e%252e/setup.cfg",
        "static/..%5c..%5csetup.cfg",
        "static//etc/passwd",
        "static/%2fetc%2fpasswd",
    ):
        async with session.get(h.url + path) as resp:
            assert resp.status == 404, path
            assert resp.content_type == "application/json", path
            assert "error" in await resp.json(), path
