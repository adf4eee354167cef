"""Docker Engine API log streams, decoded without I/O.

Two layers, both fed bytes in whatever chunks the connection returned:

:class:`FrameDecoder` -- the multiplexed stream of a non-TTY container's
``/containers/ID/logs``: an 8-byte header (byte 0 the stream: 0 stdin, 1
stdout, 2 stderr, 3 the engine's own error; bytes 1..3 zero; bytes 4..7 the
payload length, big-endian) then the payload. A length over ``max_frame`` is
refused with :class:`~tailcast.errors.FrameTooLarge` as soon as its header is
complete, before a byte of it is buffered. ``raw=True`` is the TTY form: no
headers, the bytes are stdout.

:class:`LogDecoder` -- what tailcast asks for (``timestamps=1``): every log
record starts with the engine's RFC 3339 timestamp and a space
(``2024-05-01T10:00:00.123456789Z`` from Docker, whole seconds from Podman).
It gives :class:`LogLine` pieces with ``ts`` from that timestamp and ``fd``
from the stream byte, and

- joins long lines the engine split into several records (Docker at 16 KiB,
  Podman at 4-8 KiB: a record with no trailing newline continues), per fd,
  then cuts them again at tailcast's own ``max_line`` (``cont`` pieces);
- resumes without duplicates: :attr:`LogDecoder.resume` is the position of the
  last record it accepted (its timestamp and how many records carried exactly
  that timestamp). After a reconnect the caller asks the engine for
  ``since=`` :meth:`ResumePoint.since` -- a little earlier than needed, since
  timestamps may have whole-second precision only -- calls
  :meth:`LogDecoder.new_connection`, and the records already accepted are
  dropped again by counting. The engine returns a container's records in log
  order on every request, which is what makes counting sound.

In raw (TTY) mode records are not framed: a record ends at its newline, and a
record cut short by the engine (a long line, a partial write) is followed
directly by the next record's timestamp. Such a timestamp inside a line is
recognised only when it is not earlier than the record before it and at most
:data:`TTY_JOIN_WINDOW` seconds later; a TTY line that itself contains the
engine's exact timestamp format for that same moment is cut there.

This module imports no asyncio and no aiohttp (a test holds us to it).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from tailcast.defaults import DEFAULT_MAX_LINE
from tailcast.errors import FrameTooLarge, ProtocolError
from tailcast.protocol.lines import LineSplitter, Piece

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HEADER_SIZE",
    "TTY_JOIN_WINDOW",
    "Frame",
    "FrameDecoder",
    "LogDecoder",
    "LogLine",
    "ResumePoint",
    "encode_frame",
    "format_timestamp",
    "parse_timestamp",
]

HEADER_SIZE = 8
# Docker splits log messages at 16 KiB, Podman at 8 KiB; a timestamp adds 31
# bytes. Anything far above that is not a log frame.
DEFAULT_MAX_FRAME = 1024 * 1024
TTY_JOIN_WINDOW = 10.0
# Longest timestamp prefix: 2024-05-01T10:00:00.123456789+00:00 and a space.
_MAX_TS = 36

_STREAMS = {0: "out", 1: "out", 2: "err", 3: "sys"}
_TS_RE = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) "
)
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of the multiplexed stream (or one chunk of a raw one)."""

    fd: str  # "out", "err", or "sys" (the engine's own error message)
    data: bytes


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line piece with the engine's timestamp; ``cont`` continues the previous piece."""

    fd: str
    ts: float
    text: str
    cont: bool = False


def encode_frame(fd: int, payload: bytes) -> bytes:
    """A multiplexed frame as the engine sends it (for tests and fakes)."""
    return bytes([fd, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def parse_timestamp(text: bytes) -> int:
    """An engine timestamp (RFC 3339, optional fraction) as UNIX nanoseconds.

    Raises :class:`ProtocolError` for anything else.
    """
    m = _TS_RE.fullmatch(text if text.endswith(b" ") else text + b" ")
    if m is None:
        raise ProtocolError(f"not an engine timestamp: {text[:_MAX_TS]!r}")
    return _ts_ns(m)


def _ts_ns(m: re.Match[bytes]) -> int:
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ProtocolError(f"not an engine timestamp: {m.group(0)!r}")
    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    frac = m.group(7) or b""
    nanos = int(frac.ljust(9, b"0")) if frac else 0
    zone = m.group(8)
    if zone != b"Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        secs -= offset if zone[:1] == b"+" else -offset
    return secs * _NS + nanos


def format_timestamp(ts_ns: int, *, fraction: bool = True) -> bytes:
    """``ts_ns`` the way the engine writes it (Docker with, Podman without fraction)."""
    secs, nanos = divmod(ts_ns, _NS)
    y, mo, d, h, mi, s = _gmtime(secs)
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    if fraction and nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return (text + "Z").encode()


def _gmtime(secs: int) -> tuple[int, int, int, int, int, int]:
    # time.gmtime without importing time's clock functions into the pure layer.
    days, rest = divmod(secs, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    # Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day, hour, minute, second


class FrameDecoder:
    """Multiplexed (or raw) log stream bytes in, :class:`Frame` events out.

    ``feed_data`` then ``events``; ``feed_eof`` when the response ended, which
    raises :class:`ProtocolError` if it ended inside a frame. After an error
    the decoder refuses further input. It buffers at most one header plus one
    frame of up to ``max_frame`` bytes.
    """

    __slots__ = ("_broken", "_buf", "_eof", "_events", "_need", "_stream", "max_frame", "raw")

    def __init__(self, *, raw: bool = False, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.raw = raw
        self.max_frame = max_frame
        self._buf = bytearray()
        self._events: list[Frame] = []
        self._stream: str | None = None  # set while a payload is being read
        self._need = HEADER_SIZE
        self._eof = False
        self._broken: ProtocolError | None = None

    @property
    def in_frame(self) -> bool:
        """True between a frame's first byte and its last."""
        return bool(self._buf) or self._stream is not None

    def feed_data(self, data: bytes) -> None:
        if self._broken is not None:
            raise ProtocolError(f"stream already broken: {self._broken}")
        if self._eof:
            raise ProtocolError("data after the end of the stream")
        if not data:
            return
        if self.raw:
            self._events.append(Frame("out", bytes(data)))
            return
        try:
            self._parse(data)
        except ProtocolError as exc:
            self._broken = exc
            self._buf.clear()
            raise

    def _parse(self, data: bytes) -> None:
        view = memoryview(data)
        buf = self._buf
        while view:
            take = min(self._need - len(buf), len(view))
            buf += view[:take]
            view = view[take:]
            if len(buf) < self._need:
                return
            if self._stream is None:
                self._stream = self._header(bytes(buf))
                self._need = int.from_bytes(buf[4:8], "big")
                buf.clear()
                if self._need:
                    continue
            self._events.append(Frame(self._stream, bytes(buf)))
            buf.clear()
            self._stream = None
            self._need = HEADER_SIZE

    def _header(self, header: bytes) -> str:
        stream = _STREAMS.get(header[0])
        if stream is None or header[1:4] != b"\0\0\0":
            raise ProtocolError(f"not a log frame header: {header.hex()}")
        length = int.from_bytes(header[4:8], "big")
        if length > self.max_frame:
            raise FrameTooLarge(length, self.max_frame)
        return stream

    def feed_eof(self) -> None:
        self._eof = True
        if self._broken is None and self.in_frame:
            have = len(self._buf)
            what = "payload" if self._stream is not None else "header"
            self._broken = ProtocolError(
                f"stream ended inside a frame {what} ({have} of {self._need} bytes)"
            )
            raise self._broken

    def events(self) -> list[Frame]:
        out, self._events = self._events, []
        return out


@dataclass(slots=True)
class ResumePoint:
    """Where a container's log was read up to: a timestamp and a count at it."""

    ts_ns: int = -1
    count: int = 0  # records accepted whose timestamp is exactly ts_ns

    def since(self) -> int | None:
        """The ``since=`` (whole UNIX seconds) to ask for after a reconnect.

        One second early: the engine's ``since`` may be inclusive or not and
        its timestamps may be whole seconds; the decoder drops the extra.
        """
        if self.ts_ns < 0:
            return None
        return max(0, self.ts_ns // _NS - 1)


class LogDecoder:
    """Engine log bytes (``timestamps=1``) in, :class:`LogLine` pieces out.

    One decoder per container; it lives across connections (see the module
    docstring for resuming). ``tty`` picks the raw form.
    """

    def __init__(
        self,
        *,
        tty: bool,
        max_line: int = DEFAULT_MAX_LINE,
        max_frame: int = DEFAULT_MAX_FRAME,
        resume: ResumePoint | None = None,
    ) -> None:
        self.tty = tty
        self.max_line = max_line
        self.max_frame = max_frame
        self.resume = resume if resume is not None else ResumePoint()
        self.records = 0  # accepted
        self.dropped = 0  # already seen before a reconnect
        self._splitters: dict[str, LineSplitter] = {}
        self._out: list[LogLine] = []
        self._last_ts: dict[str, float] = {}
        self._rec_ts: int | None = None
        self._rec_keep = False
        self._rec_taken = 0  # content bytes of the current raw record seen so far
        self._skip_bytes = 0
        self.new_connection()

    def new_connection(self) -> None:
        """A new response begins: frame state resets, partial lines and position stay."""
        self._frames = FrameDecoder(raw=self.tty, max_frame=self.max_frame)
        self._skip = self.resume.count
        # Raw-mode record state: bytes not yet assigned, and the current record.
        self._raw = bytearray()
        # A raw record that was cut by the end of the last connection is sent
        # again in full: skip the content bytes already taken from it.
        # (A connection that did not get as far keeps the old count.)
        if self._rec_ts is not None and self._rec_keep:
            self._skip_bytes = max(self._skip_bytes, self._rec_taken)
        self._rec_ts = None
        self._rec_keep = False
        self._rec_taken = 0

    # -- input -----------------------------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        self._frames.feed_data(data)
        for frame in self._frames.events():
            if self.tty:
                self._raw += frame.data
                self._parse_raw()
            else:
                self._parse_frame(frame)

    def feed_eof(self) -> None:
        """This response ended. Raises :class:`ProtocolError` if it ended mid-frame."""
        # Raw mode: bytes held back at the end (maybe the start of a
        # timestamp) stay until finish(); a new connection sends them again.
        self._frames.feed_eof()

    def events(self) -> list[LogLine]:
        out, self._out = self._out, []
        return out

    def flush(self) -> list[LogLine]:
        """Partial lines now (after a quiet delay); their rest follows as ``cont``."""
        if self.tty and self._rec_ts is not None and self._raw:
            # Bytes held back in case they start a timestamp: after a quiet
            # delay they are text.
            self._content(bytes(self._raw))
            self._raw.clear()
        for fd, splitter in self._splitters.items():
            self._emit(fd, self._last_ts.get(fd, 0.0), splitter.flush())
        return self.events()

    def finish(self) -> list[LogLine]:
        """The container stopped and its last response ended: each partial line is a line."""
        if self.tty:
            if self._rec_ts is not None:
                self._content(bytes(self._raw))
            self._raw.clear()
        for fd, splitter in self._splitters.items():
            self._emit(fd, self._last_ts.get(fd, 0.0), splitter.feed_eof())
        return self.events()

    @property
    def pending(self) -> int:
        """Bytes held as partial lines."""
        return sum(s.pending for s in self._splitters.values()) + len(self._raw)

    # -- records ---------------------------------------------------------------------

    def _is_new(self, ts_ns: int) -> bool:
        """Resume filter: False for a record already accepted before a reconnect."""
        resume = self.resume
        if ts_ns < resume.ts_ns or (ts_ns == resume.ts_ns and self._skip > 0):
            if ts_ns == resume.ts_ns:
                self._skip -= 1
            self.dropped += 1
            return False
        return True

    def _mark(self, ts_ns: int) -> None:
        """A record was accepted whole: it is the new resume position."""
        resume = self.resume
        if ts_ns == resume.ts_ns:
            resume.count += 1
        else:
            resume.ts_ns = ts_ns
            resume.count = 1
            self._skip = 0
        self.records += 1

    def _parse_frame(self, frame: Frame) -> None:
        data = frame.data
        pos = 0
        # One record per frame from both engines; several newline-separated
        # records in one frame are accepted too.
        while pos < len(data):
            m = _TS_RE.match(data, pos)
            if m is None:
                raise ProtocolError(f"log record without a timestamp: {data[pos : pos + 40]!r}")
            ts_ns = _ts_ns(m)
            nl = data.find(b"\n", m.end())
            end = len(data) if nl < 0 else nl + 1
            if self._is_new(ts_ns):
                self._mark(ts_ns)
                fd = "err" if frame.fd == "sys" else frame.fd
                self._feed_line(fd, ts_ns, data[m.end() : end])
            pos = end

    def _parse_raw(self) -> None:
        buf = self._raw
        while buf:
            if self._rec_ts is None:
                m = _TS_RE.match(buf)
                if m is None:
                    if len(buf) >= _MAX_TS or b" " in buf:
                        raise ProtocolError(f"log record without a timestamp: {bytes(buf[:40])!r}")
                    return  # the timestamp is not complete yet
                self._rec_ts = _ts_ns(m)
                self._rec_keep = self._is_new(self._rec_ts)
                self._rec_taken = 0
                del buf[: m.end()]
                continue
            nl = buf.find(b"\n")
            cut = self._raw_boundary(len(buf) if nl < 0 else nl)
            if cut is None and nl >= 0:
                cut = nl + 1
            if cut is not None:
                self._content(bytes(buf[:cut]))
                del buf[:cut]
                self._end_record()
                continue
            # No end in sight: pass on all but a tail that could be the start
            # of the next record's timestamp.
            keep = min(len(buf), _MAX_TS - 1)
            if len(buf) > keep:
                self._content(bytes(buf[: len(buf) - keep]))
                del buf[: len(buf) - keep]
            return

    def _raw_boundary(self, end: int) -> int | None:
        """Where, before ``end``, the next record's timestamp begins mid-line (raw mode)."""
        assert self._rec_ts is not None
        buf = self._raw
        pos = 0
        while True:
            m = _TS_RE.search(buf, pos, min(len(buf), end + _MAX_TS))
            if m is None or m.start() >= end:
                return None
            try:
                ts_ns = _ts_ns(m)
            except ProtocolError:
                ts_ns = -1
            if self._rec_ts <= ts_ns <= self._rec_ts + int(TTY_JOIN_WINDOW * _NS):
                return m.start()
            pos = m.start() + 1

    def _content(self, data: bytes) -> None:
        """Content bytes of the current raw record."""
        if not self._rec_keep or self._rec_ts is None:
            return
        offset = self._rec_taken
        self._rec_taken += len(data)
        if offset < self._skip_bytes:
            data = data[self._skip_bytes - offset :]
        if data:
            self._feed_line("out", self._rec_ts, data)

    def _end_record(self) -> None:
        if self._rec_keep and self._rec_ts is not None:
            self._mark(self._rec_ts)
            self._skip_bytes = 0
        self._rec_ts = None
        self._rec_keep = False
        self._rec_taken = 0

    def _feed_line(self, fd: str, ts_ns: int, data: bytes) -> None:
        splitter = self._splitters.get(fd)
        if splitter is None:
            splitter = self._splitters[fd] = LineSplitter(self.max_line)
        ts = ts_ns / _NS
        self._last_ts[fd] = ts
        self._emit(fd, ts, splitter.feed(data))

    def _emit(self, fd: str, ts: float, pieces: list[Piece]) -> None:
        for p in pieces:
            self._out.append(LogLine(fd, ts, p.text, p.cont))
