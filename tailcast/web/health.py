"""``GET /healthz``: the server answers (for load balancers and orchestrators).

Open without credentials (see :mod:`tailcast.web.middleware`). ``200
{"status": "ok"}`` while serving; when some stream's history could not be
written to disk (full, failing) it adds ``"degraded"``: why, one entry per
stream (``"ID: reason"``). Still ``200`` then, on purpose: live delivery goes
on and the disk is retried by itself, so an orchestrator that restarted the
server would only lose the part kept in memory.

With a token set, a caller without credentials (or with a share link's)
learns only the reasons, not the stream ids (every other route that names
streams needs the token).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tailcast.web.keys import AUTH, HUB, SOURCE_HUB

__all__ = ["degraded_reasons", "healthz"]


def degraded_reasons(app: web.Application) -> list[str]:
    """``"ID: reason"`` for every stream of the app's hubs whose history is in memory only."""
    reasons = app[HUB].degraded()
    source_hub = app.get(SOURCE_HUB)
    if source_hub is not None:  # multi-host: the node's own sources write there
        reasons += [r for r in source_hub.degraded() if r not in reasons]
    return reasons


async def healthz(request: web.Request) -> web.Response:
    reasons = degraded_reasons(request.app)
    auth = request.app[AUTH]
    principal = auth.principal(request)
    if reasons and (principal is None or not principal.is_owner):
        # "ID: reason" -> "reason" (a stream id has no ':'), each reason once.
        reasons = list(dict.fromkeys(r.partition(": ")[2] for r in reasons))
    body: dict[str, Any] = {"status": "ok"}
    if reasons:
        body["degraded"] = reasons
    return web.json_response(body)
