"""Multi-host mode, agent side: the hot command, one ``XADD``, as raw RESP.

An agent following a file written a line at a time makes one ``XADD`` round
trip per file step (20 ms). Through redis-py's asyncio client one costs about
100 µs of CPU (its pool, retry wrapper, hooks and reply parser); written and
read here, on the same connection, about 30 µs (``python
bench/redis_roundtrip.py``): with many agents on one machine, most of what
they spend.

The connection is one of the client's own pool, taken out of it for the
lane's use alone, so the ``--redis`` URL means what it means everywhere:
redis-py connected it (TLS, password, database, unix socket). Only this one
command and its reply go around redis-py, on the connection's asyncio
streams (redis-py's private ``_reader``/``_writer``): where a redis-py
version has them not, :meth:`XaddLane.open` returns None and the publisher
uses redis-py for every command, as before.

Every failure is an outage (:class:`~tailcast.errors.ConnectionLost`; the
connection is closed, never given back) except an error reply
(:class:`ErrorReply`: the connection is still good), which the caller
judges. A cancelled command leaves a reply unread: that connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tailcast.alarm import Alarm
from tailcast.errors import ConnectionLost
from tailcast.multihost.client import SOCKET_TIMEOUT, redis_exceptions

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["ErrorReply", "Lanes", "XaddLane", "pack"]

# A reply longer than this is not an XADD's (an entry id): the stream is not
# what it should be.
MAX_REPLY = 1024
# A pool smaller than this keeps its connections for redis-py (the lane takes one
# for good; the publisher's other commands need one at a time).
MIN_POOL = 4


class ErrorReply(Exception):
    """Redis answered ``-ERR ...`` (the message); the connection is still good."""


def pack(*args: bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    head = b"*%d\r\n" % len(args)
    return head + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class XaddLane:
    """One pool connection taken out for XADDs; :meth:`close` gives it back."""

    def __init__(self, client: Redis, conn: Any) -> None:
        self._client = client
        self._conn: Any = conn
        self._reader: asyncio.StreamReader = conn._reader
        self._writer: asyncio.StreamWriter = conn._writer
        # The read timeout: an alarm armed as each command starts (a timer per
        # expiry: one per round trip, set and cancelled, cost a tenth of it).
        # Commands go one at a time, so when it rings, SOCKET_TIMEOUT has
        # passed since the start of the command in flight, if there is one.
        self._in_flight = False
        self._watch = Alarm(self._expired)

    @classmethod
    async def open(cls, client: Redis) -> XaddLane | None:
        """A lane on a connected pool connection; None if this redis-py hides its streams.

        None too for a pool of fewer than :data:`MIN_POOL` connections.
        """
        pool: Any = client.connection_pool
        if getattr(pool, "max_connections", MIN_POOL) < MIN_POOL:
            return None  # (a URL's ?max_connections= too small to spare one)
        conn = await pool.get_connection()
        try:
            await conn.connect()  # (a no-op when connected: redis-py connects lazily)
        except BaseException:
            await pool.release(conn)
            raise
        if not isinstance(getattr(conn, "_reader", None), asyncio.StreamReader) or not isinstance(
            getattr(conn, "_writer", None), asyncio.StreamWriter
        ):
            await pool.release(conn)
            return None
        return cls(client, conn)

    @property
    def closed(self) -> bool:
        return self._conn is None

    def belongs_to(self, client: Redis) -> bool:
        return self._client is client

    async def xadd(
        self, key: bytes, minid: bytes, entry: bytes, fields: dict[bytes, bytes]
    ) -> None:
        """``XADD key MINID = minid entry field value ...``; :class:`ErrorReply` if refused."""
        if self._conn is None:
            raise ConnectionLost("redis: the XADD connection is closed")
        flat = [item for pair in fields.items() for item in pair]
        self._in_flight = True
        self._watch.arm(SOCKET_TIMEOUT)
        try:
            self._writer.write(pack(b"XADD", key, b"MINID", b"=", minid, entry, *flat))
            head = await self._reader.readline()
            if head[:1] == b"$" and head[1:2] != b"-":
                size = int(head[1:])
                if size > MAX_REPLY:
                    raise ValueError(f"a reply of {size} bytes")
                await self._reader.readexactly(size + 2)
        except (OSError, EOFError, ValueError) as exc:
            await self.drop()
            raise ConnectionLost(f"redis: XADD failed: {exc!r}") from None
        except asyncio.CancelledError:
            # A reply may be unread: the connection is in an unknown state.
            self._abandon()
            raise
        finally:
            self._in_flight = False
        if head[:1] == b"-":
            raise ErrorReply(head[1:].strip().decode(errors="replace"))
        if head[:1] not in (b"$", b"+"):
            await self.drop()
            raise ConnectionLost(f"redis: unexpected XADD reply {head[:40]!r}")

    def _expired(self) -> None:
        """The watch alarm: a command in flight for SOCKET_TIMEOUT ends the connection.

        Aborted, its read ends (EOF): the command raises ConnectionLost.
        """
        if self._in_flight and self._conn is not None:
            transport: Any = self._writer.transport
            transport.abort()

    def _forget(self) -> Any:
        """The connection, taken from the lane (None if it had none), its timer stopped."""
        conn, self._conn = self._conn, None
        self._watch.cancel()
        return conn

    def _abandon(self) -> None:
        """Closed at once, without awaiting (a cancelled task may not await)."""
        if self._forget() is not None:
            self._writer.close()

    async def drop(self) -> None:
        """The connection is in an unknown state: closed, not given back as it is."""
        conn = self._forget()
        if conn is not None:
            await conn.disconnect()
            pool: Any = self._client.connection_pool
            await pool.release(conn)  # (disconnected: the pool connects it again if used)

    async def close(self) -> None:
        """Give the connection back to the pool (it is in a known state)."""
        conn = self._forget()
        if conn is not None:
            pool: Any = self._client.connection_pool
            await pool.release(conn)


class Lanes:
    """The publisher's lane for the client it uses now (a new client, a new lane)."""

    def __init__(self) -> None:
        self._lane: XaddLane | None = None
        self.unsupported = False  # this redis-py hides its connections' streams
        self.opened = 0  # lanes opened (one more after each outage)
        self.on_lane = 0  # XADDs sent on a lane
        self.by_redis_py = 0  # and by redis-py (no lane)

    async def get(self, client: Redis) -> XaddLane | None:
        """The lane of ``client``, opened if need be; None: use redis-py."""
        if self.unsupported:
            return None
        lane = self._lane
        if lane is None or lane.closed or not lane.belongs_to(client):
            # (a lane of an earlier client was closed with that client)
            lane = self._lane = await XaddLane.open(client)
            self.unsupported = lane is None
            self.opened += lane is not None
        return lane

    async def xadd(
        self, client: Redis, key: str, fields: dict[bytes, bytes], entry: str, minid: str
    ) -> BaseException | None:
        """One ``XADD key MINID = minid entry ...``: None, or the error reply as redis-py's.

        On the lane, or by redis-py's ``xadd`` where there is none.
        """
        refused: type[BaseException] = redis_exceptions().ResponseError
        lane = await self.get(client)
        redis_fields: dict[Any, Any] = fields  # (redis-py's field type refuses ours)
        try:
            if lane is None:
                self.by_redis_py += 1
                await client.xadd(key, redis_fields, id=entry, minid=minid, approximate=False)
            else:
                self.on_lane += 1
                await lane.xadd(key.encode(), minid.encode(), entry.encode(), fields)
        except ErrorReply as exc:
            return refused(str(exc))
        except refused as exc:
            return exc
        return None

    def statistics(self) -> dict[str, int | bool]:
        return {
            "unsupported": self.unsupported,
            "opened": self.opened,
            "on_lane": self.on_lane,
            "by_redis_py": self.by_redis_py,
        }

    async def close(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            await lane.close()
