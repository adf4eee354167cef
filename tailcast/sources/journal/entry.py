"""``journalctl -o json`` output into lines, and the ``journalctl`` command: no I/O here.

One entry is one JSON object per line of ``journalctl``'s output. Its LINE:

- ``ts``: ``__REALTIME_TIMESTAMP`` (microseconds since the epoch);
- ``text``: ``MESSAGE``. journalctl writes a value that is not printable
  UTF-8 (invalid bytes, an escape sequence) as an array of byte values: those
  are decoded as UTF-8 with U+FFFD for invalid bytes, like every other
  source. A message of several lines gives one LINE per line; one longer than
  ``--max-line`` is cut into ``cont`` pieces (:class:`LineSplitter`, the same
  rules as a file);
- ``level``: from ``PRIORITY`` (:data:`PRIORITY_LEVELS`).

``__CURSOR`` is where the entry is in the journal: the source keeps the last
one published as the stream's checkpoint and starts ``journalctl
--after-cursor`` from it.

Each LINE's ``ts`` also comes as its JSON text (:meth:`EntryReader.read`):
``__REALTIME_TIMESTAMP`` is already the decimal microseconds, so the text is
cut from it rather than the float formatted again per line
(:func:`stamp_text`), the same bytes as :func:`~tailcast.protocol.wire.format_ts`.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec

from tailcast.protocol.columns import Columns
from tailcast.protocol.levels import level_from_priority
from tailcast.protocol.lines import LineSplitter
from tailcast.protocol.wire import Entry, format_ts

__all__ = [
    "MAX_ENTRY",
    "PRIORITY_LEVELS",
    "EntryReader",
    "entry_lines",
    "journalctl_argv",
    "message_text",
    "stamp_text",
]

# PRIORITY as journalctl writes it (a string "0".."7") -> the contract's level:
# the one table in tailcast.protocol.levels, keyed for a lookup per entry.
PRIORITY_LEVELS: dict[str, str] = {
    str(p): level for p in range(8) if (level := level_from_priority(p)) is not None
}
# The fields of a common entry, taken in one C call (EntryReader._entries).
_COMMON_FIELDS = operator.itemgetter("MESSAGE", "__REALTIME_TIMESTAMP", "PRIORITY")


class _Common(msgspec.Struct, gc=False):
    """What a LINE needs of a common entry (EntryReader._columns); the parser skips the rest.

    ``gc=False``: only strings in it, so no cycle; a read makes thousands at
    once, and each one tracked would run the cyclic collector over them all.
    """

    MESSAGE: str
    PRIORITY: str
    # (16 digits: checked by the parser, in C)
    realtime: Annotated[str, msgspec.Meta(min_length=16, max_length=16)] = msgspec.field(
        name="__REALTIME_TIMESTAMP"
    )
    # (no cursor: only the last entry's is kept, read from the last line alone)


_COMMON = msgspec.json.Decoder(_Common)
_MESSAGE = operator.attrgetter("MESSAGE")
_REALTIME = operator.attrgetter("realtime")
_PRIORITY = operator.attrgetter("PRIORITY")
_ANY = msgspec.json.Decoder()
# The longest JSON line of one entry that is held while it arrives; a longer
# one is skipped (journalctl prints binary values as "255," per byte: 4x).
MAX_ENTRY = 32 * 1024 * 1024


def journalctl_argv(
    executable: str,
    *,
    match: str,
    directory: str | None,
    cursor: str | None,
    lines: int,
) -> list[str]:
    """The command that follows the journal: every argument is one ``argv`` item.

    ``--all``: without it journalctl writes a field over 4 KiB as ``null``.
    ``--output-fields``: only what a LINE needs (the cursor and time stamps
    come anyway); a real entry has some 25 fields, and formatting and parsing
    the rest would be most of the cost.
    ``--after-cursor`` resumes after the last entry published; without a
    cursor the newest ``lines`` entries come first (like a file's backlog).
    """
    argv = [executable, "--follow", "--output=json", "--output-fields=MESSAGE,PRIORITY"]
    argv += ["--all", "--no-pager", "--quiet"]
    if directory is not None:
        argv.append(f"--directory={directory}")
    if cursor is not None:
        argv.append(f"--after-cursor={cursor}")
    else:
        argv.append(f"--lines={lines}")
    if "=" in match:
        argv.append(match)  # FIELD=VALUE (the field name was checked: not an option)
    elif match:
        argv.append(f"--unit={match}")
    return argv


def message_text(value: Any) -> bytes | str:
    """``MESSAGE`` as journalctl wrote it: text, or the bytes of an array of byte values.

    A field given more than once in one entry is an array of its values: the
    first one counts. A missing or ``null`` message is empty.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        if all(isinstance(b, int) for b in value):
            return bytes(b & 0xFF for b in value)
        return message_text(value[0])
    return ""


def stamp_text(micros: str) -> str:
    """``format_ts(int(micros) / 1e6)`` for 16 ASCII digits from ``1`` to ``7…``.

    Those are the years 2001 to 2223, where a float holds every microsecond
    (:func:`~tailcast.protocol.wire.format_ts`): its shortest text is the
    digits with a point before the last six, trailing zeros cut. Slicing is a
    third of the cost of formatting the float; the caller checks the range.
    """
    text = micros[:10] + "." + micros[10:]
    if text[-1] != "0":
        return text
    text = text.rstrip("0")
    return text + "0" if text[-1] == "." else text


def entry_lines(
    obj: dict[str, Any], max_line: int, hold: Callable[[str, bool], int] | None = None
) -> list[Entry]:
    """The LINE(s) of one parsed entry, as ``(ts, text, fd, cont, level)``.

    ``hold``: with redaction, a ``--max-line`` cut keeps back where a secret
    may begin (:meth:`tailcast.protocol.redact.Redactor.hold`).
    """
    try:
        ts = int(obj["__REALTIME_TIMESTAMP"]) / 1e6
    except (KeyError, TypeError, ValueError):
        ts = time.time()
    priority = obj.get("PRIORITY")
    level = PRIORITY_LEVELS.get(priority) if isinstance(priority, str) else None
    message = message_text(obj.get("MESSAGE"))
    if isinstance(message, str):
        message = message.rstrip("\r\n")
        # The common case: one short line, no splitting needed.
        if "\n" not in message and len(message) * 4 <= max_line:
            return [(ts, message, None, False, level)]
        data = message.encode("utf-8", "surrogatepass")
    else:
        data = message.rstrip(b"\r\n")
    pieces = LineSplitter(max_line, hold=hold).feed(data + b"\n")
    return [(ts, p.text, None, p.cont, level) for p in pieces]


class EntryReader:
    """journalctl's output, read by read, into lines and the cursor after them."""

    __slots__ = ("_buf", "_skipping", "cursor", "entries", "hold", "max_line", "skipped")

    def __init__(
        self,
        max_line: int,
        cursor: str | None = None,
        hold: Callable[[str, bool], int] | None = None,
    ) -> None:
        self.max_line = max_line
        self.hold = hold
        self.cursor = cursor
        self.entries = 0
        self.skipped = 0  # lines that were not an entry, or too long to hold
        self._buf = b""
        self._skipping = False

    def feed(self, data: bytes) -> list[Entry]:
        """Lines of every entry complete in the output so far; ``cursor`` follows them."""
        return self.read(data)[0]

    def read(self, data: bytes) -> tuple[list[Entry], list[str]]:
        """Like :meth:`feed`, with each line's ``ts`` as its JSON text beside it."""
        lines = self.read_columns(data)
        return (lines.entries(), lines.stamps()) if isinstance(lines, Columns) else lines

    def read_columns(self, data: bytes) -> Columns | tuple[list[Entry], list[str]]:
        """Like :meth:`read`; a read of common entries only as :class:`Columns` (the hot path)."""
        buf = self._buf + data if self._buf else data
        end = buf.rfind(b"\n")
        if end < 0:
            self._hold(buf)
            return [], []
        self._hold(buf[end + 1 :])
        chunk = buf[:end]
        if self._skipping:  # the rest of an entry too long to hold
            self._skipping = False
            cut = chunk.find(b"\n")
            if cut < 0:
                return [], []
            chunk = chunk[cut + 1 :]
        return self._columns(chunk) or self._entries(self._parse(chunk))

    def _hold(self, rest: bytes) -> None:
        if len(rest) > MAX_ENTRY:
            self.skipped += 1
            self._skipping = True
            rest = b""
        self._buf = rest

    def _parse(self, chunk: bytes) -> list[Any]:
        """The values of the complete lines in ``chunk``: one parse for all of them.

        journalctl writes one JSON object per line (it escapes every newline
        inside a value): msgspec parses them all in one call from the bytes
        as read (it checks the UTF-8 itself). If that fails, each line is
        parsed on its own by :func:`json.loads`, so a bad line skips only
        itself and any odd line is taken exactly as the standard parser takes it.
        """
        try:
            return _ANY.decode_lines(chunk)
        except (msgspec.DecodeError, ValueError):  # (ValueError: UnicodeDecodeError)
            return self._parse_each(chunk.split(b"\n"))

    def _parse_each(self, raw_lines: Sequence[bytes]) -> list[Any]:
        objs: list[Any] = []
        for raw in raw_lines:
            try:
                objs.append(json.loads(raw))
            except ValueError:
                self.skipped += 1  # not JSON: journalctl never writes that to stdout
        return objs

    def _columns(self, chunk: bytes) -> Columns | None:
        """The lines of ``chunk`` as columns if every one is a common entry, else None.

        A common entry: a text ``MESSAGE`` of one line within a quarter of
        ``--max-line`` (so no cut is needed), a ``PRIORITY`` "0"-"7", and a
        ``__REALTIME_TIMESTAMP`` of 16 digits from 1 to 7 (the years 2001 to
        2223: :func:`stamp_text`). msgspec parses only those fields into a
        :class:`_Common` each, skipping the rest of each object (the cursor
        is the last line's, parsed alone); every other check is a C loop over
        the whole read (a join, a ``map``): no Python code runs per entry
        here. One odd entry sends the read the general way (:meth:`_entries`).
        """
        try:
            objs = _COMMON.decode_lines(chunk)
            if not objs:
                return None
            # (three C loops, not a tuple per entry zipped apart: no object the collector tracks)
            messages = list(map(_MESSAGE, objs))
            micros = list(map(_REALTIME, objs))
            priorities = map(_PRIORITY, objs)
            joined = "".join(messages)
            digits = "".join(micros).encode("ascii")  # (bytes.isdigit: ASCII digits only)
            levels = list(map(PRIORITY_LEVELS.__getitem__, priorities))
        except (msgspec.DecodeError, KeyError, ValueError):  # (UnicodeDecodeError)
            return None
        if (
            "\n" in joined
            or "\r" in joined  # (a trailing one is cut: the general way)
            or max(map(len, messages)) > self.max_line // 4
            or not digits.isdigit()
            or min(micros) < "1"
            or max(micros) >= "8"
        ):
            return None
        try:
            last = _ANY.decode(chunk[chunk.rfind(b"\n") + 1 :])
        except (msgspec.DecodeError, ValueError):  # (two values on one line)
            return None
        self._cursor_after([last])
        self.entries += len(objs)
        return Columns(messages, levels, micros)

    def _entries(self, objs: list[Any]) -> tuple[list[Entry], list[str]]:
        """The lines of parsed entries and their ``ts`` texts; ``cursor`` after the last."""
        out: list[Entry] = []
        stamps: list[str] = []
        append, keep = out.append, stamps.append
        max_line, hold = self.max_line, self.hold
        quarter = max_line // 4
        levels = PRIORITY_LEVELS
        entries = 0
        common = _COMMON_FIELDS
        for obj in objs:
            # The common case inline: a text message of one short line, a
            # level, a time stamp whose text is cut from its digits (see
            # stamp_text). Anything else raises or fails a test: the general way.
            try:
                message, micros, priority = common(obj)
                if (
                    type(message) is str
                    and len(message) <= quarter
                    and "\n" not in message
                    and "\r" not in message  # (a trailing one is cut: the general way)
                    and len(micros) == 16
                    and "1" <= micros < "8"  # (TypeError unless a str)
                    and micros.isdigit()
                    and micros.isascii()
                ):
                    append((int(micros) / 1e6, message, None, False, levels[priority]))
                    keep(
                        f"{micros[:10]}.{micros[10:]}" if micros[-1] != "0" else stamp_text(micros)
                    )
                    entries += 1
                    continue
            except (KeyError, TypeError):  # a field missing or a list; not an object
                pass
            if type(obj) is dict:
                entries += 1
                lines = entry_lines(obj, max_line, hold)
                out.extend(lines)
                stamps.extend([format_ts(line[0]) for line in lines])
        self.entries += entries
        self.skipped += len(objs) - entries  # JSON, but not an object
        self._cursor_after(objs)
        return out, stamps

    def _cursor_after(self, objs: list[Any]) -> None:
        for obj in reversed(objs):  # the cursor after them: the last entry's
            cursor = obj.get("__CURSOR") if type(obj) is dict else None
            if isinstance(cursor, str):
                self.cursor = cursor
                return
