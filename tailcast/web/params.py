"""Query parameters (and the ``Last-Event-ID`` header) shared by api, sse and ws.

Each bad value is a ``400`` whose text names the parameter and what it must be;
the messages are part of the HTTP contract, so every route words the same
check the same way.
"""

from __future__ import annotations

from aiohttp import web

from tailcast.protocol import wire
from tailcast.protocol.filters import BadFilter, LineFilter, compile_filter, parse_filter

__all__ = ["MAX_SEQ", "bounded_int", "line_filter", "natural", "stream_ids"]

# The largest seq a client may name: JavaScript's largest exact integer.
MAX_SEQ = 2**53


def _whole(value: str) -> int | None:
    """``value`` as an int (Python's ``int()`` rules), ``None`` if it is not one."""
    try:
        return int(value)
    except ValueError:
        return None


def bounded_int(request: web.Request, name: str, low: int, high: int) -> int | None:
    """Query parameter ``name`` as a whole number from ``low`` to ``high``; ``None`` if absent."""
    if name not in request.query:
        return None
    value = _whole(request.query[name])
    if value is None or not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from {low} to {high}")
    return value


def natural(value: str, name: str) -> int:
    """``value`` (of parameter or header ``name``) as a whole number from 0 to :data:`MAX_SEQ`."""
    number = _whole(value)
    if number is None or not 0 <= number <= MAX_SEQ:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number of 0 or more")
    return number


def stream_ids(request: web.Request) -> list[str] | None:
    """``?streams=ID,ID`` (``*`` for every stream); ``None`` if absent."""
    raw = request.query.get("streams")
    if raw is None:
        return None
    streams = [s.strip() for s in raw.split(",") if s.strip()]
    for stream_id in streams:
        if stream_id != wire.ALL and not wire.STREAM_ID_RE.match(stream_id):
            raise web.HTTPBadRequest(text=f"not a stream id: {stream_id[:80]!r}")
    return streams


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value is None or value in ("0", "false"):
        return False
    if value in ("1", "true", ""):
        return True
    raise web.HTTPBadRequest(text=f"{name} must be 1 or 0")


def line_filter(request: web.Request) -> LineFilter | None:
    """The filter of ``q``, ``regex=1``, ``case=1``, ``invert=1``, ``levels=a,b``; None if none.

    A bad pattern or level is a ``400`` naming it.
    """
    query = request.query
    try:
        spec = parse_filter(
            {
                "text": query.get("q", ""),
                "regex": _flag(request, "regex"),
                "case": _flag(request, "case"),
                "invert": _flag(request, "invert"),
                "levels": query.get("levels", ""),
            }
        )
        return None if spec.empty else compile_filter(spec)
    except BadFilter as exc:
        name = "levels" if "level" in str(exc) and "pattern" not in str(exc) else "q"
        raise web.HTTPBadRequest(text=f"{name}: {exc}") from None
