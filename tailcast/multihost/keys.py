"""Multi-host mode, what agents and web nodes agree on: key names and record encoding.

Pure: no I/O, no redis-py. Keys (``P`` = :data:`PREFIX`)::

    P streams                 hash: stream id -> StreamRecord JSON (identity + state)
    P events                  stream: one entry per new/changed/removed stream and per
                              tail -F event, so web nodes learn of them without polling
    P lines:ID:EPOCH          stream: the lines of one stream in one epoch; entry id
                              ``SEQ-0``, field ``l`` = the line exactly as encoded by
                              the agent (web nodes store and send these bytes as is)
    P agent:INSTANCE          key with a TTL: that agent is alive (heartbeat)

Entry ids come from ``seq``: Redis refuses an id that is not above the last
one, so a line published twice (a retry after a lost reply) is refused by
Redis itself, and every web node numbers every line exactly as the agent did.
A new epoch (the agent restarted) gets a new key, so numbering can restart at 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "EVENTS",
    "EVENTS_MAXLEN",
    "EVENT_INFO",
    "EVENT_REMOVE",
    "EVENT_STATUS",
    "LINE_FIELD",
    "PREFIX",
    "STREAMS",
    "StreamRecord",
    "agent_key",
    "entry_id",
    "entry_seq",
    "event_fields",
    "lines_key",
    "parse_event",
]

PREFIX = "tailcast:"
STREAMS = PREFIX + "streams"
EVENTS = PREFIX + "events"
# The events stream only has to bridge the time between two full reads of the
# STREAMS hash (web nodes re-read it regularly), so a small cap is enough.
EVENTS_MAXLEN = 10_000

# The one field of a lines entry: the encoded line.
LINE_FIELD = b"l"
# Kinds of events entries (field ``t``): a record written, a stream removed,
# a tail -F status frame (``d`` holds the record, nothing, or the frame).
EVENT_INFO = "info"
EVENT_REMOVE = "remove"
EVENT_STATUS = "status"


def lines_key(stream_id: str, epoch: str) -> str:
    return f"{PREFIX}lines:{stream_id}:{epoch}"


def agent_key(instance: str) -> str:
    return f"{PREFIX}agent:{instance}"


def entry_id(seq: int) -> str:
    """The id of the lines entry of ``seq``: Redis then refuses a repeat by itself."""
    return f"{seq}-0"


def entry_seq(raw_id: bytes | str) -> int:
    """The ``seq`` of a lines entry from its id ``SEQ-0``."""
    text = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
    return int(text.partition("-")[0])


def event_fields(kind: str, stream_id: str, data: bytes) -> dict[bytes, bytes]:
    """The fields of one events entry (see :func:`parse_event`)."""
    return {b"t": kind.encode(), b"id": stream_id.encode(), b"d": data}


def parse_event(fields: dict[bytes, bytes]) -> tuple[str, str, bytes]:
    """``(kind, stream_id, data)`` of an events entry; missing fields read as empty."""
    return (
        fields.get(b"t", b"").decode(),
        fields.get(b"id", b"").decode(),
        fields.get(b"d", b""),
    )


@dataclass
class StreamRecord:
    """What Redis knows of a stream besides its lines (one ``STREAMS`` hash field)."""

    id: str
    name: str
    kind: str
    epoch: str
    state: str
    key: str
    agent: str
    extra: dict[str, Any] = field(default_factory=dict)  # exit_code, message, signal
    detail: dict[str, Any] = field(default_factory=dict)  # path, argv, container

    def dumps(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def loads(cls, data: bytes | str) -> StreamRecord:
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("stream record is not an object")
        return cls(
            id=str(obj["id"]),
            name=str(obj["name"]),
            kind=str(obj["kind"]),
            epoch=str(obj["epoch"]),
            state=str(obj["state"]),
            key=str(obj["key"]),
            agent=str(obj["agent"]),
            extra=dict(obj.get("extra") or {}),
            detail=dict(obj.get("detail") or {}),
        )
