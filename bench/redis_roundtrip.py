"""What one XADD round trip costs the agent's process, four ways (multi-host, issue 13).

    python bench/redis_roundtrip.py [--rounds 3000] [--repeat 3]

An agent following a file written a line at a time makes one round trip to
Redis per linger (10 ms): one XADD of the lines gathered meanwhile. With 50
agents on one machine that is 5 000 round trips a second, and their cost is
most of what the fleet scenario of ``bench/multihost.py`` spends. Here one
connection to a redis-server of our own (loopback, a free port, stopped at
the end) gets ``--rounds`` XADDs of a 10-line batch in a row, each awaited,
made

- **as the publisher does**: :class:`tailcast.multihost.lane.XaddLane` (raw
  RESP on a connection taken out of redis-py's pool);
- **by redis-py**: ``await client.xadd(...)`` (redis-py's asyncio client:
  pool, retry wrapper, observability hooks, its parser; what the publisher
  did before, and does where a redis-py hides its connections' streams);
- **through a redis-py pipeline** of one command (what it did before that);
- **raw**: the command packed as RESP by hand, written on an
  ``asyncio.open_connection`` stream, the reply read back line by line — the
  floor for an asyncio program.

Printed: the process's CPU time (user + system) per round trip, each way,
``--repeat`` times alternating. Needs redis-server and the ``redis`` package.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from procs import Group  # noqa: E402

from bench import free_port, wait_listening  # noqa: E402
from tailcast.multihost.lane import XaddLane, pack  # noqa: E402

DATA = b"x" * 1100  # ten encoded 100-byte lines, joined


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def per_round(rounds: int, first: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """CPU microseconds per awaited call of ``one(seq)``, seqs from ``first`` on (growing ids)."""
    start = cpu()
    for n in range(rounds):
        await one(first + 10 * n)
    return (cpu() - start) / rounds * 1e6


async def measure(port: int, rounds: int, repeat: int) -> None:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis(host="127.0.0.1", port=port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lane = await XaddLane.open(client)
    assert lane is not None, "this redis-py hides its connections' streams"

    async def with_lane(seq: int) -> None:
        minid = b"%d-0" % max(seq - 1000, 0)
        await lane.xadd(b"d", minid, b"%d-0" % seq, {b"l": DATA, b"n": b"10"})

    async def with_xadd(seq: int) -> None:
        fields: dict[Any, Any] = {b"l": DATA, b"n": b"10"}
        await client.xadd("a", fields, id=f"{seq}-0", minid=f"{max(seq - 1000, 0)}-0")

    async def with_pipeline(seq: int) -> None:
        fields: dict[Any, Any] = {b"l": DATA, b"n": b"10"}
        async with client.pipeline(transaction=False) as pipe:
            pipe.xadd("b", fields, id=f"{seq}-0", minid=f"{max(seq - 1000, 0)}-0")
            await pipe.execute(raise_on_error=False)

    async def raw(seq: int) -> None:
        minid = b"%d-0" % max(seq - 1000, 0)
        writer.write(
            pack(b"XADD", b"c", b"MINID", b"=", minid, b"%d-0" % seq, b"l", DATA, b"n", b"10")
        )
        head = await reader.readline()  # "$N" then the id
        if not head.startswith(b"$"):
            raise RuntimeError(f"XADD refused: {head!r}")
        await reader.readline()

    try:
        for r in range(repeat):
            ways = [
                ("tailcast's lane", with_lane),
                ("client.xadd", with_xadd),
                ("pipeline of one", with_pipeline),
                ("raw RESP", raw),
            ]
            if r % 2:
                ways.reverse()
            first = 10 * rounds * r + 1
            got = {name: await per_round(rounds, first, one) for name, one in ways}
            print(
                "  ".join(f"{name} {us:.0f} us" for name, us in got.items()), "CPU per round trip"
            )
    finally:
        writer.close()
        await lane.close()
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = shutil.which("redis-server")
    if server is None:
        sys.exit("needs redis-server (Debian: redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        log = os.path.join(workdir, "redis.stderr")
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
        argv += ["--save", "", "--appendonly", "no"]
        group = Group.start_pipeline("redis", [argv], main=0, log=log)
        try:
            wait_listening(group, port, log)
            print(
                f"Python {sys.version.split()[0]}; {args.rounds} XADDs of a 10-line batch per way"
            )
            asyncio.run(measure(port, args.rounds, args.repeat))
        finally:
            group.stop()


if __name__ == "__main__":
    main()
