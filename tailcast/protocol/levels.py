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

Cost: one dispatch on the first character, at most one regular expression and
one ``split`` of the line's head for the forms that need them (see bench/levels.py).
"""

from __future__ import annotations

import re

__all__ = ["LEVELS", "detect_level", "level_from_priority", "normalise"]

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
# Words strong enough to count bare (no bracket, no colon) at the start or after
# a timestamp: only UPPER CASE ones of at least three letters.
_UPPER = frozenset(w.upper() for w in _WORDS if len(w) >= 3 and w not in ("config", "fail"))
# Words that count with a colon at the very start (``error: x``, ``fail: x``).
_COLON_WORDS = frozenset(w for w in _WORDS if len(w) >= 3)

_PRIORITY = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")
# pino / bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
_PINO = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}

_JSON_KEY = re.compile(
    r'"(?i:level|lvl|severity|loglevel|log\.level|levelname|log_level)"\s*:\s*("?)(-?\w{1,16})'
)
_NESTED_LOG = re.compile(r'"log"\s*:\s*\{[^{}]*?"(?i:level)"\s*:\s*"(\w{1,16})"')
_LOGFMT = re.compile(r'(?:^|[\s,])(?i:level|lvl|severity)="?(\w{1,16})')
_KLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d")
_RUBY = re.compile(r"([DIWEFA]), \[\d")
_LOGRUS = re.compile(r"(INFO|WARN|ERRO|DEBU|TRAC|FATA|PANI)\[\d")
_PRI = re.compile(r"<(\d{1,3})>")
_MONTHS = frozenset(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
)
_DAYS = frozenset(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
# Fixed starts written by runtimes for an uncaught crash.
_CRASH = (
    ("Traceback (most recent call last):", "error"),
    ("Exception in thread ", "error"),
    ("fatal error: ", "fatal"),
)
_HEAD = 160  # only the head of a line is looked at for prefixes
_TOKENS = 7  # a level after a timestamp is among its first tokens


def normalise(value: object) -> str | None:
    """A level value from a field (word or number) as the contract's level, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value in _PINO:
            return _PINO[value]
        return _PRIORITY[value] if 0 <= value <= 7 else None
    if isinstance(value, str):
        if value.isdigit():
            return normalise(int(value))
        return _WORDS.get(value.lower())
    return None


def level_from_priority(priority: int) -> str | None:
    """A syslog/journal ``PRIORITY``: 0-2 fatal, 3 error, 4 warn, 5-6 info, 7 debug."""
    return _PRIORITY[priority] if 0 <= priority <= 7 else None


def detect_level(text: str) -> str | None:
    """The level ``text`` states, or None when nothing in it is a level field or prefix."""
    if not text:
        return None
    first = text[0]
    if first == "{":
        return _json_level(text)
    if first in " \t":
        return None  # an indented line is a continuation, not a message of its own
    head = text[:_HEAD]
    level = _prefix_level(head, first)
    if level is not None:
        return level
    if "=" in head:
        m = _LOGFMT.search(head)
        if m is not None:
            return _WORDS.get(m.group(1).lower())
    return None


def _json_level(text: str) -> str | None:
    for m in _JSON_KEY.finditer(text):
        quoted, value = m.groups()
        level = _WORDS.get(value.lower()) if quoted else normalise(value)
        if level is not None:
            return level
    nested = _NESTED_LOG.search(text)
    return _WORDS.get(nested.group(1).lower()) if nested is not None else None


def _prefix_level(head: str, first: str) -> str | None:
    """Forms recognised at the start of the line, then after a leading timestamp."""
    if first == "<":
        m = _PRI.match(head)
        if m is not None:
            return _PRIORITY[int(m.group(1)) % 8]
    elif first in "IWEF" and head[1:2].isdigit():
        m = _KLOG.match(head)
        if m is not None:
            return _WORDS[m.group(1).lower()]
    if head[1:2] == ",":
        m = _RUBY.match(head)
        if m is not None:
            return _WORDS.get(m.group(1).lower())  # "A" (any) is no level
    if first in "TEf":
        for start, level in _CRASH:
            if head.startswith(start):
                return level
    word = _first_word(head)
    if word is not None:
        return word
    if first.isdigit() or first == "[" or head[:3] in _MONTHS or head[:3] in _DAYS:
        return _after_timestamp(head)
    return None


def _first_word(head: str) -> str | None:
    """``[ERROR]``, ``<warn>``, ``ERROR:``, ``error:``, ``ERROR x``, ``ERRO[0000]`` at the start."""
    if head[0] in "[<(":
        close = head.find("]>)"["[<(".index(head[0])], 1, 24)
        if close > 1:
            return _WORDS.get(head[1:close].strip().lower())
        return None
    end = 0
    n = len(head)
    while end < n and end < 12 and head[end].isalpha():
        end += 1
    if end in (0, n):
        return _WORDS.get(head.lower()) if head.isupper() and head in _UPPER else None
    word, after = head[:end], head[end]
    if after == ":":
        return _WORDS.get(word.lower()) if word.lower() in _COLON_WORDS else None
    if after in " \t|" and word in _UPPER:
        return _WORDS[word.lower()]
    if after == "[":
        m = _LOGRUS.match(head)
        if m is not None:
            return _WORDS[m.group(1).lower()]
    return None


def _token_level(token: str, after_tag: bool) -> str | None:
    if token[0] in "[<(":
        inner = token.strip("[]<>():")
        # Apache's [core:error], [mpm_event:notice]: the level is after the colon.
        inner = inner.rpartition(":")[2]
        return _WORDS.get(inner.lower()) if len(inner) >= 1 else None
    bare = token.rstrip(":")
    # Laravel's production.ERROR:
    bare = bare.rpartition(".")[2]
    if bare in _UPPER:
        return _WORDS[bare.lower()]
    if after_tag and token.endswith(":") and bare.lower() in _COLON_WORDS:
        return _WORDS[bare.lower()]
    return None


def _after_timestamp(head: str) -> str | None:
    """A level among the first tokens of a line that starts with a timestamp or brackets."""
    tokens = head.split(None, _TOKENS)[:_TOKENS]
    after_tag = False
    for token in tokens[1:] if not tokens[0].startswith(("[", "<")) else tokens:
        level = _token_level(token, after_tag)
        if level is not None:
            return level
        # A syslog tag (``sshd[123]:``) ends the header: the message's own
        # ``error:`` prefix may follow it.
        after_tag = token.endswith(":") and not token[0].isdigit() and len(token) > 1
    return None
