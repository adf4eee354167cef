"""The JSON HTTP routes: streams, history pages, stats, control, login."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tailcast.errors import UnknownStream
from tailcast.hub import Stream, decode_line
from tailcast.web.auth import COOKIE, SESSION_SECONDS, is_https
from tailcast.web.keys import AUTH, CONFIG, HUB
from tailcast.web.params import MAX_SEQ, bounded_int
from tailcast.web.responses import json_error

__all__ = ["list_streams", "login", "stream_lines", "stream_restart", "stream_stats", "stream_stop"]

DEFAULT_LIMIT = 100


def _stream(request: web.Request) -> Stream:
    try:
        return request.app[HUB].get(request.match_info["id"])
    except UnknownStream as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


async def list_streams(request: web.Request) -> web.Response:
    return web.json_response({"streams": request.app[HUB].infos()})


async def stream_lines(request: web.Request) -> web.Response:
    stream = _stream(request)
    history = request.app[HUB].history
    since = bounded_int(request, "since", 0, MAX_SEQ)
    limit = bounded_int(request, "limit", 1, history)
    limit = DEFAULT_LIMIT if limit is None else limit
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "text"):
        raise web.HTTPBadRequest(text="format must be json or text")
    if since is None:
        _, lines = stream.newest(limit)
    else:
        _, lines = stream.lines_after(since, limit)
    if fmt == "text":
        out: list[str] = []
        for data in lines:
            line = decode_line(data)
            # A cont piece continues the previous line: join, do not break.
            if line.get("cont") and out:
                out[-1] += line["text"]
            else:
                out.append(line["text"])
        body = "".join(t + "\n" for t in out)
        return web.Response(text=body, content_type="text/plain", charset="utf-8")
    head: dict[str, Any] = {
        "stream": stream.id,
        "epoch": stream.epoch,
        "first_seq": stream.first_seq,
        "last_seq": stream.last_seq,
    }
    # Lines are already JSON: splice them in rather than decode and re-encode.
    body_bytes = json.dumps(head, separators=(",", ":"))[:-1].encode() + (
        b',"lines":[' + b",".join(lines) + b"]}"
    )
    return web.Response(body=body_bytes, content_type="application/json", charset="utf-8")


async def stream_stats(request: web.Request) -> web.Response:
    stream = _stream(request)
    if stream.stats_provider is None:
        return json_error(404, f"stream {stream.id} has no stats (Docker streams only)")
    stats = await stream.stats_provider()
    return web.json_response(stats)


async def _control(request: web.Request, action: str) -> web.Response:
    stream = _stream(request)
    if not request.app[CONFIG].allow_control:
        return json_error(403, "control is disabled (start the server with --allow-control)")
    if stream.kind != "process" or stream.controller is None:
        return json_error(
            403, f"only process streams can be controlled; {stream.id} is a {stream.kind} stream"
        )
    if action == "restart":
        await stream.controller.restart()
    else:
        await stream.controller.stop()
    return web.json_response({"stream": stream.id, "action": action}, status=202)


async def stream_restart(request: web.Request) -> web.Response:
    return await _control(request, "restart")


async def stream_stop(request: web.Request) -> web.Response:
    return await _control(request, "stop")


async def login(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    peer = request.remote or ""
    if auth.login_throttled(peer):
        return json_error(429, "too many failed logins; wait a minute", **{"Retry-After": "60"})
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return json_error(400, 'body must be JSON {"token": TOKEN}')
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        return json_error(400, 'body must be JSON {"token": TOKEN}')
    if not auth.enabled:
        return web.Response(status=204)
    session = auth.login(token, peer)
    if session is None:
        return json_error(401, "wrong token")
    response = web.Response(status=204)
    config = request.app[CONFIG]
    response.set_cookie(
        COOKIE,
        session,
        path=config.base_path,
        httponly=True,
        samesite="Strict",
        secure=is_https(request, config.trust_proxy),
        max_age=SESSION_SECONDS,
    )
    return response
