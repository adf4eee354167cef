"""``tailcast share``: print a share link, list the live shares, or revoke one.

``tailcast share --url URL --stream ID... --expires 2h`` prints a link.

Asks the server (``POST /api/shares``, with the owner's token from
``TAILCAST_TOKEN``) for a share of those streams and prints the link to send:
``URL#share=TOKEN``. The token sits in the fragment, which a browser never
sends to a server; the viewer trades it for a session cookie and removes it
from the address bar. The share's id and expiry go to standard error, for
revoking it. ``tailcast share --url URL --list`` prints the live shares
(``GET /api/shares``), one a line: id, streams, expiry; ``tailcast share --url
URL --revoke ID`` ends one at once (``DELETE /api/shares/ID``).

Exit status: 0 done, 2 a bad argument (one line naming it), 3 the owner's
token was refused, 1 the server refused (an unknown share to revoke, say) or
could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

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


async def _request(
    method: str, url: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """One request with the owner's token: the status and the JSON answer (or the error text)."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, url, json=body, headers=headers) as response,
    ):
        if response.status == 204:
            return 204, {}
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            answer = {"error": (await response.text())[:200]}
        return response.status, answer


def _arguments(ns: argparse.Namespace) -> tuple[str, str]:
    """The server's URL and the owner's token, or :class:`ConfigError` naming what is wrong."""
    base = share_url(ns.url)
    chosen = [flag for flag, on in (("--list", ns.list), ("--revoke", ns.revoke)) if on]
    if len(chosen) > 1 or (chosen and ns.stream):
        also = "--stream" if ns.stream and chosen else chosen[-1]
        raise ConfigError(f"{chosen[0]}: not with {also} (list, revoke or share: one at a time)")
    if not chosen:
        parse_duration(ns.expires)
        if not ns.stream:
            raise ConfigError("--stream ID: name at least one stream to share")
    if ns.revoke is not None and not ns.revoke.strip():
        raise ConfigError("--revoke ID: name the share to revoke (its id, from --list)")
    token = os.environ.get("TAILCAST_TOKEN")
    if not token:
        raise ConfigError("TAILCAST_TOKEN is not set: shares are managed with the owner's token")
    return base, token


def share_main(ns: argparse.Namespace) -> int:
    try:
        base, token = _arguments(ns)
    except ConfigError as exc:
        print(f"tailcast: {exc}", file=sys.stderr)
        return 2
    if ns.list:
        method, url, body = "GET", base + "api/shares", None
    elif ns.revoke is not None:
        method, url, body = "DELETE", base + "api/shares/" + quote(ns.revoke, safe=""), None
    else:
        body = {"streams": list(ns.stream), "expires_in": parse_duration(ns.expires)}
        method, url = "POST", base + "api/shares"
    try:
        code, answer = asyncio.run(_request(method, url, token, body))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        print(f"tailcast share: cannot reach {base}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    if code == 401:
        print("tailcast share: the server refused the token (TAILCAST_TOKEN)", file=sys.stderr)
        return 3
    if ns.list:
        return _listed(code, answer)
    if ns.revoke is not None:
        return _revoked(code, answer, ns.revoke)
    return _created(base, code, answer)


def _refused(code: int, answer: Any) -> int:
    error = answer.get("error") if isinstance(answer, dict) else None
    print(f"tailcast share: the server said {code}: {error or answer}", file=sys.stderr)
    return 1


def _until(expires: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(float(expires)))


def _created(base: str, code: int, answer: Any) -> int:
    if code != 201 or not isinstance(answer, dict) or "token" not in answer:
        return _refused(code, answer)
    print(f"{base}#share={answer['token']}")
    print(
        f"tailcast share: {answer['id']} for {', '.join(answer['streams'])}, "
        f"until {_until(answer['expires'])}",
        file=sys.stderr,
    )
    return 0


def _listed(code: int, answer: Any) -> int:
    shares = answer.get("shares") if isinstance(answer, dict) else None
    if code != 200 or not isinstance(shares, list):
        return _refused(code, answer)
    for share in shares:  # id, streams, expiry: one a line, for cut and awk
        print(f"{share['id']}\t{','.join(share['streams'])}\t{_until(share['expires'])}")
    return 0


def _revoked(code: int, answer: Any, share_id: str) -> int:
    if code == 404:
        print(f"tailcast share: no live share {share_id!r} (unknown, or ended)", file=sys.stderr)
        return 1
    if code != 204:
        return _refused(code, answer)
    print(f"tailcast share: {share_id} revoked", file=sys.stderr)
    return 0
