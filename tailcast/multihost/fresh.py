"""Multi-host mode, agent side: the lines the hub handed over that Redis may not have yet.

:class:`FreshLines` keeps, per stream, a reference to each list of encoded
lines the hub stored (no copy: the same bytes objects as the hub's ring) and
slices the publisher's batches out of them, so a burst costs no read of the
history. A list is let go as soon as Redis has its lines, or once the ring no
longer holds them: what is held is always in the ring too, and holding it
costs no memory of its own. When the lists do not begin where Redis stands
(after an outage, or for lines that left the ring) the caller reads the
history instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from tailcast.stream import Stream

__all__ = ["FreshLines"]


class FreshLines:
    """Per stream id: the stream and its handed-over ``(first seq, lines)``, oldest first."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[Stream, deque[tuple[int, Sequence[bytes]]]]] = {}

    def add(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
        held = self._held.get(stream.id)
        if held is None or held[0] is not stream:
            held = self._held[stream.id] = (stream, deque())  # new, or a new stream object
        chunks = held[1]
        chunks.append((first_seq, lines))
        oldest = stream.history.ring_first
        while chunks[0][0] + len(chunks[0][1]) <= oldest:
            chunks.popleft()

    def forget(self, stream_id: str) -> None:
        self._held.pop(stream_id, None)

    def after(self, stream: Stream, done: int, limit: int) -> list[bytes]:
        """Up to ``limit`` lines numbered from ``done + 1`` on, in a row.

        ``[]`` when the held lists do not begin at ``done + 1``; stops at a
        jump in numbering (the next call sees it).
        """
        held = self._held.get(stream.id)
        if held is None or held[0] is not stream:
            return []
        chunks = held[1]
        seq = done + 1
        while chunks and chunks[0][0] + len(chunks[0][1]) <= seq:
            chunks.popleft()  # in Redis already
        if not chunks or chunks[0][0] > seq:
            return []
        out: list[bytes] = []
        for first, lines in chunks:
            if first > seq or len(out) >= limit:
                break
            skip = seq - first  # (only the first list can begin before seq)
            out.extend(lines[skip : skip + limit - len(out)])
            seq = first + len(lines)
        return out
