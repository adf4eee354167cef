"""``GET /healthz``: the server answers (for load balancers and orchestrators).

Open without credentials (see :mod:`tailcast.web.middleware`): it tells
nothing but that the process serves HTTP.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["healthz"]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
