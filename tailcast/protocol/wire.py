"""Protocol v1 on the wire: JSON frames, encoded once, sent to many.

Server frames are built as ``bytes`` ready to send (UTF-8 JSON text). A line
is encoded once when it is published (:func:`encode_line`) and a ``lines``
frame is the concatenation of already-encoded lines, so fan-out and replay never
re-serialise a line.

Client frames are parsed by :func:`parse_client_frame`, which returns a
:class:`Subscribe` or :class:`Unsubscribe` or raises
:class:`~tailcast.errors.FrameError` with a message fit to send back.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Protocol

from tailcast.errors import FrameError
from tailcast.protocol.filters import BadFilter, LineFilter, compile_filter, parse_filter

__all__ = [
    "ALL",
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_NOT_AUTHENTICATED",
    "CLOSE_POLICY",
    "CLOSE_TOO_BIG",
    "CLOSE_UNKNOWN_STREAM",
    "MAX_STREAMS_PER_FRAME",
    "PROTOCOL_VERSION",
    "STREAM_ID_RE",
    "SUBPROTOCOL",
    "Entry",
    "Subscribe",
    "TextPiece",
    "Unsubscribe",
    "decode_line",
    "encode_entries",
    "encode_line",
    "encode_lines",
    "error_frame",
    "format_ts",
    "gap_frame",
    "hello_frame",
    "lines_frame",
    "mark_fields",
    "parse_client_frame",
    "slugify",
    "status_frame",
    "streams_frame",
]

PROTOCOL_VERSION = 1
SUBPROTOCOL = "tailcast.v1"

# WebSocket close codes of the contract (static/conn/wire.js has the same for the viewer).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server stops
CLOSE_POLICY = 1008  # e.g. an Origin refused
CLOSE_TOO_BIG = 1009  # a client frame over --max-frame
CLOSE_NOT_AUTHENTICATED = 4001
CLOSE_UNKNOWN_STREAM = 4004

_SLUG_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def slugify(name: str) -> str:
    """A stream id from a name: ``[a-z0-9][a-z0-9._-]*``, stable for the same name."""
    slug = _SLUG_UNSAFE.sub("-", name.lower()).strip("-._")
    return slug or "stream"


ALL = "*"
STREAM_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
# A subscribe naming more ids than this is refused: no server needs it, and
# it bounds the work one frame can ask for.
MAX_STREAMS_PER_FRAME = 1000
MAX_TAIL = 1_000_000

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# What ``_dumps`` does for a str, without its Python-level dispatch (the C
# encoder when available): a JSON string literal, non-ASCII kept as is.
_encode_str = encode_basestring


class TextPiece(Protocol):
    """What :func:`encode_lines` needs of a piece (a :class:`~tailcast.protocol.lines.Piece`)."""

    @property
    def text(self) -> str: ...

    @property
    def cont(self) -> bool: ...


def _frame(obj: Mapping[str, Any]) -> bytes:
    return _dumps(obj).encode("utf-8")


def format_ts(ts: float) -> str:
    """``repr(round(ts, 6))``, the LINE's ``ts`` as JSON, at a third of its cost.

    Below 2**33 seconds (the year 2242) a float holds every microsecond, so
    six decimals without their trailing zeros are its shortest repr; beyond
    that, below 1e-4 (repr's exponent form) and for nan/inf, the slow way.
    """
    if 1e-4 <= ts < 8e9 or -8e9 < ts <= -1e-4:
        text = f"{ts:.6f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    return repr(round(ts, 6))


def mark_fields(level: str | None, follows: bool) -> str:
    """The ``level``/``follows`` fields, written between ``ts`` and ``text``."""
    out = "" if level is None else f',"level":"{level}"'
    return out + ',"follows":true' if follows else out


def encode_line(
    seq: int,
    ts: float,
    text: str,
    fd: str | None = None,
    cont: bool = False,
    level: str | None = None,
    follows: bool = False,
) -> bytes:
    """One LINE object as UTF-8 JSON bytes (without the frame around it).

    The fields come in a fixed order, ``seq``, ``ts``, ``level``, ``follows``,
    ``text``, ``fd``, ``cont``: filters (:mod:`tailcast.protocol.filters`) find
    the text and the level in the bytes without decoding them.
    """
    # Hand-built for speed: this runs once per published line.
    marks = mark_fields(level, follows) if level is not None or follows else ""
    out = f'{{"seq":{seq},"ts":{format_ts(ts)}{marks},"text":{_encode_str(text)}'
    if fd is not None:
        out += f',"fd":"{fd}"'
    if cont:
        out += ',"cont":true'
    return (out + "}").encode("utf-8")


def encode_lines(
    first_seq: int,
    ts: float,
    pieces: Iterable[TextPiece],
    fd: str | None = None,
    marks: Sequence[tuple[str | None, bool]] | None = None,
) -> list[bytes]:
    """Pieces read at one time from one fd, numbered from ``first_seq``.

    The same bytes as :func:`encode_line` for each, but everything the lines
    share (time stamp, fd) is formatted once per batch: this is the hot path of
    a burst, about five times faster than a call per line. ``marks`` holds each
    piece's ``(level, follows)`` (:func:`tailcast.protocol.follows.annotate`).
    """
    stamp = f',"ts":{round(ts, 6)!r}'
    mid = stamp + ',"text":'
    end = "}" if fd is None else f',"fd":"{fd}"}}'
    end_cont = end[:-1] + ',"cont":true}'
    enc = _encode_str
    if marks is None:
        return [
            f'{{"seq":{seq}{mid}{enc(p.text)}{end_cont if p.cont else end}'.encode()
            for seq, p in zip(itertools.count(first_seq), pieces)
        ]
    # The few (level, follows) pairs, each formatted once per batch.
    mids: dict[tuple[str | None, bool], str] = {}
    for mark in set(marks):
        mids[mark] = stamp + mark_fields(*mark) + ',"text":'
    return [
        f'{{"seq":{seq}{mids[m]}{enc(p.text)}{end_cont if p.cont else end}'.encode()
        for seq, p, m in zip(itertools.count(first_seq), pieces, marks)
    ]


# One line with everything of its own: (ts, text, fd, cont, level).
Entry = tuple[float, str, "str | None", bool, "str | None"]


def encode_entries(
    first_seq: int,
    entries: Iterable[Entry],
    marks: Sequence[tuple[str | None, bool]] | None = None,
    stamps: Sequence[str] | None = None,
) -> list[bytes]:
    """Lines numbered from ``first_seq``, each with its own time stamp, fd and level.

    With ``marks`` (each line's ``(level, follows)`` from
    :func:`tailcast.protocol.follows.annotate_entries`) those stand instead
    of the entries' levels, and each pair is formatted once per batch: the
    same bytes as :func:`encode_line`, at a fraction of its cost per line.
    ``stamps`` (with ``marks``): each line's ``ts`` already as its JSON text,
    ``format_ts(ts)`` (the journal has it from the entry's digits), so the
    float is not formatted again; one per entry or a ``ValueError``.
    """
    if marks is None:
        return [
            encode_line(seq, ts, text, fd, cont, level)
            for seq, (ts, text, fd, cont, level) in zip(itertools.count(first_seq), entries)
        ]
    batch = entries if isinstance(entries, list) else list(entries)
    times = [format_ts(e[0]) for e in batch] if stamps is None else stamps
    mids = {mark: mark_fields(*mark) + ',"text":' for mark in set(marks)}
    enc = _encode_str
    return [
        f'{{"seq":{seq},"ts":{t}{mids[m]}{enc(text)}'
        f"{'}' if fd is None and not cont else _tail(fd, cont)}".encode()
        for seq, (_, text, fd, cont, _), m, t in zip(
            range(first_seq, first_seq + len(batch)), batch, marks, times, strict=True
        )
    ]


def _tail(fd: str | None, cont: bool) -> str:
    """What follows a LINE's text: ``fd``, ``cont`` and the closing brace."""
    out = "" if fd is None else f',"fd":"{fd}"'
    return out + (',"cont":true}' if cont else "}")


def lines_frame(stream_id: str, encoded_lines: Sequence[bytes]) -> bytes:
    """A ``lines`` frame from lines already encoded with :func:`encode_line`."""
    head = b'{"type":"lines","stream":' + _dumps(stream_id).encode() + b',"lines":['
    if not encoded_lines:
        return head + b"]}"
    # One join builds the whole frame: no second copy of a large batch just
    # to put the head and tail around it.
    parts = list(encoded_lines)
    parts[0] = head + parts[0]
    parts[-1] += b"]}"
    return b",".join(parts)


def gap_frame(stream_id: str, first: int, last: int) -> bytes:
    return _frame({"type": "gap", "stream": stream_id, "from": first, "to": last})


def status_frame(stream_id: str, state: str, **extra: Any) -> bytes:
    body: dict[str, Any] = {"type": "status", "stream": stream_id, "state": state}
    body.update({k: v for k, v in extra.items() if v is not None})
    return _frame(body)


def hello_frame(server: str, streams: Iterable[Mapping[str, Any]]) -> bytes:
    return _frame(
        {"type": "hello", "version": PROTOCOL_VERSION, "server": server, "streams": list(streams)}
    )


def streams_frame(streams: Iterable[Mapping[str, Any]]) -> bytes:
    return _frame({"type": "streams", "streams": list(streams)})


def decode_line(data: bytes) -> dict[str, Any]:
    """An encoded line back as a dict (for text output and tests)."""
    obj: dict[str, Any] = json.loads(data)
    return obj


def error_frame(message: str) -> bytes:
    return _frame({"type": "error", "message": message})


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``subscribe``: ``streams`` may hold ``"*"``; ``since`` maps id -> last seen seq.

    ``filter`` is the compiled ``filter`` object (None: every line).
    """

    streams: tuple[str, ...]
    tail: int | None = None
    since: Mapping[str, int] | None = None
    filter: LineFilter | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    streams: tuple[str, ...]


def _stream_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FrameError('"streams" must be a list of stream ids')
    if len(value) > MAX_STREAMS_PER_FRAME:
        raise FrameError(f'"streams" names more than {MAX_STREAMS_PER_FRAME} streams')
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not (item == ALL or STREAM_ID_RE.match(item)):
            raise FrameError(f"not a stream id: {str(item)[:80]!r}")
        if item not in out:
            out.append(item)
    return tuple(out)


def _nonneg_int(value: object, what: str, limit: int) -> int:
    # bool is an int in Python; true/false is not a count on the wire.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise FrameError(f"{what} must be a whole number from 0 to {limit}")
    return value


def _filter(obj: Mapping[str, Any]) -> LineFilter | None:
    """``subscribe``'s ``filter``, compiled (a bad pattern is a :class:`FrameError`)."""
    raw = obj.get("filter")
    if raw is None:
        return None
    try:
        spec = parse_filter(raw)
        return None if spec.empty else compile_filter(spec)
    except BadFilter as exc:
        raise FrameError(str(exc)) from None


def parse_client_frame(text: str | bytes) -> Subscribe | Unsubscribe:
    """Parse one client frame; raise :class:`FrameError` saying what is wrong."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"not JSON: {exc}") from None
    except RecursionError:
        # "[[[[..." a few thousand deep fits in one frame and exhausts the stack.
        raise FrameError("not JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise FrameError("a frame must be a JSON object")
    kind = obj.get("type")
    if kind == "subscribe":
        streams = _stream_list(obj.get("streams"))
        tail = None
        if "tail" in obj and obj["tail"] is not None:
            tail = _nonneg_int(obj["tail"], '"tail"', MAX_TAIL)
        since: dict[str, int] | None = None
        if "since" in obj and obj["since"] is not None:
            raw = obj["since"]
            if not isinstance(raw, dict):
                raise FrameError('"since" must be an object of stream id -> seq')
            if len(raw) > MAX_STREAMS_PER_FRAME:
                raise FrameError(f'"since" names more than {MAX_STREAMS_PER_FRAME} streams')
            since = {}
            for key, seq in raw.items():
                if not STREAM_ID_RE.match(key):
                    raise FrameError(f"not a stream id: {key[:80]!r}")
                since[key] = _nonneg_int(seq, f'"since" of {key}', 2**53)
        return Subscribe(streams=streams, tail=tail, since=since, filter=_filter(obj))
    if kind == "unsubscribe":
        return Unsubscribe(streams=_stream_list(obj.get("streams")))
    if isinstance(kind, str):
        raise FrameError(f"unknown frame type: {kind[:40]!r}")
    raise FrameError('a frame needs a "type"')
