"""A command writing 100 MiB as fast as it can, served by a real tailcast process.

The server's peak RSS must stay bounded (it holds the history ring and one
client queue, never the output), the child must finish although a viewer
reads nothing at all, and that viewer must get every line, or a ``gap`` only
for lines that left the history (``--history``) before it read them — never
a silent loss, never a line twice.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import run_tailcast, ws_connect

TOTAL_BYTES = 100 * 1024 * 1024
LINE_BYTES = 100
LINES = TOTAL_BYTES // LINE_BYTES
# Peak RSS over the idle server's. The recent history in memory (10 000 lines),
# one client queue (4 MiB) and read buffers fit easily; 100 MiB of output does
# not (the history itself is on disk).
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
# A bound on the flood's progress, not its speed (about 6 s on an idle 2-core machine,
# several times that beside a full test run): a blocked child never finishes. Within
# pytest's 300 s, with room for the viewer's read afterwards.
FLOOD_DEADLINE = 180.0
HISTORY = 500_000  # half the flood: the first half may become a gap, no more

FLOOD = """\
import os, sys, time
go = sys.argv[1]
deadline = time.monotonic() + 30
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit(99)
    time.sleep(0.005)
out = sys.stdout.buffer
pad = b"x" * ({line} - 11)
batch = 10000
for start in range(0, {lines}, batch):
    stop = min({lines}, start + batch)
    out.write(b"".join(b"%09d " % i + pad + b"\\n" for i in range(start, stop)))
out.flush()
"""


def memory(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` memory figure (``VmRSS``, ``VmHWM``) in bytes."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(key + ":"):
            return int(row.split()[1]) * 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


async def stream_info(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "api/streams") as resp:
        info: dict[str, Any] = (await resp.json())["streams"][0]
        return info


async def test_a_100_mib_flood_keeps_memory_bounded_and_the_child_unblocked(
    tmp_path: Path,
) -> None:
    script = tmp_path / "flood.py"
    script.write_text(FLOOD.format(line=LINE_BYTES, lines=LINES))
    go = tmp_path / "go"
    cmd = f"flood=cmd:{sys.executable} {script} {go}"
    with run_tailcast("serve", "--port", "0", "--history", str(HISTORY), cmd) as proc:
        pid = proc.popen.pid
        async with aiohttp.ClientSession() as session:
            # The viewer subscribes, then reads nothing until the flood is over.
            client = await ws_connect(session, proc.ws_url + "?streams=*&tail=0")
            baseline = memory(pid, "VmRSS")
            go.touch()
            deadline = time.monotonic() + FLOOD_DEADLINE
            while (info := await stream_info(session, proc.url))["state"] != "exited":
                assert time.monotonic() < deadline, f"flood not done: {info}"
                await asyncio.sleep(0.1)  # a poll with a deadline
            peak = memory(pid, "VmHWM")
            assert info["exit_code"] == 0
            assert info["last_seq"] == LINES
            async with session.get(
                proc.url + "api/streams/flood/lines", params={"limit": "1"}
            ) as resp:
                last = (await resp.json())["lines"][0]
            assert last["seq"] == LINES
            assert last["text"] == f"{LINES - 1:09d} " + "x" * (LINE_BYTES - 11)

            # Now the slow viewer reads: every seq arrives once, as a line or in a gap.
            seen: list[tuple[int, int]] = []
            gaps = 0
            while not seen or seen[-1][1] < LINES:
                frame = await client.recv()
                if frame["type"] == "lines":
                    seqs = [line["seq"] for line in frame["lines"]]
                    assert seqs == list(range(seqs[0], seqs[-1] + 1))
                    seen.append((seqs[0], seqs[-1]))
                elif frame["type"] == "gap":
                    gaps += 1
                    # Only lines no longer kept may be a gap (the disk drops
                    # whole segments: up to 1/16 of --history more than that).
                    assert frame["to"] == info["first_seq"] - 1, (frame, info)
                    assert frame["to"] <= LINES - HISTORY * 15 // 16, frame
                    seen.append((frame["from"], frame["to"]))
            await client.ws.close()
        assert gaps <= 1
        expected = 1
        for first, last_seq in seen:
            assert first == expected, (first, expected)
            expected = last_seq + 1
        assert expected == LINES + 1
        growth = peak - baseline
        print(f"baseline RSS {baseline / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
        assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB"
        assert proc.stop() == 0
