"""Multi-host mode, the Redis client: the ``--redis`` URL, redis-py, and its replies.

The URL carries everything: ``rediss://`` is TLS (``?ssl_ca_certs=`` and the
other redis-py query options apply), a password is ``redis://:PW@host``, and
:func:`redact` keeps it out of every log line and error message.

redis-py is optional (``tailcast[redis]``) and is imported here only, at the
point of use: importing any ``tailcast.multihost`` module works without it,
and using ``--redis`` without it is a :class:`ConfigError` naming the option,
not a bare ImportError. The helpers at the end type redis-py's replies loosely
(its annotations are narrower than its use) and accept both RESP2 and RESP3.
"""

from __future__ import annotations

import urllib.parse
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tailcast.errors import ConfigError, ConnectionLost

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "BLOCK_MS",
    "CONNECT_TIMEOUT",
    "SOCKET_TIMEOUT",
    "Entries",
    "check_reachable",
    "check_url",
    "connect",
    "hgetall",
    "newest",
    "redact",
    "redis_errors",
    "redis_exceptions",
    "xread",
    "xread_items",
]

CONNECT_TIMEOUT = 5.0
# A web node's blocking XREAD waits at most this long; the socket timeout is
# above it so that a silent network partition still ends in an error.
BLOCK_MS = 1000
SOCKET_TIMEOUT = BLOCK_MS / 1000 + 10.0

MISSING = "--redis: multi-host mode needs the redis package (pip install 'tailcast[redis]')"


def redact(url: str) -> str:
    """The URL without its password, fit for logs and error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def check_url(url: str) -> None:
    """Refuse a URL redis-py could not use, naming ``--redis`` (a :class:`ConfigError`).

    Also refuses when redis-py is missing: before anything starts, not at the
    first connection.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"--redis: {redact(url)!r} is not a redis://, rediss:// or unix:// URL", option="redis"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError("--redis: a unix:// URL needs a socket path", option="redis")
    elif not parts.hostname:
        raise ConfigError(f"--redis: {redact(url)!r} names no host", option="redis")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"--redis: {redact(url)!r} has a bad port", option="redis") from None
    _redis_asyncio()


def _redis_asyncio() -> Any:
    """``redis.asyncio``, or the ConfigError that says how to install it."""
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigError(MISSING, option="redis") from None
    return redis.asyncio


def redis_exceptions() -> ModuleType:
    """``redis.exceptions`` (through the same check as :func:`connect`)."""
    try:
        import redis.exceptions
    except ImportError:
        raise ConfigError(MISSING, option="redis") from None
    return redis.exceptions


def connect(url: str) -> Redis:
    """A redis-py asyncio client (bytes in, bytes out). TLS and password come from the URL."""
    client: Redis = _redis_asyncio().from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        decode_responses=False,
        # Our own loops reconnect with backoff and resynchronise; redis-py's
        # silent retries would hide the outage from them.
        retry_on_timeout=False,
    )
    return client


def redis_errors() -> tuple[type[BaseException], ...]:
    """What means "Redis is not there right now" (translated to :class:`ConnectionLost`)."""
    rex = redis_exceptions()
    return (rex.ConnectionError, rex.TimeoutError, OSError, ConnectionLost)


async def check_reachable(url: str) -> None:
    """One PING at start-up: an unreachable Redis or a refused password is a ConfigError."""
    rex = redis_exceptions()
    client = connect(url)
    try:
        await client.ping()
    except rex.AuthenticationError as exc:
        raise ConfigError(
            f"--redis: {redact(url)}: authentication failed ({exc})", option="redis"
        ) from None
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        raise ConfigError(f"--redis: cannot reach {redact(url)}: {exc}", option="redis") from None
    except rex.ResponseError as exc:
        raise ConfigError(f"--redis: {redact(url)}: {exc}", option="redis") from None
    finally:
        await client.aclose()


# -- replies ---------------------------------------------------------------------------

Entries = list[tuple[bytes, dict[bytes, bytes]]]


async def newest(client: Redis, key: str, count: int) -> Entries:
    """The newest ``count`` entries of a Redis stream, newest first."""
    reply: Any = await client.xrevrange(key, "+", "-", count=count)
    return [(entry_id, fields) for entry_id, fields in reply or ()]


async def xread(client: Redis, positions: dict[bytes, bytes], count: int, block: int) -> Any:
    """A blocking ``XREAD`` (the reply goes to :func:`xread_items`)."""
    streams: Any = positions
    return await client.xread(streams, count=count, block=block)


async def hgetall(client: Redis, key: str) -> dict[bytes, bytes]:
    reply: Any = await client.hgetall(key)
    return dict(reply or {})


def xread_items(reply: Any) -> list[tuple[bytes, Entries]]:
    """An XREAD reply as ``[(key, entries)]`` whether the client speaks RESP2 or RESP3."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(k, list(v[0] if v and isinstance(v[0], list) else v)) for k, v in reply.items()]
    return [(k, list(v)) for k, v in reply]
