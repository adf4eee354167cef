"""The one shape of an error answer: JSON ``{"error": TEXT}`` with its status.

A leaf module (it imports only aiohttp) because both the middlewares and the
route handlers answer errors this way; neither should import the other for it.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["json_error"]


def json_error(status: int, message: str, **headers: str) -> web.Response:
    """``{"error": message}`` with ``status`` and any extra headers (``Retry-After``...)."""
    return web.json_response({"error": message}, status=status, headers=headers or None)
