"""What one poll of a :class:`~tailcast.sources.file.tail.FileFollower` reports.

The follower does the blocking work in a worker thread and describes it with
these small values; the async shell (:mod:`tailcast.sources.file.source`)
applies them to the hub on the event loop, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Data", "Ended", "FileEvent", "Op", "State"]


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes read from one opened file (``file`` numbers the files a follower opened)."""

    file: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FileEvent:
    """A ``tail -F`` event for the stream's status: ``truncated``, ``rotated`` or ``reattached``."""

    name: str


@dataclass(frozen=True, slots=True)
class State:
    """The path's state changed: ``waiting``, ``live`` or ``error`` (with message)."""

    state: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """Opened file ``file`` will give no more data (a partial line is now complete)."""

    file: int


Op = Data | FileEvent | State | Ended
