"""Docker Engine log records, decoded into lines without I/O.

What tailcast asks the engine for (``timestamps=1``): every log record starts
with the engine's RFC 3339 timestamp and a space (see
:mod:`tailcast.protocol.engine_time`); non-TTY records come in the frames of
:mod:`tailcast.protocol.engine_frames`. :class:`LogDecoder` is fed bytes in
whatever chunks the connection returned and gives :class:`LogLine` pieces with
``ts`` from that timestamp and ``fd`` from the stream byte, and

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

from collections.abc import Callable
from dataclasses import dataclass

from tailcast.defaults import DEFAULT_MAX_LINE
from tailcast.errors import ProtocolError
from tailcast.protocol.engine_frames import DEFAULT_MAX_FRAME, Frame, FrameDecoder
from tailcast.protocol.engine_time import MAX_TIMESTAMP, NS_PER_SECOND, TIMESTAMP_RE, match_ns
from tailcast.protocol.lines import LineSplitter, Piece

__all__ = ["TTY_JOIN_WINDOW", "LogDecoder", "LogLine", "ResumePoint"]

TTY_JOIN_WINDOW = 10.0


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line piece with the engine's timestamp; ``cont`` continues the previous piece."""

    fd: str
    ts: float
    text: str
    cont: bool = False


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
        return max(0, self.ts_ns // NS_PER_SECOND - 1)


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
        hold: Callable[[str, bool], int] | None = None,
    ) -> None:
        self.tty = tty
        self.max_line = max_line
        # With redaction: where a secret may begin is kept back at a cut
        # (:class:`~tailcast.protocol.lines.LineSplitter`'s ``hold``).
        self.hold = hold
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

    def flush(self, *, quiet: bool = False) -> list[LogLine]:
        """Partial lines now (after a quiet delay); their rest follows as ``cont``.

        ``quiet``: a further quiet delay (what the ``hold`` kept back, but for
        what may begin a secret).
        """
        if self.tty and self._rec_ts is not None and self._raw:
            # Bytes held back in case they start a timestamp: after a quiet
            # delay they are text.
            self._content(bytes(self._raw))
            self._raw.clear()
        for fd, splitter in self._splitters.items():
            self._emit(fd, self._last_ts.get(fd, 0.0), splitter.flush(quiet=quiet))
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
            m = TIMESTAMP_RE.match(data, pos)
            if m is None:
                raise ProtocolError(f"log record without a timestamp: {data[pos : pos + 40]!r}")
            ts_ns = match_ns(m)
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
                m = TIMESTAMP_RE.match(buf)
                if m is None:
                    if len(buf) >= MAX_TIMESTAMP or b" " in buf:
                        raise ProtocolError(f"log record without a timestamp: {bytes(buf[:40])!r}")
                    return  # the timestamp is not complete yet
                self._rec_ts = match_ns(m)
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
            keep = min(len(buf), MAX_TIMESTAMP - 1)
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
            m = TIMESTAMP_RE.search(buf, pos, min(len(buf), end + MAX_TIMESTAMP))
            if m is None or m.start() >= end:
                return None
            try:
                ts_ns = match_ns(m)
            except ProtocolError:
                ts_ns = -1
            if self._rec_ts <= ts_ns <= self._rec_ts + int(TTY_JOIN_WINDOW * NS_PER_SECOND):
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
            splitter = self._splitters[fd] = LineSplitter(self.max_line, hold=self.hold)
        ts = ts_ns / NS_PER_SECOND
        self._last_ts[fd] = ts
        self._emit(fd, ts, splitter.feed(data))

    def _emit(self, fd: str, ts: float, pieces: list[Piece]) -> None:
        for p in pieces:
            self._out.append(LogLine(fd, ts, p.text, p.cont))
