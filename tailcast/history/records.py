"""The record format of a segment file, and the check that a run of records is whole.

A segment is a sequence of records, each ending in ``b"\\n"``:

- a **line record** is a line exactly as :func:`tailcast.protocol.wire.encode_line`
  encoded it (``{"seq":N,...}``): what is on disk is what goes on the wire;
- a **checkpoint record** starts with ``#``: ``#{"after":S,"checkpoint":{...}}``,
  a source's read position valid once the lines up to seq ``S`` are kept.
  Readers skip it.

An encoded line never holds a raw newline nor a raw NUL (JSON escapes both), so
a ``b"\\n"`` always ends a record and a NUL byte is always damage (the zeros a
file system leaves in the tail after a power loss).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHECKPOINT_MARK",
    "SEQ_PREFIX",
    "ScanResult",
    "checkpoint_record",
    "parse_checkpoint",
    "record_seq",
    "scan_records",
]

SEQ_PREFIX = b'{"seq":'
CHECKPOINT_MARK = b"#"
_SEQ_AT = len(SEQ_PREFIX)
# ``{"seq":`` + 20 digits + ``,`` is the longest head a seq needs.
SEQ_HEAD_BYTES = _SEQ_AT + 21


def checkpoint_record(after: int, checkpoint: Mapping[str, Any]) -> bytes:
    """A checkpoint record without its newline; ``after`` is the seq it follows."""
    # ensure_ascii: the record stays ASCII and newline-free whatever the caller put in it.
    return CHECKPOINT_MARK + json.dumps(
        {"after": after, "checkpoint": checkpoint}, separators=(",", ":")
    ).encode("ascii")


def parse_checkpoint(record: bytes) -> tuple[int, dict[str, Any]] | None:
    """``(after, checkpoint)`` of a checkpoint record, or None if it is not a whole one."""
    try:
        body = json.loads(record[1:])
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    after, checkpoint = body.get("after"), body.get("checkpoint")
    if type(after) is not int or not isinstance(checkpoint, dict):
        return None
    return after, checkpoint


def record_seq(record: bytes) -> int | None:
    """The seq of a line record (or of its first ``SEQ_HEAD_BYTES``), None if it is not one."""
    if not record.startswith(SEQ_PREFIX):
        return None
    end = record.find(b",", _SEQ_AT, SEQ_HEAD_BYTES)
    digits = record[_SEQ_AT:end]
    if end < 0 or not digits.isdigit():
        return None
    return int(digits)


@dataclass
class ScanResult:
    """What :func:`scan_records` found whole at the start of a segment."""

    good_bytes: int  # length of the whole, valid prefix
    last_seq: int  # seq of its last line record; first_seq - 1 when it has none
    checkpoint: dict[str, Any] | None = None  # the last checkpoint in the prefix
    checkpoint_seq: int = 0  # its ``after``

    def has_content(self) -> bool:
        return self.good_bytes > 0


def scan_records(data: bytes, first_seq: int) -> ScanResult:
    """The longest prefix of ``data`` made of whole records numbered from ``first_seq``.

    It stops at the first record that is not whole or not the expected next one:
    a torn last record (no newline), a NUL, a line whose seq is not the next, a
    line not ending in ``}``, a ``#`` line that is not a whole checkpoint.
    """
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    body = data[: data.rfind(b"\n") + 1]
    result = ScanResult(good_bytes=0, last_seq=first_seq - 1)
    expected = first_seq
    pos = 0
    # A write's checkpoint comes before its lines and says how far they go: a
    # write cut short (SIGKILL can stop a write of several pages at a page
    # boundary) is dropped whole, so no line is kept without its checkpoint.
    before: tuple[int, int, int, dict[str, Any] | None] | None = None
    for record in body.split(b"\n")[:-1]:
        if record.startswith(CHECKPOINT_MARK):
            parsed = parse_checkpoint(record)
            if parsed is None:
                break
            if before is None and parsed[0] > expected - 1:
                before = (pos, expected - 1, result.checkpoint_seq, result.checkpoint)
            result.checkpoint_seq, result.checkpoint = parsed
        elif record.startswith(b'{"seq":%d,' % expected) and record.endswith(b"}"):
            result.last_seq = expected
            expected += 1
        else:
            break
        pos += len(record) + 1
        if before is not None and result.last_seq >= result.checkpoint_seq:
            before = None  # the write is whole
    if before is not None:
        pos, result.last_seq, result.checkpoint_seq, result.checkpoint = before
    result.good_bytes = pos
    return result
