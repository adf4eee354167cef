"""What one poll of a :class:`~tailcast.sources.file.tail.FileFollower` reports.

The follower does the blocking work in a worker thread and describes it with
these small values; the async shell (:mod:`tailcast.sources.file.source`)
applies them to the hub on the event loop, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Data", "Ended", "FileEvent", "Op", "Opened", "State"]


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes read from one opened file (``file`` numbers the files a follower opened).

    ``at`` is the file offset of ``data[0]``; None for bytes that are not the
    file's own (the unread rest recovered from a copytruncate copy).
    """

    file: int
    data: bytes
    at: int | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """Opened file ``file`` (``dev``/``ino``) is read from offset ``at`` from now on.

    ``before`` holds the file's bytes just before ``at`` (up to
    :data:`~tailcast.sources.file.position.FINGERPRINT`), so the shell can
    fingerprint its position without reading the file itself. ``cont``: the
    read goes on from a saved position where a line was left open (a restart).
    """

    file: int
    dev: int
    ino: int
    at: int
    before: bytes = b""
    cont: bool = False


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


Op = Data | FileEvent | State | Ended | Opened
