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
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from tailcast.protocol.levels import level_from_priority
from tailcast.protocol.lines import LineSplitter
from tailcast.protocol.wire import Entry

__all__ = [
    "MAX_ENTRY",
    "PRIORITY_LEVELS",
    "EntryReader",
    "entry_lines",
    "journalctl_argv",
    "message_text",
]

# PRIORITY as journalctl writes it (a string "0".."7") -> the contract's level:
# the one table in tailcast.protocol.levels, keyed for a lookup per entry.
PRIORITY_LEVELS = {str(p): level_from_priority(p) for p in range(8)}
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
        buf = self._buf + data
        end = buf.rfind(b"\n")
        if end < 0:
            self._hold(buf)
            return []
        self._hold(buf[end + 1 :])
        chunk = buf[:end]
        if self._skipping:  # the rest of an entry too long to hold
            self._skipping = False
            cut = chunk.find(b"\n")
            if cut < 0:
                return []
            chunk = chunk[cut + 1 :]
        return self._parse(chunk)

    def _hold(self, rest: bytes) -> None:
        if len(rest) > MAX_ENTRY:
            self.skipped += 1
            self._skipping = True
            rest = b""
        self._buf = rest

    def _parse(self, chunk: bytes) -> list[Entry]:
        """The entries of the complete lines in ``chunk``: one ``json.loads`` for all of them.

        journalctl escapes every newline inside a value, so its lines joined
        with commas are one JSON array: parsed in one call, not one per line
        (that call's own overhead was a third of the source's CPU). If that
        fails, or is not one object per line, each line is parsed on its
        own, so a bad line skips only itself.
        """
        try:
            objs = json.loads("[" + chunk.decode("utf-8").replace("\n", ",") + "]")
        except ValueError:  # UnicodeDecodeError too
            return self._parse_each(chunk.split(b"\n"))
        if len(objs) != chunk.count(b"\n") + 1:
            return self._parse_each(chunk.split(b"\n"))
        return self._entries(objs)

    def _parse_each(self, raw_lines: Sequence[bytes]) -> list[Entry]:
        objs: list[Any] = []
        for raw in raw_lines:
            try:
                objs.append(json.loads(raw))
            except ValueError:
                self.skipped += 1  # not JSON: journalctl never writes that to stdout
        return self._entries(objs)

    def _entries(self, objs: list[Any]) -> list[Entry]:
        out: list[Entry] = []
        append = out.append
        max_line = self.max_line
        quarter = max_line // 4
        levels = PRIORITY_LEVELS
        entries = 0
        for obj in objs:
            if type(obj) is not dict:
                continue
            entries += 1
            message = obj.get("MESSAGE")
            # The common case inline: a text message of one short line.
            if (
                type(message) is str
                and len(message) <= quarter
                and "\n" not in message
                and "\r" not in message  # (a trailing one is cut: the slow way)
            ):
                try:
                    ts = int(obj["__REALTIME_TIMESTAMP"]) / 1e6
                except (KeyError, TypeError, ValueError):
                    ts = time.time()
                priority = obj.get("PRIORITY")  # a list when given twice: no level
                level = levels.get(priority) if type(priority) is str else None
                append((ts, message, None, False, level))
            else:
                out.extend(entry_lines(obj, max_line, self.hold))
        self.entries += entries
        self.skipped += len(objs) - entries  # JSON, but not an object
        for obj in reversed(objs):  # the cursor after them: the last entry's
            cursor = obj.get("__CURSOR") if type(obj) is dict else None
            if isinstance(cursor, str):
                self.cursor = cursor
                break
        return out
