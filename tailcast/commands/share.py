"""``tailcast share --url URL --stream ID... --expires 2h``: print a share link.

Asks the server (``POST /api/shares``, with the owner's token from
``TAILCAST_TOKEN``) for a share of those streams and prints the link to send:
``URL#share=TOKEN``. The token sits in the fragment, which a browser never
sends to a server; the viewer trades it for a session cookie and removes it
from the address bar. The share's id and expiry go to standard error, for
revoking it (``DELETE /api/shares/ID``).

Exit status: 0 printed, 2 a bad argument (one line naming it), 3 the owner's
token was refused, 1 the server refused the share or could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from tailcast.errors import ConfigError
from tailcast.shares import MAX_EXPIRES_IN

__all__ = ["parse_duration", "share_main", "share_url"]

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_RE = re.compile(r"^(\d+)([smhd]?)$")
REQUEST_TIMEOUT = 30.0


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``1d`` (or plain seconds) -> seconds."""
    match = DURATION_RE.match(text.strip().lower())
    seconds = int(match.group(1)) * UNITS[match.group(2) or "s"] if match else 0
    if not 0 < seconds <= MAX_EXPIRES_IN:
        raise ConfigError(
            f"--expires {text!r}: expected a duration like 90s, 30m, 2h or 1d "
            f"(at most {MAX_EXPIRES_IN // 86400}d)"
        )
    return seconds


def share_url(url: str) -> str:
    """The viewer's URL, ``http(s)://host[:port]/base/``, to put the fragment on."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--url {url!r}: expected an http:// or https:// URL")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


async def _create(base: str, token: str, streams: list[str], expires_in: int) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"streams": streams, "expires_in": expires_in}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(base + "api/shares", json=body, headers=headers) as response,
    ):
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            answer = {"error": (await response.text())[:200]}
        return response.status, answer


def share_main(ns: argparse.Namespace) -> int:
    try:
        base = share_url(ns.url)
        expires_in = parse_duration(ns.expires)
        if not ns.stream:
            raise ConfigError("--stream ID: name at least one stream to share")
        token = os.environ.get("TAILCAST_TOKEN")
        if not token:
            raise ConfigError("TAILCAST_TOKEN is not set: a share is made with the owner's token")
    except ConfigError as exc:
        print(f"tailcast: {exc}", file=sys.stderr)
        return 2
    try:
        code, answer = asyncio.run(_create(base, token, list(ns.stream), expires_in))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        print(f"tailcast share: cannot reach {base}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    error = answer.get("error") if isinstance(answer, dict) else None
    if code == 401:
        print("tailcast share: the server refused the token (TAILCAST_TOKEN)", file=sys.stderr)
        return 3
    if code != 201 or not isinstance(answer, dict) or "token" not in answer:
        print(f"tailcast share: the server said {code}: {error or answer}", file=sys.stderr)
        return 1
    print(f"{base}#share={answer['token']}")
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(answer["expires"]))
    print(
        f"tailcast share: {answer['id']} for {', '.join(answer['streams'])}, until {expires}",
        file=sys.stderr,
    )
    return 0
