"""The JSON HTTP routes: streams, history pages, stats, control, login."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from aiohttp import web

from tailcast.errors import UnknownStream
from tailcast.hub import Stream, decode_line
from tailcast.protocol.filters import LineFilter
from tailcast.web.auth import COOKIE, SESSION_SECONDS, is_https
from tailcast.web.keys import AUTH, CONFIG, HUB
from tailcast.web.params import MAX_SEQ, bounded_int, line_filter
from tailcast.web.responses import json_error
from tailcast.web.search import search_backwards, search_forwards

__all__ = [
    "TextLines",
    "list_streams",
    "login",
    "stream_lines",
    "stream_restart",
    "stream_stats",
    "stream_stop",
]

DEFAULT_LIMIT = 100  # lines of a page forward (since) or of the newest lines
DEFAULT_BEFORE_LIMIT = 1000  # lines of a page backwards (before)
# The most lines one page may ask for (and never more than --history): a page
# is built in memory, the whole history is for the streamed download.
MAX_LIMIT = 10_000
# The streamed download writes about this much text at a time, then waits
# until the socket has taken it: memory stays bounded whatever the history's size.
DOWNLOAD_WRITE_BYTES = 1024 * 1024


def _stream(request: web.Request) -> Stream:
    try:
        return request.app[HUB].get(request.match_info["id"])
    except UnknownStream as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


async def list_streams(request: web.Request) -> web.Response:
    """Every stream, or a share link's own ones."""
    principal = request.app[AUTH].principal(request)
    infos = request.app[HUB].infos()
    if principal is not None and principal.streams is not None:
        infos = [i for i in infos if principal.sees(i["id"])]
    return web.json_response({"streams": infos})


async def stream_lines(request: web.Request) -> web.StreamResponse:
    """A page of a stream's history: forward (since), backwards (before) or the newest.

    ``format=text`` with none of ``since``, ``before`` and ``limit`` is the
    whole kept history as plain text, streamed (:func:`_download`). With a
    filter (``q``, ``regex``, ``case``, ``invert``, ``levels``) the page holds only
    lines that pass, searched through the whole history (:mod:`tailcast.web.search`).
    """
    stream = _stream(request)
    since = bounded_int(request, "since", 0, MAX_SEQ)
    before = bounded_int(request, "before", 1, MAX_SEQ)
    if since is not None and before is not None:
        raise web.HTTPBadRequest(text="since and before cannot be used together")
    limit = bounded_int(request, "limit", 1, min(request.app[HUB].history, MAX_LIMIT))
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "text"):
        raise web.HTTPBadRequest(text="format must be json or text")
    flt = line_filter(request)
    if fmt == "text" and since is None and before is None and limit is None and flt is None:
        return await _download(request, stream)
    extra: dict[str, Any] = {}
    if flt is not None:
        lines, extra = await _search(stream, since, before, limit, flt)
    elif before is not None:
        _, lines = stream.read_before(before, DEFAULT_BEFORE_LIMIT if limit is None else limit)
    elif since is not None:
        _, lines = stream.lines_after(since, DEFAULT_LIMIT if limit is None else limit)
    else:
        _, lines = stream.newest(DEFAULT_LIMIT if limit is None else limit)
    if fmt == "text":
        text = TextLines()
        body = text.feed(lines) + text.end()
        return web.Response(text=body, content_type="text/plain", charset="utf-8")
    head: dict[str, Any] = {
        "stream": stream.id,
        "epoch": stream.epoch,
        "first_seq": stream.first_seq,
        "last_seq": stream.last_seq,
        **extra,
    }
    # Lines are already JSON: splice them in rather than decode and re-encode.
    body_bytes = json.dumps(head, separators=(",", ":"))[:-1].encode() + (
        b',"lines":[' + b",".join(lines) + b"]}"
    )
    return web.Response(body=body_bytes, content_type="application/json", charset="utf-8")


async def _search(
    stream: Stream, since: int | None, before: int | None, limit: int | None, flt: LineFilter
) -> tuple[list[bytes], dict[str, Any]]:
    """A filtered page: the lines, and where to ask again (``next_since``/``next_before``)."""
    if since is not None:
        lines, next_since = await search_forwards(
            stream, since, DEFAULT_LIMIT if limit is None else limit, flt
        )
        return lines, {"next_since": next_since}
    start = stream.last_seq + 1 if before is None else before
    default = DEFAULT_LIMIT if before is None else DEFAULT_BEFORE_LIMIT
    lines, next_before = await search_backwards(
        stream, start, default if limit is None else limit, flt
    )
    return lines, {"next_before": next_before}


class TextLines:
    """Encoded lines to plain text, one ``\n``-ended line each, fed in pieces.

    A ``cont`` piece continues the previous line: it is joined to it, not put
    on a line of its own, also across the pieces fed (the download feeds one
    chunk of the history at a time). A page that starts with a cont piece, or
    one after a hole in the history, starts a line: there is nothing of its
    line to join it to.
    """

    def __init__(self) -> None:
        self._open = False  # a line has been started and not yet ended
        self._next_seq: int | None = None

    def feed(self, lines: list[bytes]) -> str:
        out: list[str] = []
        for data in lines:
            line = decode_line(data)
            joins = bool(line.get("cont")) and self._open and line.get("seq") == self._next_seq
            if self._open and not joins:
                out.append("\n")
            out.append(line["text"])
            self._open = True
            seq = line.get("seq")
            self._next_seq = seq + 1 if isinstance(seq, int) else None
        return "".join(out)

    def end(self) -> str:
        """The last line's newline (nothing if no line came)."""
        return "\n" if self._open else ""


async def _download(request: web.Request, stream: Stream) -> web.StreamResponse:
    """The stream's whole kept history as text, written as it is read from disk.

    Chunked (the size is not known before the end); every write of about
    :data:`DOWNLOAD_WRITE_BYTES` is awaited until the socket has taken it, so
    memory stays bounded. The history is read up to the ``last_seq`` of the
    moment the download starts; lines that leave the history meanwhile are
    skipped, not waited for.
    """
    response = web.StreamResponse(
        headers={
            # inline: a browser shows it, and "save" or `curl -OJ` names it ID.log.
            "Content-Disposition": f'inline; filename="{stream.id}.log"',
            "Cache-Control": "no-store",
        }
    )
    response.content_type = "text/plain"
    response.charset = "utf-8"
    response.enable_chunked_encoding()
    await response.prepare(request)
    text = TextLines()
    pending: list[str] = []
    size = 0
    try:
        for chunk in stream.history.iter_all(DOWNLOAD_WRITE_BYTES):
            piece = text.feed(chunk)
            pending.append(piece)
            size += len(piece)
            if size >= DOWNLOAD_WRITE_BYTES:
                await response.write("".join(pending).encode())
                pending.clear()
                size = 0
        pending.append(text.end())
        await response.write("".join(pending).encode())
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away mid-download: nothing more to send
    return response


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
    found = auth.login(token, peer)
    if found is None:
        return json_error(401, "wrong token")
    session, principal = found
    max_age = SESSION_SECONDS
    share = auth.shares.get(principal.share) if principal.share is not None else None
    if share is not None:
        # A share's cookie lasts no longer than the share (it stops working then anyway).
        max_age = max(1, min(max_age, math.ceil(share.expires - time.time())))
    response = web.Response(status=204)
    config = request.app[CONFIG]
    response.set_cookie(
        COOKIE,
        session,
        path=config.base_path,
        httponly=True,
        samesite="Strict",
        secure=is_https(request, config.trust_proxy),
        max_age=max_age,
    )
    return response
