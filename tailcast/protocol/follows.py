"""Multi-line messages: which lines continue the message begun just before them. Pure.

A stream's :class:`MessageState` is carried from line to line (the hub keeps one
per stream). :func:`annotate` gives each piece its ``(level, follows)``:

- a line *follows* (continues the message begun by the nearest earlier line
  without ``follows``) when it is indented (Java's ``\\tat …``, Python's
  ``  File …``, Node's ``    at …``), or is ``Caused by:``/``Suppressed:``, or
  belongs to a Python traceback (its exception line, ``During handling of the
  above exception…``, the blank lines between chained tracebacks), or to a Go
  panic or goroutine dump (``goroutine 1 [running]:``, ``main.main()``, blank
  lines), or is a traceback/exception header right after a warn/error message
  (``logger.exception`` writes the message, then ``Traceback …``);
- only within one fd: a stderr line never continues a stdout message;
- a line that follows carries its message's level (so a level filter keeps a
  stack trace with its message); every other line gets the level it states
  (:func:`~tailcast.protocol.levels.detect_level`), or ``explicit`` (a journal
  entry's ``PRIORITY``);
- a ``cont`` piece (the rest of a split line) is part of its line: same level,
  same ``follows``; it changes nothing in the state.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tailcast.protocol.columns import Columns
from tailcast.protocol.levels import DETECTORS, LEVELS, detect_level, detect_start
from tailcast.protocol.wire import Entry

__all__ = ["MessageState", "annotate", "annotate_columns", "annotate_entries", "annotate_one"]

# What the lines after a head are expected to be.
_NONE, _PY_FRAMES, _PY_END, _GO = 0, 1, 2, 3
_BREAK = -1  # (from _continues: the line does not continue the message)
_ERRORISH = frozenset({"fatal", "error", "warn"})
_JAVA_EXCEPTION = re.compile(r"(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)\b")
_PY_CHAIN = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)
_MODE_STARTS = "Tpfg"  # the first letters of the heads that start a mode
_MODE_FIRSTS = frozenset(_MODE_STARTS)  # the same as a set: "" is not in it
_GO_STARTS = ("goroutine ", "created by ", "[signal ", "panic: ", "exit status ")
# annotate_columns, on the string of every line's first character: a line
# that may continue the one before it whatever that was; one after a head
# that may open a traceback (_MODE_STARTS); one that may continue a
# warn/error head (T, or what str.islower() may be true of).
_MAY_CONTINUE = re.compile(r"[ \tCS\x00]")
_MODE_HEAD = re.compile(r"[Tpfg]")
_FIRST = operator.itemgetter(slice(0, 1))
_MAY_CONTINUE_ERRORISH = re.compile(r"[Ta-z\x80-\U0010ffff]")


@dataclass(slots=True)
class MessageState:
    """Where a stream is in its current message (one per stream, kept by the hub)."""

    open: bool = False  # a message has begun
    fd: str | None = None  # the fd of the line that began it
    level: str | None = None  # its level
    mode: int = _NONE  # inside a Python traceback or a Go panic
    follows: bool = False  # the last whole line followed (for its cont pieces)


def _mode_of_head(text: str) -> int:
    first = text[:1]
    if first == "T" and text.startswith("Traceback (most recent call last):"):
        return _PY_FRAMES
    if first in "pfg" and (
        text.startswith(("panic: ", "fatal error: "))
        or (text.startswith("goroutine ") and text.endswith("]:"))
    ):
        return _GO
    return _NONE


def _in_mode(mode: int, text: str) -> int:
    """The mode after ``text`` (not indented) if it continues the traceback or panic, else -1."""
    if mode == _PY_FRAMES:
        return _PY_FRAMES if not text else _PY_END  # the exception line ends the frames
    if mode == _PY_END:
        if not text or text.startswith(_PY_CHAIN):
            return _PY_END
        if text.startswith("Traceback (most recent call last):"):
            return _PY_FRAMES
        return _BREAK
    # _GO: blank lines, goroutine headers, function lines ``pkg.fn(...)``.
    return _GO if not text or text.startswith(_GO_STARTS[:4]) or text.endswith(")") else _BREAK


def _continues(text: str, first: str, mode: int, errorish: bool) -> int:
    """The mode after ``text`` if it continues the open message (same fd already checked), else -1.

    ``first`` is its first character, ``mode`` the message's, ``errorish``
    whether its level is warn or worse. A mode in and out, not the state:
    the callers keep the state's fields in locals.
    """
    if first in (" ", "\t"):
        return mode
    if mode != _NONE:
        mode = _in_mode(mode, text)
        if mode != _BREAK:
            return mode
    if first == "C" and text.startswith("Caused by: "):
        return _NONE
    if first == "S" and text.startswith("Suppressed: "):
        return _NONE
    if errorish:
        if first == "T" and text.startswith("Traceback (most recent call last):"):
            return _PY_FRAMES
        if first.islower() and _JAVA_EXCEPTION.match(text) is not None:
            return _NONE
    return _BREAK


def annotate_one(
    state: MessageState, text: str, fd: str | None, cont: bool, explicit: str | None = None
) -> tuple[str | None, bool]:
    """``(level, follows)`` of one piece, moving ``state`` on."""
    if cont:
        return state.level, state.follows
    if state.open and fd == state.fd:
        mode = _continues(text, text[:1], state.mode, state.level in _ERRORISH)
        if mode != _BREAK:
            state.mode = mode
            state.follows = True
            return state.level, True
    level = detect_level(text) if explicit is None else explicit
    state.open = True
    state.fd = fd
    state.level = level
    state.follows = False
    state.mode = _mode_of_head(text) if text[:1] in "Tpfg" else _NONE
    return level, False


def annotate(
    state: MessageState,
    pieces: Iterable[tuple[str, bool]],
    fd: str | None,
    explicit: str | None = None,
) -> list[tuple[str | None, bool]]:
    """``(level, follows)`` for each ``(text, cont)`` piece read at one time from ``fd``.

    The same as :func:`annotate_one` on each, with the common cases (a
    message's first line, an indented line) inline: this runs once per
    published line.
    """
    out: list[tuple[str | None, bool]] = []
    append = out.append
    # The detector for the line's first character, looked up here: the
    # loop has the character already (detect_level would slice it again).
    detector, start = DETECTORS.get, detect_start
    same_fd = state.open and state.fd == fd
    # The state's fields as locals while the loop runs (written back at the
    # end, and around the rare call that reads them): attribute access on
    # every line is most of what this loop would otherwise cost.
    level, follows, mode = state.level, state.follows, state.mode
    heads, tails = _marks(level, explicit)
    # After a warn/error head only a traceback or an exception line (lower
    # case: ``java.lang.…``) can continue it, besides the other rules.
    errorish = level in _ERRORISH
    for text, cont in pieces:
        if cont:
            append(tails[level] if follows else heads[level])
            continue
        first = text[0] if text else ""  # (an index costs less than a slice)
        if same_fd:
            if first in {" ", "\t"}:
                follows = True
                append(tails[level])
                continue
            if mode or first in {"C", "S"} or (errorish and (first == "T" or first.islower())):
                mode = _continues(text, first, mode, errorish)
                if mode != _BREAK:
                    follows = True
                    append(tails[level])
                    continue
        level = detector(first, start)(text) if explicit is None else explicit
        follows = False
        mode = _mode_of_head(text) if first in _MODE_FIRSTS else _NONE
        errorish = level in _ERRORISH
        append(heads[level])
        same_fd = True
    state.level, state.follows, state.mode = level, follows, mode
    if same_fd:  # a whole line was read: the message is on this fd now (a cont changes nothing)
        state.open = True
        state.fd = fd
    return out


# Every (level, follows) pair a detected level can make, made once: the
# lists annotate returns share them instead of a new tuple per line.
_HEADS = {level: (level, False) for level in (*LEVELS, None)}
_TAILS = {level: (level, True) for level in (*LEVELS, None)}
_Marks = dict[str | None, tuple[str | None, bool]]


def _marks(level: str | None, explicit: str | None) -> tuple[_Marks, _Marks]:
    """:data:`_HEADS` and :data:`_TAILS`, with pairs for levels of a caller's own too."""
    if level in _HEADS and explicit in _HEADS:
        return _HEADS, _TAILS
    extra = (level, explicit)
    return (
        {**_HEADS, **{x: (x, False) for x in extra}},
        {**_TAILS, **{x: (x, True) for x in extra}},
    )


def annotate_entries(
    state: MessageState, entries: Iterable[Entry]
) -> list[tuple[str | None, bool]]:
    """``(level, follows)`` for lines that each have their own fd and given level.

    The same as :func:`annotate_one` on each ``(ts, text, fd, cont, level)``
    (a given level stands instead of detection), with the common cases (a
    message's first line, an indented line) inline: this runs once per
    published line.
    """
    out: list[tuple[str | None, bool]] = []
    append = out.append
    detect = detect_level
    for _, text, fd, cont, given in entries:
        if cont:
            append((state.level, state.follows))
            continue
        first = text[:1]
        if state.open and fd == state.fd:
            if first in (" ", "\t"):
                state.follows = True
                append((state.level, True))
                continue
            errorish = state.level in _ERRORISH
            # after an error only a traceback or an exception line continues
            if state.mode or first in "CS" or (errorish and (first == "T" or first.islower())):
                mode = _continues(text, first, state.mode, errorish)
                if mode != _BREAK:
                    state.mode = mode
                    state.follows = True
                    append((state.level, True))
                    continue
        level = detect(text) if given is None else given
        state.open = True
        state.fd = fd
        state.level = level
        state.follows = False
        state.mode = _mode_of_head(text) if first in _MODE_STARTS and first else _NONE
        append((level, False))
    return out


def annotate_columns(state: MessageState, lines: Columns) -> list[tuple[str | None, bool]]:
    """:func:`annotate_entries` for :class:`~tailcast.protocol.columns.Columns`: the same marks.

    Most lines begin a message of their own: each is first marked a head of
    its given level in one C pass, then only the lines that *may* continue the
    one before them (by their first character, or the head before them) go
    through the rules, in order, with the state those rules need. A line
    after one that continued, or after a head that opened a traceback, is
    looked at too. This is the journal's hot path: a per-line Python loop
    was most of a journal entry's cost.
    """
    texts, levels = lines.texts, lines.levels
    n = len(texts)
    heads, tails = _marks(None, None)
    marks = list(map(heads.__getitem__, levels))
    if not n:
        return marks
    firsts = "".join(map(_FIRST, texts))
    if len(firsts) != n:  # an empty text: a character for each line
        firsts = "".join([text[:1] or "\x00" for text in texts])
    look = _candidates(state, firsts, levels)
    look.append(n)  # past the end
    level, follows, mode = state.level, state.follows, state.mode
    same_fd = state.open and state.fd is None
    done = -2  # the last line the rules were applied to
    k, i = 0, look[0]
    while i < n:
        if i - 1 != done and i > 0:  # the line before was a plain head
            level, follows, mode, same_fd = _head_state(texts[i - 1], levels[i - 1])
        text = texts[i]
        first = text[:1]
        mode, follows = _apply(text, first, level, mode, same_fd)
        if follows:
            marks[i] = tails[level]
        else:
            level = levels[i]
            mode = _mode_of_head(text) if first in _MODE_FIRSTS else _NONE
        same_fd, done = True, i
        while look[k] <= i:
            k += 1
        i = i + 1 if follows or mode != _NONE else look[k]
    if done != n - 1:
        level, follows, mode, same_fd = _head_state(texts[-1], levels[-1])
    state.open, state.fd = True, None
    state.level, state.follows, state.mode = level, follows, mode
    return marks


def _candidates(state: MessageState, firsts: str, levels: Sequence[str]) -> list[int]:
    """The lines that may continue the line before them, in order (see annotate_columns)."""
    look = {m.start() for m in _MAY_CONTINUE.finditer(firsts)}
    look.update(m.start() + 1 for m in _MODE_HEAD.finditer(firsts))
    if _MAY_CONTINUE_ERRORISH.search(firsts) is not None:
        # (C loops: the lines after a warn/error line, and those that may continue one)
        errorish = map(_ERRORISH.__contains__, levels)
        after = set(itertools.compress(range(1, len(levels) + 1), errorish))
        look.update(after.intersection(m.start() for m in _MAY_CONTINUE_ERRORISH.finditer(firsts)))
    if state.open and state.fd is None:
        look.add(0)
    look.discard(len(firsts))
    return sorted(look)


def _head_state(text: str, level: str) -> tuple[str | None, bool, int, bool]:
    """``(level, follows, mode, same_fd)`` after a line that began a message."""
    first = text[:1]
    return level, False, _mode_of_head(text) if first in _MODE_FIRSTS else _NONE, True


def _apply(text: str, first: str, level: str | None, mode: int, same_fd: bool) -> tuple[int, bool]:
    """``(mode, follows)`` after a whole line: the rules of :func:`annotate_one`."""
    if not same_fd:
        return mode, False
    new = _continues(text, first, mode, level in _ERRORISH)
    return (mode, False) if new == _BREAK else (new, True)
