"""Multi-host mode, the shared part: the Redis URL, the client, and the key layout.

Agents publish into Redis Streams and web nodes read them back
(:mod:`tailcast.redis_publish`, :mod:`tailcast.redis_mirror`). This module
holds what both sides must agree on. Keys (``P`` = :data:`PREFIX`)::

    P streams                 hash: stream id -> StreamRecord JSON (identity + state)
    P events                  stream: one entry per new/changed/removed stream and per
                              tail -F event, so web nodes learn of them without polling
    P lines:ID:EPOCH          stream: the lines of one stream in one epoch; entry id
                              ``SEQ-0``, field ``l`` = the line exactly as encoded by
                              the agent (web nodes store and send these bytes as is)
    P agent:INSTANCE          key with a TTL: that agent is alive (heartbeat)

Entry ids come from ``seq``: Redis refuses an id that is not above the last
one, so a line published twice (a retry after a lost reply) is refused by
Redis itself, and every web node numbers every line exactly as the agent did.
A new epoch (the agent restarted) gets a new key, so numbering can restart at 1.

redis-py is imported lazily: tailcast without ``--redis`` does not need it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from tailcast.errors import ConfigError, ConnectionLost

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "BACKOFF",
    "BLOCK_MS",
    "CONNECT_TIMEOUT",
    "EVENTS",
    "PREFIX",
    "STREAMS",
    "StreamRecord",
    "agent_key",
    "check_reachable",
    "check_url",
    "connect",
    "entry_seq",
    "hgetall",
    "lines_key",
    "newest",
    "reconnect_forever",
    "redact",
    "xread",
    "xread_items",
]

PREFIX = "tailcast:"
STREAMS = PREFIX + "streams"
EVENTS = PREFIX + "events"
# The events stream only has to bridge the time between two full reads of the
# STREAMS hash (web nodes re-read it regularly), so a small cap is enough.
EVENTS_MAXLEN = 10_000
CONNECT_TIMEOUT = 5.0
# A web node's blocking XREAD waits at most this long; the socket timeout is
# above it so that a silent network partition still ends in an error.
BLOCK_MS = 1000
SOCKET_TIMEOUT = BLOCK_MS / 1000 + 10.0


def lines_key(stream_id: str, epoch: str) -> str:
    return f"{PREFIX}lines:{stream_id}:{epoch}"


def agent_key(instance: str) -> str:
    return f"{PREFIX}agent:{instance}"


def instance_name() -> str:
    """An id for one agent process, readable by an operator (host first)."""
    import os
    import secrets

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class StreamRecord:
    """What Redis knows of a stream besides its lines (one ``STREAMS`` hash field)."""

    id: str
    name: str
    kind: str
    epoch: str
    state: str
    key: str
    agent: str
    extra: dict[str, Any] = field(default_factory=dict)  # exit_code, message, signal
    detail: dict[str, Any] = field(default_factory=dict)  # path, argv, container

    def dumps(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def loads(cls, data: bytes | str) -> StreamRecord:
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("stream record is not an object")
        return cls(
            id=str(obj["id"]),
            name=str(obj["name"]),
            kind=str(obj["kind"]),
            epoch=str(obj["epoch"]),
            state=str(obj["state"]),
            key=str(obj["key"]),
            agent=str(obj["agent"]),
            extra=dict(obj.get("extra") or {}),
            detail=dict(obj.get("detail") or {}),
        )


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
    """Refuse a URL redis-py could not use, naming ``--redis`` (a :class:`ConfigError`)."""
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
    _import_redis()


def _import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigError(
            "--redis: multi-host mode needs the redis package (pip install 'tailcast[redis]')",
            option="redis",
        ) from None
    return redis.asyncio


def connect(url: str) -> Redis:
    """A redis-py asyncio client (bytes in, bytes out). TLS and password come from the URL."""
    aioredis = _import_redis()
    client: Redis = aioredis.from_url(
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
    import redis.exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, OSError, ConnectionLost)


async def check_reachable(url: str) -> None:
    """One PING at start-up: an unreachable Redis or a refused password is a ConfigError."""
    import redis.exceptions as rex

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


def entry_seq(entry_id: bytes | str) -> int:
    """The ``seq`` of a lines entry from its id ``SEQ-0``."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


Entries = list[tuple[bytes, dict[bytes, bytes]]]


async def newest(client: Redis, key: str, count: int) -> Entries:
    """The newest ``count`` entries of a Redis stream, newest first."""
    reply: Any = await client.xrevrange(key, "+", "-", count=count)
    return [(entry_id, fields) for entry_id, fields in reply or ()]


async def xread(client: Redis, positions: dict[str, str], count: int, block: int) -> Any:
    """A blocking ``XREAD`` (typed loosely: redis-py's annotations are narrower than its use)."""
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


# Seconds between attempts while Redis is away (the last one repeats).
BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)


async def reconnect_forever(
    connected: asyncio.Event,
    sync: Callable[[], Awaitable[None]],
    work: Callable[[], Awaitable[None]],
    on_back: Callable[[], None],
    on_error: Callable[[BaseException, bool], None],
) -> NoReturn:
    """The loop both sides of multi-host mode run: ``sync``, then ``work`` until
    Redis fails; then back off and sync again, forever (until cancelled).

    ``connected`` is set while synced. ``on_back`` runs once per reconnection;
    ``on_error(exc, outage_started)`` on every failure, ``outage_started``
    true only on the first of an outage (to log it and show it once).
    """
    attempt = 0
    while True:
        try:
            if not connected.is_set():
                await sync()
                connected.set()
                on_back()
            attempt = 0
            await work()
        except asyncio.CancelledError:
            raise
        except redis_errors() as exc:
            on_error(exc, connected.is_set())
            connected.clear()
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1
