"""A line's level (``fatal`` … ``trace``), from what the line itself says. Pure, no I/O.

Only a level *field* or a level *prefix* counts, never a word somewhere in the
message: ``INFO request failed with error 500`` is ``info``, ``Connection error``
has none. What is read (protocol additions 1.1, "Levels and multi-line messages"):

- JSON lines (first character ``{``): the keys ``level``, ``lvl``, ``severity``,
  ``loglevel``, ``log.level`` or a nested ``"log":{"level":…}``, any case, with
  words (``WARNING``, ``Err``, ``E``) or numbers (pino/bunyan 10-60, syslog 0-7);
- logfmt ``level=`` / ``lvl=`` (Go slog, logrus, go-kit);
- klog/glog ``E1201 12:00:00.000000 …``, Ruby's Logger ``E, [2024-… #1] ERROR -- …``,
  logrus' terminal form ``ERRO[0000]``, syslog/sd-daemon ``<3>`` and ``<11>1 …`` priorities;
- a prefix at the start: ``[ERROR]``, ``<E>``, ``ERROR:``, ``error:``, ``WARNING:root:``,
  ``fail:`` (.NET), an UPPERCASE level word, Go's ``panic:`` and ``fatal error:``,
  Python's ``Traceback (most recent call last):``, the JVM's ``Exception in thread``;
- a level right after a leading timestamp (or bracketed fields): logback, log4j,
  Spring, Python's ``asctime - name - LEVEL``, nginx's ``[error]``, Apache's
  ``[core:error]``, MySQL's ``[Warning]``, Postgres' ``ERROR:``, gunicorn, pino-pretty;
  after a syslog header, the message's own ``error:`` prefix (OpenSSH).

Cost: one dispatch on the first character (:data:`DETECTORS`), then for most
lines one regular expression (all the start forms at once) or one ``split`` of
the line's head, and a substring test for ``l=`` (see bench/levels.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "DETECTORS",
    "LEVELS",
    "Detector",
    "detect_after_timestamp",
    "detect_level",
    "detect_start",
    "level_from_priority",
    "normalise",
]

LEVELS = ("fatal", "error", "warn", "info", "debug", "trace")

# Every word a logger writes for a level (lower case) -> the contract's level.
_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("fatal", "fata", "critical", "crit", "alert", "emerg", "emergency", "panic", "pani"),
        "fatal",
    ),
    **dict.fromkeys(("dpanic", "f"), "fatal"),
    **dict.fromkeys(("error", "err", "erro", "e", "severe", "fail", "failure"), "error"),
    **dict.fromkeys(("warn", "warning", "w"), "warn"),
    **dict.fromkeys(("info", "information", "informational", "notice", "i", "n"), "info"),
    **dict.fromkeys(("debug", "debu", "dbug", "dbg", "d", "fine", "config"), "debug"),
    **dict.fromkeys(("trace", "trac", "trce", "t", "finer", "finest", "verbose", "v"), "trace"),
}
_PRIORITY = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")
# pino / bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
_PINO = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}

# Everything below is built once so that a line costs a few C-level string
# operations and set lookups, not a regular expression: detection runs once
# per published line (bench/levels.py).
_FULL = [
    w for w in _WORDS if len(w) >= 3 and w not in ("fail", "failure", "dbug", "trce", "config")
]
_LETTERS = [w for w in _WORDS if len(w) == 1]


def _token_table() -> dict[str, str]:
    """Every spelling of a level token after a timestamp: ``[error]``, ``ERROR``, ``ERROR:``, …"""
    table: dict[str, str] = {}
    for word in _FULL + _LETTERS:
        level = _WORDS[word]
        for spelled in {word, word.upper(), word.capitalize()}:
            for left, right in ("[]", "<>", "()"):
                table[left + spelled + right] = level
        if len(word) >= 3:
            table[word.upper()] = level
            table[word.upper() + ":"] = level
    for word in ("erro", "fata"):
        table[word.upper()] = _WORDS[word]
    return table


_TOKENS = _token_table()
# At the very start, with a colon (``error: x``, ``WARNING:root:``, ``fail:``).
_COLON_WORDS = {w: _WORDS[w] for w in _WORDS if len(w) >= 3 and w != "config"}
# At the very start, bare: only UPPER CASE (``WARN disk full``, not ``error reading``).
_UPPER_START = {w.upper(): _WORDS[w] for w in _FULL}
_LOGRUS = {w: _WORDS[w.lower()] for w in ("INFO", "WARN", "ERRO", "DEBU", "TRAC", "FATA", "PANI")}
_KLOG = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}
_RUBY = {"D": "debug", "I": "info", "W": "warn", "E": "error", "F": "fatal"}
_CRASH = (
    ("Traceback (most recent call last):", "error"),
    ("Exception in thread ", "error"),
    ("fatal error: ", "fatal"),
)
_PRI = re.compile(r"<(\d{1,3})>")
# ``level=`` or ``lvl=`` at the start or after a space or comma: the
# lookbehind comes after the ``l`` so that the search skips to each ``l`` in C.
_LOGFMT = re.compile(r'l(?<![^\s,]l)(?:evel|vl)="?(\w{1,16})')
_JSON_KEYS = frozenset(
    ("level", "lvl", "severity", "loglevel", "log.level", "levelname", "log_level")
)
_JSON_NEEDLES = ('evel"', 'EVEL"', 'lvl"', 'LVL"', 'everity"', 'EVERITY"')
_HEAD = 100  # only the head of a line is looked at for prefixes


def normalise(value: object) -> str | None:
    """A level value from a field (word or number) as the contract's level, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value in _PINO:
            return _PINO[value]
        return _PRIORITY[value] if 0 <= value <= 7 else None
    if isinstance(value, str):
        if value.isdecimal():
            return normalise(int(value))
        return _WORDS.get(value.lower())
    return None


def level_from_priority(priority: int) -> str | None:
    """A syslog/journal ``PRIORITY``: 0-2 fatal, 3 error, 4 warn, 5-6 info, 7 debug."""
    return _PRIORITY[priority] if 0 <= priority <= 7 else None


# The forms a line can start with, one group each, tried in this order:
# 1 syslog's month or day (then a level after the header), 2 klog/glog
# ``E1201 ``, 3 Ruby's Logger ``E, [``, 4 logrus' terminal ``ERRO[``, 5 a
# crash, 6 ``error:``/``WARNING:root:``/``fail:``, 7 an UPPERCASE word.
# No form before 6 can start with what 6 or 7 would take for a level, so the
# first that matches is the only one that can say a level. The words' runs
# are possessive: a shorter run ends on a letter, never on ``:`` or a space,
# so backing off (what re does on every line that has neither) never matches.
_START = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
    r"|([IWEF])\d{4} "
    r"|(.), \["
    r"|(INFO|WARN|ERRO|DEBU|TRAC|FATA|PANI)\["
    r"|(Traceback \(most recent call last\):|Exception in thread |fatal error: )"
    r"|([A-Za-z]{3,13}+):"
    r"|([A-Z]{3,12}+) "
)
_CRASH_LEVELS = dict(_CRASH)


def detect_level(text: str) -> str | None:
    """The level ``text`` states, or None when nothing in it is a level field or prefix."""
    return DETECTORS.get(text[:1], detect_start)(text)


def _detect_none(text: str) -> None:
    """An indented (or empty) line: a continuation, not a message of its own."""
    return None


def _logfmt(text: str) -> str | None:
    """logfmt's ``level=`` / ``lvl=`` in the head (after the start, a space or a comma)."""
    # Only lines with ``l=`` (``level=`` and ``lvl=`` end so) are searched:
    # the substring test costs a fraction of a regular expression's call.
    if "l=" in text:
        found = _LOGFMT.search(text, 0, _HEAD * 2)
        if found is not None:
            return _WORDS.get(found[1].lower())
    return None


def detect_start(text: str) -> str | None:
    """A line that starts with a letter or a sign: the forms of :data:`_START`, else logfmt."""
    # One regular expression tries every form a line can start with (the
    # first character rules most of them out at once): one C call, not a
    # dozen Python-level checks. The forms inline, the likeliest first.
    m = _START.match(text)
    if m is not None:
        form = m.lastindex
        if form == 7:
            level = _UPPER_START.get(m[7])
        elif form == 6:
            level = _COLON_WORDS.get(m[6].lower())
        elif form == 1:  # a syslog header: then as after a time stamp
            return detect_after_timestamp(text)
        elif form == 2:
            return _KLOG[m[2]]
        elif form == 3:
            level = _RUBY.get(m[3])
        elif form == 4:
            return _LOGRUS[m[4]]
        else:
            return _CRASH_LEVELS[m[5]]
        if level is not None:
            return level
    return _logfmt(text)


def detect_after_timestamp(text: str) -> str | None:
    """A line that starts with a time stamp or brackets: the first level token among its first 7."""
    head = text[:_HEAD]
    tokens = head.split(None, 7)[:7]
    # A loop that stops at the first level token costs less than a set
    # intersection, which hashes every token (the level mostly comes right
    # after the time stamp's one or two tokens).
    for token in tokens:
        if token in _TOKENS:
            return _TOKENS[token]
    tag = head.find(": ")
    if tag > 0:
        # After a syslog tag (``sshd[42]: ``), the message's own ``error:``
        # prefix (OpenSSH) is a level.
        colon = head.find(":", tag + 2, tag + 16)
        if colon > 0:
            level = _COLON_WORDS.get(head[tag + 2 : colon].lower())
            if level is not None:
                return level
    if head[0] == "[":
        level = _bracketed_field(tokens)
        if level is not None:
            return level
    return _logfmt(text)


def _detect_angle(text: str) -> str | None:
    """``<3>``/``<11>1 …`` (syslog, sd-daemon), else brackets as after a time stamp (``<E>``)."""
    m = _PRI.match(text)
    if m is not None:
        return _PRIORITY[int(m.group(1)) % 8]
    return detect_after_timestamp(text)


def _bracketed_field(tokens: list[str]) -> str | None:
    """Apache's ``[core:error]``, Laravel's ``production.ERROR:`` (lines that start with ``[``)."""
    for token in tokens:
        if token[0] == "[" and ":" in token:
            inner = token.strip("[]").rpartition(":")[2]
        elif "." in token and token.endswith(":"):
            inner = token[:-1].rpartition(".")[2].lower()
        else:
            continue
        if inner in _WORDS and len(inner) >= 3:
            return _WORDS[inner]
    return None


def _json_level(text: str) -> str | None:
    """The value of a level key: the first found of ``level``, ``lvl``, ``severity``, …"""
    at = text.find('"level":')
    if at >= 0:  # the common spellings, zap's "info" and pino's 30, in a few C calls
        at += 8
        if text.startswith('"', at):
            close = text.find('"', at + 1, at + 22)
            level = _WORDS.get(text[at + 1 : close].lower()) if close > 0 else None
        else:
            level = _PINO.get(int(text[at : at + 2])) if text[at : at + 2].isdecimal() else None
        if level is not None:
            return level
    for needle in _JSON_NEEDLES:
        at = text.find(needle)
        while at >= 0:
            key_start = text.rfind('"', 0, at) + 1
            end = at + len(needle) - 1
            if text[key_start:end].lower() in _JSON_KEYS:
                level = _json_value(text, end + 1)
                if level is not None:
                    return level
            at = text.find(needle, end + 1)
    return None


def _json_value(text: str, at: int) -> str | None:
    """The level of the value after ``"key"`` at ``at`` (``: "warn"`` or ``:40``)."""
    rest = text[at : at + 24].lstrip()
    if not rest.startswith(":"):
        return None
    rest = rest[1:].lstrip()
    if rest.startswith('"'):
        close = rest.find('"', 1)
        return _WORDS.get(rest[1:close].lower()) if close > 1 else None
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    return normalise(int(digits)) if digits else None


Detector = Callable[[str], "str | None"]


def _detectors() -> dict[str, Detector]:
    table: dict[str, Detector] = dict.fromkeys("0123456789[", detect_after_timestamp)
    table.update({"{": _json_level, "<": _detect_angle})
    table.update(dict.fromkeys((" ", "\t", ""), _detect_none))
    return table


# A line's first character says which forms it can have: the detector for
# lines that start with it (:func:`detect_start` for any other). Callers that
# have the first character already (follows.annotate) look it up themselves.
DETECTORS = _detectors()
