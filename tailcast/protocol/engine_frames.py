"""The Docker Engine's multiplexed log stream, framed without I/O.

A non-TTY container's ``/containers/ID/logs`` is a sequence of frames: an
8-byte header (byte 0 the stream: 0 stdin, 1 stdout, 2 stderr, 3 the engine's
own error; bytes 1..3 zero; bytes 4..7 the payload length, big-endian) then
the payload. :class:`FrameDecoder` is fed bytes in whatever chunks the
connection returned and gives :class:`Frame` events. A length over
``max_frame`` is refused with :class:`~tailcast.errors.FrameTooLarge` as soon
as its header is complete, before a byte of it is buffered. ``raw=True`` is
the TTY form: no headers, the bytes are stdout.

This module imports no asyncio and no aiohttp (a test holds us to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from tailcast.errors import FrameTooLarge, ProtocolError

__all__ = ["DEFAULT_MAX_FRAME", "HEADER_SIZE", "Frame", "FrameDecoder", "encode_frame"]

HEADER_SIZE = 8
# Docker splits log messages at 16 KiB, Podman at 8 KiB; a timestamp adds 31
# bytes. Anything far above that is not a log frame.
DEFAULT_MAX_FRAME = 1024 * 1024

_STREAMS = {0: "out", 1: "out", 2: "err", 3: "sys"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of the multiplexed stream (or one chunk of a raw one)."""

    fd: str  # "out", "err", or "sys" (the engine's own error message)
    data: bytes


def encode_frame(fd: int, payload: bytes) -> bytes:
    """A multiplexed frame as the engine sends it (for tests and fakes)."""
    return bytes([fd, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


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
