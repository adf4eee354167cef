"""Server-side line filters: text or RE2 pattern, case, invert, levels. Pure, no I/O.

A filter works on lines as encoded (:func:`tailcast.protocol.wire.encode_line`),
never decoding them when it can help it: the fields come in a fixed order
(``seq``, ``ts``, ``level``, ``follows``, ``text``, ``fd``, ``cont``) and JSON escapes
every quote inside a string, so ``,"level":"error"`` or ``,"follows":true`` can
only be the field, and the text is the bytes between ``,"text":"`` and the
fields after it. A batch is searched as one joined blob (a C-speed scan), and
only the lines it hits (or that follow, or continue a split line) are looked
at one by one: a filter that matches little costs little per line, less than
sending the line would.

Regular expressions are RE2 (the ``google-re2`` binding): linear in the line
whatever the pattern, so no pattern a client sends can make the server
backtrack. Python's ``re`` never sees a client's pattern.

A line passes when its level is one of ``levels`` (if any) and its text
matches (or, with ``invert``, does not). A ``follows`` line passes with its
message's first line (and on its own match too, unless ``invert``); a ``cont``
piece passes with the piece it continues. :class:`FilterState` carries that
from one batch to the next of one reader.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring

from re2 import _re2  # type: ignore[import-untyped]  # the binding's compiled core: its Python wrapper costs 3x per call

from tailcast.protocol.levels import LEVELS

__all__ = [
    "MAX_PATTERN",
    "BackwardSearch",
    "BadFilter",
    "FilterSpec",
    "FilterState",
    "LineFilter",
    "compile_filter",
    "parse_filter",
]

MAX_PATTERN = 1000  # characters of a text or pattern
# RE2's memory for one pattern's automaton; a pattern that needs more is refused.
RE2_MAX_MEM = 8 << 20
_TEXT_MARK = b',"text":"'
_FOLLOWS = b',"follows":true'
_CONT_END = b',"cont":true}'
_FD_MARK = b',"fd":"'
_ANCHOR = _re2.RE2.Anchor.UNANCHORED


class BadFilter(ValueError):
    """A filter that cannot be used; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """What a client asked for (``subscribe``'s ``filter``, or query parameters)."""

    text: str = ""
    regex: bool = False
    case: bool = False
    invert: bool = False
    levels: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.text and not self.levels


def _levels(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise BadFilter('"levels" must be a list of levels')
    for level in value:
        if level not in LEVELS:
            raise BadFilter(f"not a level: {str(level)[:40]!r} (one of {', '.join(LEVELS)})")
    return frozenset(value)


def parse_filter(obj: object) -> FilterSpec:
    """A ``filter`` object (every key optional) as a spec; raise :class:`BadFilter`."""
    if not isinstance(obj, Mapping):
        raise BadFilter('"filter" must be an object')
    unknown = set(obj) - {"text", "regex", "case", "invert", "levels"}
    if unknown:
        raise BadFilter(f'unknown key in "filter": {sorted(unknown)[0][:40]!r}')
    text = obj.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str) or len(text) > MAX_PATTERN:
        raise BadFilter(f'"text" must be a string of at most {MAX_PATTERN} characters')
    flags = []
    for key in ("regex", "case", "invert"):
        value = obj.get(key, False)
        if not isinstance(value, bool):
            raise BadFilter(f'"{key}" must be true or false')
        flags.append(value)
    levels = _levels(obj.get("levels", []) or [])
    return FilterSpec(text, flags[0], flags[1], flags[2], levels)


def compile_filter(spec: FilterSpec) -> LineFilter:
    """A ready :class:`LineFilter`; raise :class:`BadFilter` for a bad pattern."""
    return LineFilter(spec)


def _compile_re2(pattern: str, case: bool) -> _re2.RE2:
    options = _re2.RE2.Options()
    options.log_errors = False
    options.case_sensitive = case
    options.never_capture = True
    options.max_mem = RE2_MAX_MEM
    compiled = _re2.RE2(pattern.encode("utf-8"), options)
    if not compiled.ok():
        error = compiled.error()
        raise BadFilter(f"bad pattern: {error.decode('utf-8', 'replace')[:200]}")
    return compiled


def text_span(line: bytes) -> tuple[int, int]:
    """Where a line's encoded text is in it: ``line[start:end]`` (without the quotes)."""
    start = line.find(_TEXT_MARK) + len(_TEXT_MARK)
    end = len(line) - 1  # the closing brace
    if line.endswith(_CONT_END):
        end -= len(_CONT_END) - 1
    if line.startswith(_FD_MARK, end - 11):  # ,"fd":"out"
        end -= 11
    return start, end - 1


def _decoded_text(line: bytes) -> str:
    text = json.loads(line).get("text", "")
    return text if isinstance(text, str) else ""


@dataclass(slots=True)
class FilterState:
    """One reader's place in its stream's messages: did the last head / piece pass?"""

    head: bool | None = None  # None: not known (a read that starts mid-message)
    last: bool | None = None
    # The lines before the read's start were looked at (LineFilter.state_after).
    primed: bool = False


class LineFilter:
    """A compiled filter; see the module docstring."""

    def __init__(self, spec: FilterSpec) -> None:
        self.spec = spec
        self._level_marks = tuple(f',"level":"{lv}"'.encode() for lv in sorted(spec.levels))
        self._regex = _compile_re2(spec.text, spec.case) if spec.regex and spec.text else None
        self._fold = not spec.case
        folded = spec.text.casefold() if self._fold else spec.text
        self._needle_str = folded
        # The needle as it appears in encoded text (quotes and backslashes escaped).
        self._needle = encode_basestring(folded)[1:-1].encode("utf-8")
        self._needle_ascii = self._needle.isascii()

    # -- one line ---------------------------------------------------------------

    def _level_ok(self, line: bytes) -> bool:
        if not self._level_marks:
            return True
        return any(mark in line for mark in self._level_marks)

    def _text_found(self, line: bytes) -> bool:
        start, end = text_span(line)
        raw = line[start:end]
        if b"\\" in raw or (self._fold and not raw.isascii()):
            # Escapes (tabs, quotes, ANSI colours) or non-ASCII case folding:
            # the exact answer from the decoded text.
            text = _decoded_text(line)
            if self._regex is not None:
                data = text.encode("utf-8")
                return bool(self._regex.Match(_ANCHOR, data, 0, len(data))[0][0] >= 0)
            return self._needle_str in (text.casefold() if self._fold else text)
        if self._regex is not None:
            return bool(self._regex.Match(_ANCHOR, raw, 0, len(raw))[0][0] >= 0)
        return self._needle in (raw.lower() if self._fold else raw)

    def matches(self, line: bytes) -> bool:
        """Does this line pass on its own (level and text, ``invert`` applied)?"""
        if not self._level_ok(line):
            return False
        if not self.spec.text:
            return True
        return self._text_found(line) != self.spec.invert

    # -- a batch ----------------------------------------------------------------

    def _candidates(self, lines: Sequence[bytes], blob: bytes) -> list[int] | None:
        """Indices that may pass on their own (a superset), or None for "any"."""
        marks: list[bytes]
        if self._level_marks:
            marks = list(self._level_marks)
        elif self.spec.text and not self.spec.regex and not self.spec.invert:
            if self._fold:
                if not (self._needle_ascii and blob.isascii()):
                    return None  # folding beyond ASCII: every line is looked at
                blob = blob.lower()
            marks = [self._needle]
        else:
            return None
        return _lines_holding(lines, blob, marks)

    def state_after(self, lines: Sequence[bytes]) -> FilterState:
        """The state of a reader that read ``lines`` (those just before where a read starts).

        From the last message head among them: a read that starts inside a
        message (its first lines ``follows`` or ``cont``) then judges them with
        their head, as a reader that had been there all along would. Unknown
        (``None``) when no line of them is a head.
        """
        start = len(lines) - 1
        while start >= 0 and (lines[start].endswith(_CONT_END) or _FOLLOWS in lines[start]):
            start -= 1
        state = FilterState(primed=True)
        if start >= 0:
            self.select(lines[start:], state)
        return state

    def select(self, lines: Sequence[bytes], state: FilterState) -> list[int]:
        """The indices of ``lines`` (consecutive, oldest first) that pass; moves ``state`` on."""
        if not lines:
            return []
        blob = b"\n".join(lines)
        candidates = self._candidates(lines, blob)
        order: Sequence[int]
        if candidates is None:
            order = range(len(lines))
        else:
            special = _lines_holding(lines, blob, [_FOLLOWS, _CONT_END])
            if not candidates and not special:
                state.head = state.last = False  # every line is a head that fails
                return []
            order = sorted(set(candidates).union(special))
        out: list[int] = []
        previous = -1
        invert = self.spec.invert
        for index in order:
            if index > previous + 1:
                state.head = state.last = False  # skipped lines: heads that failed
            previous = index
            line = lines[index]
            if line.endswith(_CONT_END):
                passed = state.last if state.last is not None else self.matches(line)
            elif _FOLLOWS in line:
                passed = bool(state.head) or (
                    (state.head is None or not invert) and self.matches(line)
                )
            else:
                passed = self.matches(line)
                state.head = passed
            state.last = passed
            if passed:
                out.append(index)
        if previous < len(lines) - 1:
            state.head = state.last = False
        return out


def _lines_holding(lines: Sequence[bytes], blob: bytes, marks: Sequence[bytes]) -> list[int]:
    """Indices of the lines of ``blob`` (``lines`` joined by newlines) holding any of ``marks``."""
    ends: list[int] | None = None
    found: list[int] = []
    for mark in marks:
        at = blob.find(mark)
        while at >= 0:
            if ends is None:
                # Where each line ends in the blob (its newline), built only on a hit.
                ends = list(itertools.accumulate(len(line) + 1 for line in lines))
            index = bisect.bisect_right(ends, at)
            found.append(index)
            at = blob.find(mark, ends[index])  # the next line: one hit per line is enough
    return found


@dataclass
class BackwardSearch:
    """The ``limit`` newest lines that pass, fed chunks going back through a history.

    Chunks come newest first (each oldest first inside, just before the one
    fed before it). A chunk's first lines that follow a message begun in the
    older chunk are decided when that chunk comes (:meth:`feed`), or on their
    own match at the start of the history (:meth:`finish`).
    """

    filter: LineFilter
    limit: int
    # Matches per chunk, newest chunk first, each oldest first: (seq, line).
    _found: list[list[tuple[int, bytes]]] = field(default_factory=list)
    _orphans: list[tuple[int, bytes]] = field(default_factory=list)  # of the last chunk fed
    _count: int = 0

    def feed(self, first_seq: int, lines: Sequence[bytes]) -> bool:
        """Search one chunk; ``True`` once the ``limit`` newest matches are known."""
        state = FilterState(head=False, last=False)
        passed = self.filter.select(lines, state)
        if state.head and self._orphans:
            # The newer chunk's leading follows lines belong to this chunk's last
            # message, which passed: they pass too.
            newer = self._found[-1]
            seen = {seq for seq, _ in newer}
            extra = [o for o in self._orphans if o[0] not in seen]
            newer.extend(extra)
            newer.sort(key=lambda item: item[0])
            self._count += len(extra)
        lead = _leading_orphans(lines)
        self._orphans = [(first_seq + i, lines[i]) for i in range(lead)]
        chunk = [(first_seq + i, lines[i]) for i in passed]
        self._found.append(chunk)
        self._count += len(chunk)
        settled = self._count - sum(1 for i in passed if i < lead)
        return settled >= self.limit

    def results(self) -> list[tuple[int, bytes]]:
        """The newest ``limit`` matches found, oldest first."""
        flat = [item for chunk in reversed(self._found) for item in chunk]
        return flat[-self.limit :] if self.limit else []

    @property
    def oldest_seq(self) -> int | None:
        found = self.results()
        return found[0][0] if found else None


def _leading_orphans(lines: Sequence[bytes]) -> int:
    """How many lines at the start of a chunk continue a message begun before it."""
    count = 0
    for line in lines:
        if not (line.endswith(_CONT_END) or _FOLLOWS in line):
            break
        count += 1
    return count
