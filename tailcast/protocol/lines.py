"""Incremental line splitting: raw bytes in, decoded line pieces out.

A :class:`LineSplitter` is fed bytes in whatever chunks a read returned and
gives back :class:`Piece` objects:

- lines end at ``\\n``; a ``\\r`` right before it is dropped (CRLF). A lone
  ``\\r`` inside a line (progress output) is kept: the viewer shows the last
  segment;
- text is UTF-8 with each invalid byte replaced by U+FFFD. Bytes are only decoded
  once a piece is cut, and pieces are cut on character boundaries, so a
  multibyte character split across two reads stays whole;
- a line longer than ``max_line`` bytes is cut into pieces of at most
  ``max_line`` bytes; every piece after the first has ``cont=True``;
- :meth:`LineSplitter.flush` hands out a partial line (no newline yet) on
  demand: the caller calls it after a short quiet delay, and the rest of that
  line comes later as a ``cont`` piece.

Without :meth:`flush`, any chunking of the same bytes gives exactly the same
pieces as one feed (a Hypothesis test holds us to it). The buffer never holds
more than ``max_line`` bytes plus one read.

With ``hold`` (redaction on: :meth:`tailcast.protocol.redact.Redactor.hold`)
a piece that ends its line unfinished (a ``max_line`` cut, a flush) keeps
back the characters ``hold`` names (where a secret may begin) in the buffer:
they start the next piece, so a secret is never cut in two. A cut keeps back
at most half its piece (so a long line still moves on); ``flush(quiet=True)``
(after a further quiet delay) hands out all but what may begin a secret,
which waits for the rest of its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import repeat
from typing import NamedTuple

from tailcast.defaults import DEFAULT_MAX_LINE

__all__ = ["LineSplitter", "Piece", "utf8_boundary"]


class Piece(NamedTuple):
    """One emitted piece of a line: ``cont`` when it continues the previous one.

    A tuple ``(text, cont)``: what the hub's level detection takes as it is,
    and built for a whole read at once without a Python call per line.
    """

    text: str
    cont: bool = False


def utf8_boundary(data: bytes | bytearray, cut: int, lo: int = 0) -> int:
    """Move ``cut`` back so that ``data[cut]`` does not start inside a character.

    Backs off over at most three continuation bytes (the most a valid UTF-8
    character has) and never to ``lo`` or below; invalid input is cut where
    asked so that every piece holds at least one byte.
    """
    if cut >= len(data):
        return cut
    back = cut
    while back > cut - 3 and back > lo and (data[back] & 0xC0) == 0x80:
        back -= 1
    if (data[back] & 0xC0) == 0x80 or back == lo:
        return cut
    return back


def _incomplete_tail(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` are an unfinished UTF-8 character."""
    n = len(data)
    for k in range(1, min(4, n) + 1):
        b = data[n - k]
        if (b & 0xC0) == 0x80:
            continue  # continuation byte: keep looking for the lead byte
        if b >= 0xF0:
            need = 4
        elif b >= 0xE0:
            need = 3
        elif b >= 0xC0:
            need = 2
        else:
            return 0
        return k if k < need else 0
    return 0


# surrogateescape turns each invalid byte into one of these; they become U+FFFD.
_INVALID = re.compile("[\udc80-\udcff]")
_REPLACE_INVALID = {cp: "\ufffd" for cp in range(0xDC80, 0xDD00)}


class LineSplitter:
    """Split a byte stream into line pieces; see the module docstring."""

    __slots__ = ("_buf", "_cont", "hold", "max_line")

    def __init__(
        self,
        max_line: int = DEFAULT_MAX_LINE,
        *,
        cont: bool = False,
        hold: Callable[[str, bool], int] | None = None,
    ) -> None:
        if max_line < 4:
            raise ValueError("max_line must be at least 4 bytes (one UTF-8 character)")
        self.max_line = max_line
        self._buf = bytearray()
        # True when the next piece continues a line already (partly) emitted
        # (``cont=True``: by an earlier run, e.g. before a restart).
        self._cont = cont
        self.hold = hold

    @property
    def pending(self) -> int:
        """Bytes held back: a partial line waiting for its newline."""
        return len(self._buf)

    @property
    def cont(self) -> bool:
        """Whether the next piece continues a line already (partly) emitted."""
        return self._cont

    def feed(self, data: bytes) -> list[Piece]:
        """Add bytes; return every piece that is complete now."""
        out: list[Piece] = []
        buf = self._buf
        # What is already buffered holds no newline: search only the new bytes.
        scan = len(buf)
        buf += data
        start = self._whole_lines(buf, scan, out)
        scan = max(scan, start)
        while True:
            nl = buf.find(b"\n", scan)
            if nl < 0:
                break
            end = nl - 1 if nl > start and buf[nl - 1] == 0x0D else nl
            self._emit_line(buf, start, end, out)
            start = scan = nl + 1
        if start:
            del buf[:start]
        # A line still longer than max_line without its newline: cut it now so
        # the buffer stays bounded. The same cut points as a whole-line split.
        while len(buf) > self.max_line:
            cut, text = self._take(buf, 0, len(buf))
            if self.hold is not None:
                cut, text = self._held(cut, text, half=True)
            out.append(Piece(text, self._cont))
            self._cont = True
            del buf[:cut]
        return out

    def _whole_lines(self, buf: bytearray, scan: int, out: list[Piece]) -> int:
        """The common case in one go: the complete lines, valid UTF-8, none too long.

        One decode and one split for all of them instead of a search, a slice
        and a decode per line; the same pieces as the line-by-line loop of
        :meth:`feed`, which handles whatever this leaves (returns where it
        stopped: 0 when it took nothing).
        """
        last = buf.rfind(b"\n", scan)
        if last < 0:
            return 0
        try:
            text = buf[:last].decode("utf-8")
        except UnicodeDecodeError:
            return 0  # invalid bytes: replaced line by line
        texts = text.split("\n")
        if "\r" in text:  # CRLF endings (a lone CR inside a line stays)
            texts = [t[:-1] if t.endswith("\r") else t for t in texts]
        limit = self.max_line
        # A character is at most 4 bytes: only longer texts can be over max_line.
        if max(map(len, texts)) > limit // 4 and any(
            len(t.encode("utf-8")) > limit for t in texts if len(t) > limit // 4
        ):
            return 0  # a line to cut into pieces
        if self._cont:
            head = texts[0]
            if head:
                out.append(Piece(head, True))
            texts = texts[1:]
            self._cont = False
        # (tuple.__new__ is what Piece._make does, without a Python call per line)
        out.extend(map(tuple.__new__, repeat(Piece), zip(texts, repeat(False))))
        return last + 1

    def flush(self, *, quiet: bool = False) -> list[Piece]:
        """Emit the partial line now (after a quiet delay); the rest follows as ``cont``.

        A trailing ``\\r`` (maybe half of a CRLF) and an unfinished UTF-8
        character are held back so that nothing is decoded wrongly; with a
        ``hold`` function also what it names (``quiet``: the writer stayed
        quiet a further delay, only where a secret may begin).
        """
        buf = self._buf
        keep = _incomplete_tail(buf)
        end = len(buf) - keep
        if end > 0 and buf[end - 1] == 0x0D:
            end -= 1
        if end <= 0:
            return []
        out: list[Piece] = []
        start = 0
        while start < end:
            start, text = self._take(buf, start, end)
            if start >= end and self.hold is not None:
                start, text = self._held(start, text, half=False, quiet=quiet)
                if not text:
                    break
            out.append(Piece(text, self._cont))
            self._cont = True
        del buf[:start]
        return out

    def _held(self, cut: int, text: str, *, half: bool, quiet: bool = False) -> tuple[int, str]:
        """The piece ending at ``cut`` (``text``) without what ``hold`` keeps back."""
        assert self.hold is not None
        keep = min(self.hold(text, quiet), len(text) // 2 if half else len(text))
        if keep <= 0:
            return cut, text
        tail = text[-keep:]
        if "\ufffd" in tail:
            return cut, text  # invalid bytes: the byte count is not the text's; hold nothing
        return cut - len(tail.encode("utf-8")), text[:-keep]

    def feed_eof(self) -> list[Piece]:
        """The input ended: whatever is left is the last line."""
        buf = self._buf
        if not buf:
            self._cont = False
            return []
        out: list[Piece] = []
        end = len(buf) - 1 if buf[-1] == 0x0D else len(buf)
        self._emit_line(buf, 0, end, out)
        buf.clear()
        return out

    def _emit_line(self, buf: bytearray, start: int, end: int, out: list[Piece]) -> None:
        if end <= start:
            # An empty remainder after a flushed partial line ends that line
            # without another piece; a truly empty line is a line of its own.
            if not self._cont:
                out.append(Piece(""))
            self._cont = False
            return
        while True:
            cut, text = self._take(buf, start, end)
            if cut < end and self.hold is not None:
                cut, text = self._held(cut, text, half=True)
            out.append(Piece(text, self._cont))
            if cut >= end:
                break
            self._cont = True
            start = cut
        self._cont = False

    def _take(self, buf: bytearray, start: int, end: int) -> tuple[int, str]:
        """The next piece of ``buf[start:end]``: where it ends, and its text.

        The cut depends only on the bytes from ``start`` to ``start +
        max_line`` (inclusive), so a line cut while it is still arriving gets
        the same pieces as one that arrived whole.
        """
        limit = self.max_line
        cut = end if end - start <= limit else utf8_boundary(buf, start + limit, start)
        chunk = buf[start:cut]
        try:
            return cut, chunk.decode("utf-8")
        except UnicodeDecodeError:
            pass
        # Invalid bytes: each becomes U+FFFD, three bytes on the wire for one
        # read, so the piece may have to end earlier to fit max_line. With
        # surrogateescape every invalid byte is one character, so the bytes
        # behind each character are known and the piece is trimmed by whole
        # characters (never inside a valid one).
        text = chunk.decode("utf-8", "surrogateescape")
        nbytes = cut - start
        size = nbytes + 2 * len(_INVALID.findall(text))
        keep = len(text)
        while size > limit:
            keep -= 1
            ch = text[keep]
            if "\udc80" <= ch <= "\udcff":
                size -= 3
                nbytes -= 1
            else:
                width = len(ch.encode("utf-8"))
                size -= width
                nbytes -= width
        return start + nbytes, text[:keep].translate(_REPLACE_INVALID)
