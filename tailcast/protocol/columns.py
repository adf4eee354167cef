"""Lines as columns (a journal read of common entries): annotated and encoded in bulk. Pure.

A read of journalctl's output is mostly entries of one short line each. Kept
as three columns (texts, levels, time stamps' digits) rather than a tuple per
line, they are annotated (:func:`tailcast.protocol.follows.annotate_columns`)
and encoded (:func:`encode_columns`) with C loops beside one comprehension:
the same marks and the same bytes as the general path
(:func:`tailcast.protocol.wire.encode_entries`), at a fraction of its cost.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring

from tailcast.protocol.wire import Entry, mark_fields

__all__ = ["Columns", "encode_columns"]


@dataclass(slots=True)
class Columns:
    """Lines as columns: each a whole line (no fd, no ``cont``) with its level and time.

    A journal read of common entries (one short line of text each): kept as
    columns, the lines are annotated and encoded in bulk
    (:func:`tailcast.protocol.follows.annotate_columns`, :func:`encode_columns`)
    without a tuple, or any Python code, per line. ``micros``: each line's
    ``ts`` as the 16 decimal digits of its microseconds since the epoch, from
    ``1`` to ``7…`` (the years 2001 to 2223, where a float holds every
    microsecond: its text is the digits with a point before the last six).
    """

    texts: Sequence[str]
    levels: Sequence[str]  # (given: a journal entry's PRIORITY; never detected)
    micros: Sequence[str]

    def stamps(self) -> list[str]:
        """Each line's ``format_ts(ts)``, cut from its digits (trailing zeros dropped)."""
        return [f"{m[:10]}.{m[10:].rstrip('0') or '0'}" for m in self.micros]

    def entries(self) -> list[Entry]:
        """The same lines as ``(ts, text, fd, cont, level)`` (the general way)."""
        return [
            (int(m) / 1e6, text, None, False, level)
            for m, text, level in zip(self.micros, self.texts, self.levels, strict=True)
        ]


_SECONDS = operator.itemgetter(slice(0, 10))
_FRACTION = operator.itemgetter(slice(10, None))


def encode_columns(
    first_seq: int, lines: Columns, marks: Sequence[tuple[str | None, bool]]
) -> list[bytes]:
    """:func:`encode_entries` for :class:`Columns` (the same bytes), with their ``marks``.

    One comprehension formats the lines; everything else is a C loop
    (``map``) beside it: the time stamps' texts cut from their digits (no
    list of them first), the texts escaped, the marks' texts looked up.
    """
    micros = lines.micros
    mids = {mark: mark_fields(*mark) + ',"text":' for mark in set(marks)}
    return [
        f'{{"seq":{seq},"ts":{s}.{f or "0"}{mid}{text}}}'.encode()
        for seq, s, f, mid, text in zip(
            range(first_seq, first_seq + len(micros)),
            map(_SECONDS, micros),
            map(str.rstrip, map(_FRACTION, micros), itertools.repeat("0")),
            map(mids.__getitem__, marks),
            map(encode_basestring, lines.texts),
            strict=True,
        )
    ]
