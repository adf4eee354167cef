"""Multi-host mode, what agents and web nodes agree on: key names and record encoding.

Pure: no I/O, no redis-py. Keys (``P`` = :data:`PREFIX`)::

    P streams                 hash: stream id -> StreamRecord JSON (identity + state)
    P events                  stream: one entry per new/changed/removed stream and per
                              tail -F event, so web nodes learn of them without polling
    P lines:ID:EPOCH          stream: the lines of one stream in one epoch, one entry
                              per published *batch*: entry id ``FIRSTSEQ-0``, field
                              ``l`` = the batch's lines exactly as encoded by the agent,
                              joined by ``\n`` (an encoded line is JSON: it never holds
                              a raw newline), field ``n`` = how many (web nodes split
                              and store these bytes as is, never re-encoding)
    P agent:INSTANCE          key with a TTL: that agent is alive (heartbeat)

Entry ids come from ``seq`` (of a batch's first line): Redis refuses an id
that is not above the last one, so a batch published twice (a retry after a
lost reply) is refused by Redis itself, and every web node numbers every line
exactly as the agent did. A batch always starts right after the last line
Redis has, so its id is always above the previous one. Trimming is by seq
(``MINID``, see :func:`trim_minid`), so Redis keeps at least ``--history``
lines whatever the batch sizes.
A new epoch (the agent restarted) gets a new key, so numbering can restart at 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "COUNT_FIELD",
    "EVENTS",
    "EVENTS_MAXLEN",
    "EVENT_INFO",
    "EVENT_REMOVE",
    "EVENT_STATUS",
    "LINE_FIELD",
    "MAX_BATCH",
    "PREFIX",
    "STREAMS",
    "StreamRecord",
    "agent_key",
    "batch_fields",
    "batch_lines",
    "entry_id",
    "entry_last",
    "entry_seq",
    "event_fields",
    "lines_key",
    "parse_event",
    "trim_minid",
]

PREFIX = "tailcast:"
STREAMS = PREFIX + "streams"
EVENTS = PREFIX + "events"
# The events stream only has to bridge the time between two full reads of the
# STREAMS hash (web nodes re-read it regularly), so a small cap is enough.
EVENTS_MAXLEN = 10_000

# The fields of a lines entry: the encoded lines, joined; and their count.
LINE_FIELD = b"l"
COUNT_FIELD = b"n"
# The most lines one entry holds (agents batch up to this many).
MAX_BATCH = 1000
SEP = b"\n"
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


def batch_fields(lines: list[bytes]) -> dict[bytes, bytes]:
    """The fields of one lines entry: ``lines`` (encoded, numbered in a row), joined."""
    return {LINE_FIELD: SEP.join(lines), COUNT_FIELD: b"%d" % len(lines)}


def batch_lines(fields: dict[bytes, bytes]) -> list[bytes]:
    """The encoded lines of one lines entry (the bytes the agent encoded, split).

    An entry whose count does not match what it holds is damaged (not written
    by an agent): it reads as no lines, which web nodes see as a seq jump.
    """
    data = fields.get(LINE_FIELD)
    if not data:
        return []
    lines = data.split(SEP)
    count = fields.get(COUNT_FIELD)
    if count is not None and count != b"%d" % len(lines):
        return []
    return lines


def trim_minid(last_seq: int, history: int, batch: int) -> str:
    """The ``MINID`` that keeps at least ``history`` lines up to ``last_seq``.

    Entries are trimmed by their first seq, and an entry holds up to ``batch``
    lines, so the bound is lowered by a batch: the entry holding line
    ``last_seq - history + 1`` always stays.
    """
    return entry_id(max(last_seq - history - batch + 2, 0))


def entry_last(raw_id: bytes | str, fields: dict[bytes, bytes]) -> int:
    """The ``seq`` of the last line of a lines entry."""
    count = fields.get(COUNT_FIELD)
    n = int(count) if count is not None else max(len(batch_lines(fields)), 1)
    return entry_seq(raw_id) + n - 1


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
