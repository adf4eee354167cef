"""``GET /healthz``: open, JSON, always ``{"status": "ok"}``."""

from __future__ import annotations

import aiohttp

from tests.web.conftest import Serve, get_json


async def test_healthz(serve: Serve, session: aiohttp.ClientSession) -> None:
    h = await serve()
    assert await get_json(session, h.url + "healthz") == {"status": "ok"}
