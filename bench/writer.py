"""The benchmark's writer: appends numbered, time-stamped lines to the followed file.

Each line is ``@SEQUENCE:SEND_TIME;`` padded with ``x`` to a fixed length
(see :mod:`wsclient`). It runs in a process of its own so that the
orchestrator's polling never slows it down, and reports when it started and
finished through a pipe.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection

__all__ = ["block", "burst", "line", "steady", "warm_line", "writer_main"]

BLOCK = 256  # lines per write() in a burst: they share one send time
SEQ_HEAD = 13  # "@", ten digits, ":" and ";" around the send time


def line(seq: int, ts: float, size: int) -> bytes:
    head = b"@%010d:%.6f;" % (seq, ts)
    return head + b"x" * max(0, size - len(head) - 1) + b"\n"


def warm_line(size: int) -> bytes:
    return line(0, time.monotonic(), size)


def block(first: int, count: int, size: int) -> bytes:
    """Lines ``first`` to ``first + count - 1`` as :func:`line` makes them, one send time."""
    ts = b"%.6f" % time.monotonic()
    pad = b"x" * max(0, size - (SEQ_HEAD + len(ts)) - 1) + b"\n"
    return b"".join([b"@%010d:%s;%s" % (i, ts, pad) for i in range(first, first + count)])


def burst(fd: int, count: int, size: int) -> None:
    """Append ``count`` lines as fast as possible, ``BLOCK`` lines per write."""
    seq = 1
    while seq <= count:
        n = min(BLOCK, count - seq + 1)
        os.write(fd, block(seq, n, size))
        seq += n


def steady(fd: int, count: int, size: int, rate: float) -> None:
    """Append ``count`` lines at ``rate`` lines/s, each written on its own at its time."""
    start = time.monotonic()
    seq = 1
    while seq <= count:
        due = start + (seq - 1) / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        # Lines that are due (a late wake-up) are written one by one all the same.
        os.write(fd, line(seq, time.monotonic(), size))
        seq += 1


def writer_main(conn: Connection, path: str, count: int, size: int, rate: float) -> None:
    """Process entry: write, then send ``(started, finished)`` monotonic times."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        started = time.monotonic()
        if rate > 0:
            steady(fd, count, size, rate)
        else:
            burst(fd, count, size)
        conn.send((started, time.monotonic()))
    finally:
        os.close(fd)
