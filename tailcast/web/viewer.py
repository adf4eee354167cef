"""The viewer's files: the page at the base path and ``static/NAME``.

The files are found in the installed package (``tailcast/static``) or, run
from a checkout, in the source tree's ``static/``. They hold no log data, so
the auth middleware leaves them open: the viewer must load to show its login.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from tailcast.web.keys import CONFIG

__all__ = ["index", "static_dir", "static_file"]


def static_dir() -> Path:
    """Where the viewer's files are: inside the installed package, or the source tree."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "static", here.parent / "static"):
        if (candidate / "index.html").is_file():
            return candidate
    raise FileNotFoundError("the viewer's static files are missing from this installation")


async def index(request: web.Request) -> web.StreamResponse:
    """The viewer's page; the base path without its slash redirects to it."""
    base = request.app[CONFIG].base_path
    if request.path != base:
        raise web.HTTPPermanentRedirect(base)
    response = web.FileResponse(static_dir() / "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _static_path(name: str) -> Path | None:
    root = static_dir().resolve()
    try:
        path = (root / name).resolve()
        # resolve() has already applied "..", symlinks and the like: whatever the
        # encoding, the result must still be a file inside the viewer's folder.
        if path.is_relative_to(root) and path.is_file():
            return path
    except (OSError, ValueError):
        # A NUL byte (ValueError), a name too long for the system (OSError):
        # no such file either — never a 500 (found by tests/security/test_fuzz.py).
        pass
    return None


async def static_file(request: web.Request) -> web.StreamResponse:
    """The viewer's files; a missing one is a JSON 404 like every other error."""
    path = await asyncio.to_thread(_static_path, request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound(text="no such file")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
