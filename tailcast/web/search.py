"""Filtered pages of a stream's history: a search backwards (``before``) or forwards (``since``).

``GET /api/streams/ID/lines`` with a filter (``q``, ``regex``, ``case``, ``invert``,
``levels``) reads the whole kept history, from disk, in chunks, and keeps only
the lines that pass (:mod:`tailcast.protocol.filters`). The work of one request
is bounded: it yields to the event loop after each slice of work, so other
clients keep receiving lines, and it stops after :data:`SEARCH_SECONDS`; the
answer's ``next_before`` / ``next_since`` says where to ask again to go on
(``null`` when the search reached the end of the history).
"""

from __future__ import annotations

import asyncio
import time

from tailcast.client import PRIME_LINES
from tailcast.hub import Stream
from tailcast.protocol.filters import BackwardSearch, LineFilter

__all__ = ["SEARCH_CHUNK_LINES", "SEARCH_SECONDS", "search_backwards", "search_forwards"]

SEARCH_CHUNK_LINES = 5000  # lines read from history at a time, going back
SEARCH_CHUNK_BYTES = 512 * 1024  # bytes read at a time, going forward
SEARCH_SECONDS = 4.0  # the most one request searches before it answers what it has
SLICE_SECONDS = 0.02  # work between two yields to the event loop


class _Pacer:
    """Yields to the event loop every :data:`SLICE_SECONDS`; says when the time is up."""

    def __init__(self) -> None:
        self.start = self.mark = time.monotonic()

    async def tick(self) -> bool:
        """``True`` while the request may search on."""
        now = time.monotonic()
        if now - self.mark >= SLICE_SECONDS:
            await asyncio.sleep(0)
            self.mark = time.monotonic()
        return now - self.start < SEARCH_SECONDS


async def search_backwards(
    stream: Stream, before: int, limit: int, line_filter: LineFilter
) -> tuple[list[bytes], int | None]:
    """The ``limit`` newest lines before ``before`` that pass, oldest first, and ``next_before``."""
    search = BackwardSearch(line_filter, limit)
    pacer = _Pacer()
    seq = before
    while True:
        first, lines = stream.read_before(seq, SEARCH_CHUNK_LINES)
        if not lines or first >= seq:
            next_before = None  # the start of the history (or nothing before a hole)
            break
        if search.feed(first, lines):
            next_before = search.oldest_seq
            break
        seq = first
        if seq <= stream.first_seq:
            next_before = None
            break
        if not await pacer.tick():
            next_before = seq  # out of time: go on from here
            break
    return [line for _, line in search.results()], next_before


async def search_forwards(
    stream: Stream, since: int, limit: int, line_filter: LineFilter
) -> tuple[list[bytes], int | None]:
    """The first ``limit`` lines after ``since`` that pass, and ``next_since``."""
    before = stream.read_before(since + 1, PRIME_LINES)[1] if since >= stream.first_seq else []
    state = line_filter.state_after(before)  # lines that continue a message begun before
    pacer = _Pacer()
    found: list[bytes] = []
    seq = since
    last = stream.last_seq
    while seq < last:
        first, lines = stream.read_after(seq, SEARCH_CHUNK_BYTES)
        if not lines:
            break
        for index in line_filter.select(lines, state):
            found.append(lines[index])
            if len(found) >= limit:
                return found, first + index
        seq = first + len(lines) - 1
        if not await pacer.tick():
            return found, seq
    return found, None
