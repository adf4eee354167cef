"""Multi-host mode, agent side: one round trip of ``XADD``s, for one stream or many.

An agent following many files sends what every one of them has in one round
trip, up to about :data:`PIPELINE` entries (a stream's batches are never
split between round trips): one round trip per stream would make an agent
following 50 files wait 50 round-trip times per step, most of a step over a
network. :class:`Outgoing` is one stream's part of a round trip; :func:`send`
writes every entry, in order, and gives back what Redis said to each: one
entry alone goes as raw RESP on the lane (:mod:`tailcast.multihost.lane`),
more as one redis-py pipeline. :func:`accepted` tells an entry Redis took
from one it already had (its id "equal or smaller": a repeated publish) and
raises for anything else.

Entries are the batches of :func:`tailcast.multihost.keys.batch_fields`, each
with its first seq as id and ``MINID`` (exact) trimming by seq: an entry is a
whole batch, so this is cheap, and Redis holds ``--history`` lines plus at
most one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailcast.errors import ConnectionLost
from tailcast.multihost import keys
from tailcast.multihost.client import redis_exceptions
from tailcast.multihost.lane import Lanes

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BATCH", "PIPELINE", "Outgoing", "accepted", "send"]

# Lines per Redis entry, and entries per round trip: a burst goes out as a few
# large XADDs (Redis's cost is per command, not per byte), while a quiet
# stream's lines go out at once, a batch of one if need be.
BATCH = keys.MAX_BATCH
PIPELINE = 16


@dataclass
class Outgoing:
    """One stream's entries in a round trip: ``batches`` are (first seq, lines)."""

    stream_id: str
    key: str
    done: int  # the last seq Redis had when the batches were made
    lost: int  # lines that left the ring before Redis ever had them
    batches: list[tuple[int, list[bytes]]]

    @property
    def last(self) -> int:
        first, lines = self.batches[-1]
        return first + len(lines) - 1


async def send(
    client: Redis, lanes: Lanes, round_trip: Sequence[Outgoing], history: int
) -> list[Any]:
    """Every batch of ``round_trip`` as an XADD, in order: what Redis said to each."""
    entries = [
        (
            out.key,
            keys.entry_id(first),
            keys.trim_minid(first + len(lines) - 1, history, BATCH),
            keys.batch_fields(lines),
        )
        for out in round_trip
        for first, lines in out.batches
    ]
    if len(entries) == 1:
        # A busy line-at-a-time writer's every round trip: one command (raw RESP
        # on a connection of its own: a third of redis-py's CPU).
        key, entry, minid, fields = entries[0]
        return [await lanes.xadd(client, key, fields, entry, minid)]
    async with client.pipeline(transaction=False) as pipe:
        for key, entry, minid, fields in entries:
            # (redis-py's field type is a dict of a union: invariance refuses ours)
            redis_fields: dict[Any, Any] = fields
            pipe.xadd(key, redis_fields, id=entry, minid=minid, approximate=False)
        return list(await pipe.execute(raise_on_error=False))


def accepted(key: str, result: Any) -> bool:
    """True: Redis added the entry; False: it had it already. Anything else raises.

    A refusal that is not a duplicate (out of memory, a foreign key type...) is
    treated like an outage: the publisher reconnects and retries with backoff.
    """
    if isinstance(result, redis_exceptions().ResponseError):
        if "equal or smaller" in str(result):
            return False
        raise ConnectionLost(f"redis refused XADD to {key}: {result}")
    if isinstance(result, BaseException):
        raise result
    return True
