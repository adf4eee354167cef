"""One stream: its identity, state and history, and what its source offers the web layer.

A :class:`Stream` is made by :meth:`tailcast.hub.Hub.add_stream`; it reads its
kept lines through its :class:`~tailcast.history.kept.StreamHistory`. A source
that can be controlled (a process) or has resource figures (a container)
attaches a :class:`Controller` or a :class:`StatsProvider`: typed interfaces the
web routes call, never attributes looked up by name.
"""

from __future__ import annotations

from typing import Any, Protocol

from tailcast.history.kept import StreamHistory
from tailcast.protocol.follows import MessageState

__all__ = ["Controller", "StatsProvider", "Stream"]


class Controller(Protocol):
    """What a controllable source (a process) offers the HTTP control routes."""

    async def restart(self) -> None: ...

    async def stop(self) -> None: ...


class StatsProvider(Protocol):
    """What a source with resource figures (a container) offers ``/stats``."""

    async def __call__(self) -> dict[str, Any]: ...


class Stream:
    """One stream: its identity, state and history."""

    def __init__(
        self,
        stream_id: str,
        name: str,
        kind: str,
        epoch: str,
        history: StreamHistory,
        detail: dict[str, Any],
    ) -> None:
        self.id = stream_id
        self.name = name
        self.kind = kind
        self.epoch = epoch
        self.detail = detail
        self.state = "waiting"
        # Extra status fields that stay true until the next state change
        # (exit_code, signal, message).
        self.state_extra: dict[str, Any] = {}
        self.history = history
        # The recent part of the history, in memory (seq of ring[i] = ring_first + i).
        self.ring = history.ring
        self.controller: Controller | None = None
        self.stats_provider: StatsProvider | None = None
        self.lines_in = 0
        self.bytes_in = 0
        self.messages = MessageState()  # where its lines are in a multi-line message
        # Numbered by an agent (a mirrored stream): a seq past last_seq is one
        # this node has not mirrored yet, not a position from another epoch.
        self.numbered_elsewhere = False

    @property
    def last_seq(self) -> int:
        return self.history.last_seq

    @property
    def first_seq(self) -> int:
        """The seq of the oldest line still kept (``last_seq + 1`` when empty)."""
        return self.history.first_seq

    def info(self) -> dict[str, Any]:
        """The protocol's STREAM_INFO object."""
        info: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "epoch": self.epoch,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }
        if self.history.reason is not None:
            info["history"] = "memory"  # the disk failed: only a recent part is kept
        info.update(self.state_extra)
        info.update(self.detail)
        return info

    def lines_after(self, seq: int, limit: int | None = None) -> tuple[int, list[bytes]]:
        """Kept lines after ``seq`` (at most ``limit``); stops early at a hole in the history."""
        return self.history.read_after(seq, 1 << 62, limit)

    def read_after(self, seq: int, max_bytes: int) -> tuple[int, list[bytes]]:
        """Kept lines after ``seq``, about ``max_bytes`` of them (at least one): how a reader
        that fell behind catches up. The first one's seq is more than ``seq + 1`` when ``seq``
        has left the history (the caller reports the rest as a gap)."""
        return self.history.read_after(seq, max_bytes)

    def read_before(self, seq: int, limit: int) -> tuple[int, list[bytes]]:
        """The ``limit`` kept lines just before ``seq``, oldest first (paging backwards)."""
        return self.history.read_before(seq, limit)

    def newest(self, count: int) -> tuple[int, list[bytes]]:
        """The newest ``count`` kept lines."""
        return self.history.read_before(self.last_seq + 1, count)
