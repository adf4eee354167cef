"""The reading side of the registry and client tests: what a client received, checked.

A test plays the client's sender without a socket: :func:`read_once` is one
sender step (``Client.take_batch``: catch up from history if behind, take one
batch), :func:`take` reads until nothing is left. Every frame is decoded and
its bookkeeping checked against what it carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tailcast.client import Client, Outgoing
from tailcast.hub import Hub, Stream
from tailcast.protocol.lines import Piece
from tailcast.registry import Registry

__all__ = ["Seen", "covered", "make", "publish", "read_once", "take"]


def publish(hub: Hub, stream: Stream, count: int, width: int = 10) -> None:
    """Publish ``count`` lines in one batch; each line's text is its seq."""
    start = stream.last_seq + 1
    hub.publish(stream, [Piece(f"{n:0{width}d}") for n in range(start, start + count)], ts=1.0)


@dataclass
class Seen:
    """What one client received, frame by frame, decoded."""

    lines: dict[str, list[int]] = field(default_factory=dict)
    gaps: list[tuple[str, int, int]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    items: list[Outgoing] = field(default_factory=list)


def _record(seen: Seen, item: Outgoing) -> None:
    frame = json.loads(item.payload)
    seen.items.append(item)
    seen.frames.append(frame)
    if frame["type"] == "lines":
        seqs = [line["seq"] for line in frame["lines"]]
        # The queue item's bookkeeping matches the frame it carries.
        assert (item.first, item.last) == (seqs[0], seqs[-1])
        assert seqs == list(range(seqs[0], seqs[-1] + 1))
        assert all(line["text"] == f"{line['seq']:010d}" for line in frame["lines"])
        seen.lines.setdefault(frame["stream"], []).extend(seqs)
    elif frame["type"] == "gap":
        assert (item.first, item.last) == (frame["from"], frame["to"])
        seen.gaps.append((frame["stream"], frame["from"], frame["to"]))


def read_once(client: Client, seen: Seen | None = None) -> Seen:
    """One sender step: what ``Client.take_batch`` gives now (catch-up included)."""
    seen = seen or Seen()
    for item in client.take_batch():
        _record(seen, item)
    return seen


def take(client: Client, seen: Seen | None = None) -> Seen:
    """Read like a fast sender until nothing is left (queue empty, nothing behind)."""
    seen = seen or Seen()
    while batch := client.take_batch():
        for item in batch:
            _record(seen, item)
    return seen


def covered(seen: Seen, stream: str) -> list[int]:
    """Every seq of ``stream`` accounted for, in order: lines received and gap ranges."""
    seqs: list[int] = []
    for frame in seen.frames:
        if frame.get("stream") != stream:
            continue
        if frame["type"] == "gap":
            seqs.extend(range(frame["from"], frame["to"] + 1))
        elif frame["type"] == "lines":
            seqs.extend(line["seq"] for line in frame["lines"])
    return seqs


def make(history: int = 1000, queue_bytes: int = 1 << 20, **kw: Any) -> tuple[Hub, Registry]:
    hub = Hub(history)
    return hub, Registry(hub, queue_bytes=queue_bytes, **kw)
