"""One followed path on the event loop: its follower's operations applied to its stream.

:class:`FollowedPath` holds a path's
:class:`~tailcast.sources.file.tail.FileFollower`, its stream and the
:class:`~tailcast.sources.base.LinePump` between them, and applies what a
poll found, in order: bytes to the pump (reset when the data switches to
another file, so a partial line is never glued onto the next file's first
line), states and ``tail -F`` events to the hub.

It also knows where the published bytes end in each opened file
(:class:`~tailcast.sources.file.position.FilePosition`), so every publish
carries the stream's checkpoint. The checkpoint is the position in the
*newest* file opened (the one behind the path): after a rotation the old
file's late lines do not move it back, so a restart never reads the new
file's lines twice (the old file's unread rest is lost across a restart:
rotation state is not saved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tailcast.sources.base import LinePump
from tailcast.sources.file.ops import Data, Ended, FileEvent, Op, Opened, State
from tailcast.sources.file.position import FilePosition
from tailcast.sources.file.tail import FileFollower

if TYPE_CHECKING:
    from tailcast.config import Config
    from tailcast.hub import Hub, Stream

__all__ = ["FollowedPath"]


class FollowedPath:
    """One followed path: its follower, its stream and the pump between them."""

    def __init__(self, hub: Hub, stream: Stream, follower: FileFollower, config: Config) -> None:
        self.hub = hub
        self.stream = stream
        self.follower = follower
        self.pump = LinePump(
            hub,
            stream,
            max_line=config.max_line,
            flush_delay=config.flush_delay,
            checkpointer=self.checkpoint,
        )
        self.owner: int | None = None  # the opened file whose bytes the pump holds
        self.positions: dict[int, FilePosition] = {}  # by the follower's file number
        self.real = follower.path

    def apply(self, ops: list[Op]) -> None:
        hub, stream = self.hub, self.stream
        for op in ops:
            if isinstance(op, Data):
                self._data(op)
            elif isinstance(op, Opened):
                self.positions[op.file] = FilePosition(op.dev, op.ino, op.at, op.before)
                if op.cont and self.owner is None:
                    self.pump.reset(cont=True)  # the line a previous run left open goes on
            elif isinstance(op, State):
                hub.set_state(stream, op.state, message=op.message)
            elif isinstance(op, FileEvent):
                hub.event(stream, op.name)
            elif isinstance(op, Ended):
                if op.file == self.owner:
                    self.pump.reset()
                    self.owner = None
                if self.positions and op.file != max(self.positions):
                    self.positions.pop(op.file, None)

    def _data(self, op: Data) -> None:
        if self.owner is not None and op.file != self.owner:
            self.pump.reset()
        self.owner = op.file
        position = self.positions.get(op.file)
        if position is not None and op.at is not None:
            position.fed(op.at, op.data)
        self.pump.feed(op.data)
        if position is not None:
            position.trim(self.pump.splitter.pending)

    def checkpoint(self, pending: int, cont: bool) -> dict[str, Any] | None:
        """The pump's checkpointer: the position in the newest file after what is published."""
        if not self.positions:
            return None
        newest = max(self.positions)
        if newest != self.owner:
            # The pump holds an old file's bytes: the newest file's own were
            # all published when the pump switched away from it (a reset).
            return self.positions[newest].checkpoint(0, False)
        return self.positions[newest].checkpoint(pending, cont)

    def stop(self) -> None:
        """At shutdown: publish a partial line as an open one (a restart continues it)."""
        self.pump.flush()
