"""Redaction: secrets replaced with ``[REDACTED]`` before a line is numbered, kept or sent.

Pure (no I/O). :class:`Redactor` holds the ``--redact REGEX`` patterns and,
with ``--redact-secrets``, the built-in :data:`BUILTINS`; the hub runs every
piece's text through :meth:`Redactor.pieces` before it encodes the line, so
the original text never reaches the history (memory or disk), an answer or a
log. Every pattern is RE2 (``google-re2``): matching is linear in the line,
whatever a pattern says.

Cost: one search of all patterns together per piece; only a piece that
matches something is rewritten, pattern by pattern.

A private key arrives over several lines: after a line with ``-----BEGIN ...
PRIVATE KEY-----`` and no END, the lines that look like key material (base64,
PEM headers) are redacted whole, per stream, until the END line, a line that
is not key material, or :data:`MAX_KEY_LINES` lines.

A secret cut in two. A line reaches the hub in pieces when it is longer than
``--max-line`` or when the writer stops mid-line for longer than
``--flush-delay`` (the partial line is shown, the rest follows as ``cont``).
Two things keep a secret whole across such a cut:

- **hold back** (:meth:`Redactor.hold`, used by the line splitter,
  :class:`~tailcast.protocol.lines.LineSplitter`, of every source: files,
  commands, stdin, Docker, long journal messages): a piece that ends its line
  unfinished keeps back its last :data:`TAIL` characters (:data:`USER_TAIL`
  with ``--redact`` patterns: the longest such a match is caught across a
  cut), and further back everything from where a built-in secret may be
  starting at its end (:data:`PENDING`: ``password=hun``, ``https://u:pa``,
  ``eyJhb``, ``Bearer abc``, a BEGIN line...); the cut then moves before any
  match across it and any secret starting just before it, at most
  :data:`MAX_HOLD` characters back in all. The
  kept-back text starts the next piece, so the secret arrives whole. A writer
  that stays quiet for a further ``--flush-delay`` gets the rest of the
  kept-back text shown, but not what may begin a secret: that waits for the
  rest of its line (a newline, ``--max-line``, the end of the file);
- **context** (:meth:`Redactor.pieces`): a ``cont`` piece is redacted with
  the last :data:`CONTEXT` characters of its line before it, so a value
  whose key went out in the earlier piece (``password=`` shown by the flush
  above, ``hunter2`` later) is still redacted.

Limits (README, Redaction): a secret longer than :data:`MAX_HOLD` characters
cut by ``--max-line``, or one whose key is more than :data:`CONTEXT`
characters before the cut, may show its tail; a hold never keeps back more
than half a ``--max-line`` piece; a ``--redact`` match is whole across a cut
only up to :data:`USER_TAIL` characters, and across a pause of twice
``--flush-delay`` not at all; a partial line that ends in what may begin a
secret (``see https://host``) shows that part only once its line goes on.
Memory: at most :data:`CONTEXT` characters per stream and fd, and the
splitter's buffer stays within ``--max-line`` plus one read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tailcast.errors import ConfigError
from tailcast.protocol.lines import Piece
from tailcast.protocol.wire import Entry

__all__ = [
    "BUILTINS",
    "CONTEXT",
    "MAX_HOLD",
    "MAX_KEY_LINES",
    "PENDING",
    "REDACTED",
    "TAIL",
    "USER_TAIL",
    "Redactor",
    "Rule",
    "check_pattern",
]

REDACTED = "[REDACTED]"
# Longest private-key body followed line by line (an 8192-bit RSA key is ~100).
MAX_KEY_LINES = 160

# Names whose value is a secret in key=value and JSON forms (any case):
# password, client_secret, access_token, aws_secret_access_key, api_key, ...
# Not "pwd": the shell's PWD=/home/me is a folder, not a password.
_SECRET_KEY = r"[a-z0-9_.-]*(?:password|passwd|secret|token|secret_?key|secret_access_key|api_?key)"


@dataclass(frozen=True)
class Rule:
    """One pattern and what replaces its match (``\\1`` keeps the key, ``\\2`` a closing mark)."""

    name: str
    pattern: str
    template: str = REDACTED


BUILTINS: tuple[Rule, ...] = (
    # scheme://user:PASSWORD@host
    Rule("url-password", r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(@)", r"\1[REDACTED]\2"),
    # Authorization: Basic ..., "authorization":"Bearer ...", Proxy-Authorization
    Rule(
        "authorization",
        r"(?i:(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+)",
        r"\1[REDACTED]",
    ),
    # A bearer token anywhere (16+ characters: "bearer of bad news" stays).
    Rule("bearer", r"(?i:(\bbearer\s+)[a-z0-9._~+/-]{16,}=*)", r"\1[REDACTED]"),
    # A JWT: base64url({"...) . base64url({"...) . signature (maybe empty).
    Rule("jwt", r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # AWS access key ids (AKIA... long-term, ASIA... temporary, and the other prefixes).
    Rule(
        "aws-access-key",
        r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
        r"[A-Z0-9]{16}\b",
    ),
    # password=..., client_secret="...", token='...'
    Rule(
        "key-value",
        rf"(?i:(\b{_SECRET_KEY}\s*=\s*)(?:\"[^\"]+\"|'[^']+'|[^\s&,;\"']+))",
        r"\1[REDACTED]",
    ),
    # "password": "...", 'token': '...' (JSON, Python reprs)
    Rule(
        "json-value",
        rf"(?i:(\"{_SECRET_KEY}\"\s*:\s*\")(?:[^\"\\]|\\.)+(\"))",
        r"\1[REDACTED]\2",
    ),
    Rule("quoted-value", rf"(?i:('{_SECRET_KEY}'\s*:\s*')(?:[^'\\]|\\.)+('))", r"\1[REDACTED]\2"),
    # A whole private key within one line (JSON-escaped newlines, say).
    Rule(
        "private-key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?s:.*?)"
        r"-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----",
    ),
)

# Characters an unfinished piece always keeps back: the longest start of a
# built-in secret that PENDING does not name ("proxy-authorization", an AWS
# key id, half a key word).
TAIL = 32
# The same with --redact patterns: such a match is whole across a cut up to this long.
USER_TAIL = 256
# The most an unfinished piece keeps back: the longest secret caught whole
# across a --max-line cut (a PEM private key of 4096 bits in one line is ~3300).
MAX_HOLD = 8192
# What a cont piece is redacted with: the end of its line before it.
CONTEXT = 512
# Rounds of moving a cut back (a match across it, a secret starting before it).
_SETTLE = 8

# Where a built-in secret may be beginning at the end of an unfinished piece
# (each a prefix of a BUILTINS match, up to the end of the text).
PENDING: tuple[str, ...] = (
    r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*(?::[^\s@/]*)?\z",
    r"(?i:\b(?:proxy-)?authorization[\"']?\s*(?:[:=]\s*[\"']?[^\"'\r\n]*)?\z)",
    r"(?i:\bbearer(?:\s+[a-z0-9._~+/-]*=*)?\z)",
    r"\beyJ[A-Za-z0-9_.-]*\z",
    rf"(?i:\b{_SECRET_KEY}(?:\s*=\s*(?:\"[^\"]*|'[^']*|[^\s&,;\"']*))?\z)",
    rf"(?i:\"{_SECRET_KEY}(?:\"\s*(?::\s*(?:\"(?:[^\"\\]|\\.)*\\?)?)?)?\z)",
    rf"(?i:'{_SECRET_KEY}(?:'\s*(?::\s*(?:'(?:[^'\\]|\\.)*\\?)?)?)?\z)",
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?s:.*)\z",
)

_KEY_BEGIN = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"
_KEY_END = r"-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"
# A line of a key's body: base64 (maybe after a short prefix such as a time
# stamp), a PEM header, or nothing.
_KEY_BODY = (
    r"(?:.{0,64}?[\s:>|])?[A-Za-z0-9+/]{16,}={0,2}\s*|[A-Za-z0-9+/]+={0,2}\s*|\s*"
    r"|(?:Proc-Type|DEK-Info|Comment|Version):.*"
)


def _re2() -> Any:
    # Imported on first use: a server without patterns never loads it.
    import re2  # type: ignore[import-untyped]

    return re2


def _compile(pattern: str, *, never_capture: bool = False) -> Any:
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False  # RE2 would print to stderr; the caller says it in one line
    options.never_capture = never_capture
    return re2.compile(pattern, options=options)


def check_pattern(pattern: str) -> Any:
    """``pattern`` compiled, or :class:`ConfigError` naming ``--redact`` and why."""
    try:
        compiled = _compile(pattern)
    except Exception as exc:  # re2.error: its message is bytes
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ConfigError(
            f"--redact {pattern!r}: not a valid RE2 pattern: {reason}", option="redact"
        ) from None
    if compiled.search("") is not None:
        raise ConfigError(
            f"--redact {pattern!r}: matches empty text, so it would mark every line",
            option="redact",
        )
    return compiled


class Redactor:
    """The patterns of one server; see the module docstring. False when it has none."""

    def __init__(self, patterns: Sequence[str] = (), *, secrets: bool = False) -> None:
        rules = [Rule(f"--redact {p}", p) for p in patterns]
        if secrets:
            rules.extend(BUILTINS)
        self.rules = tuple(rules)
        self.secrets = secrets
        self._compiled: list[tuple[Any, str]] = []
        for rule in rules:
            self._compiled.append((check_pattern(rule.pattern), rule.template))
        self._any: Any = None
        if rules:
            # One search says whether a piece needs any work (the common case: none).
            self._any = _compile("|".join(f"(?:{r.pattern})" for r in rules), never_capture=True)
        if secrets:
            self._begin = _compile(_KEY_BEGIN)
            self._end = _compile(_KEY_END)
            self._body = _compile(_KEY_BODY)
        # Stream key -> lines of a private key's body redacted so far.
        self._in_key: dict[str, int] = {}
        # Stream key -> the end of its last piece (the context of a cont piece).
        self._context: dict[str, str] = {}
        self._tail = USER_TAIL if patterns else TAIL
        self._pending: Any = None
        if secrets:
            self._pending = _compile("|".join(f"(?:{p})" for p in PENDING), never_capture=True)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def text(self, text: str) -> str:
        """``text`` with every match of every pattern replaced (no state across lines)."""
        if self._any is None or self._any.search(text) is None:
            return text
        for regex, template in self._compiled:
            text = regex.sub(template, text)
        return text

    def line(self, key: str, text: str) -> str:
        """One piece of stream ``key``: :meth:`text`, and private keys across lines."""
        if not self.secrets:
            return self.text(text)
        if key in self._in_key:
            end = self._end.search(text)
            if end is not None:
                del self._in_key[key]
                return REDACTED + self.text(text[end.end() :])
            count = self._in_key[key]
            if count < MAX_KEY_LINES and self._body.fullmatch(text) is not None:
                self._in_key[key] = count + 1
                return REDACTED if text else text
            del self._in_key[key]  # not key material: the block was cut short
        text = self.text(text)
        # The literal first: a second regex search on every line costs more.
        begin = self._begin.search(text) if "-----BEGIN" in text else None
        if begin is not None:  # a key whose END is on a later line
            self._in_key[key] = 0
            text = text[: begin.start()] + REDACTED
        return text

    def hold(self, text: str, quiet: bool = False) -> int:
        """How many characters at the end of an unfinished piece to keep back (module docstring).

        The cut is moved back until no match of a pattern spans it and no
        built-in secret may be starting just before it. ``quiet``: its
        writer stayed quiet a further delay; no :data:`TAIL`, only where a
        secret may begin is kept back, until the rest of its line comes.
        """
        n = len(text)
        lo = max(0, n - MAX_HOLD)
        cut = max(lo, n if quiet else n - self._tail)
        if self._pending is not None:  # a secret that may go on past the end
            found = self._pending.search(text, lo)
            if found is not None:
                cut = min(cut, max(lo, found.start()))
        for _ in range(_SETTLE):
            was = cut
            if cut < n and self._any is not None:
                for match in self._any.finditer(text, lo):
                    if match.start() >= cut:
                        break
                    if match.end() > cut:  # a secret across the cut: cut before it
                        cut = max(lo, match.start())
                        break
            if self._pending is not None and cut > lo:
                found = self._pending.search(text[:cut], lo)
                if found is not None:
                    cut = max(lo, found.start())
            if cut == was:
                break
        return n - cut

    def pieces(self, key: str, pieces: Iterable[Piece]) -> list[Piece]:
        """The pieces of one publish, redacted (the same objects where nothing matched).

        A ``cont`` piece is redacted with the end of its line before it.
        """
        out: list[Piece] = []
        prev = self._context.get(key)
        for piece in pieces:
            text = piece.text
            if piece.cont and prev is not None and key not in self._in_key:
                whole = prev + text
                redacted = self._continued(prev, whole)
                prev = whole[-CONTEXT:]
            else:
                redacted = self.line(key, text)
                prev = text
            out.append(piece if redacted == text else Piece(redacted, piece.cont))
        if prev is not None:
            self._context[key] = prev[-CONTEXT:]  # for a cont piece in the next publish
        return out

    def piece(self, key: str, text: str, cont: bool) -> str:
        """One piece of stream ``key``: :meth:`line`, or with its context when ``cont``."""
        return self.pieces(key, [Piece(text, cont)])[0].text

    def _continued(self, before: str, whole: str) -> str:
        """What ``whole`` adds to ``before`` (already sent), both redacted together."""
        done = self.text(before)
        redacted = self.text(whole)
        if redacted.startswith(done):
            return redacted[len(done) :]
        # A match across the two: send it from where the texts part.
        same, most = 0, min(len(done), len(redacted))
        while same < most and done[same] == redacted[same]:
            same += 1
        return redacted[same:]

    def forget(self, key: str) -> None:
        """Stream ``key`` has gone: drop its context."""
        self._context.pop(key, None)
        self._in_key.pop(key, None)

    def entries(self, key: str, entries: Iterable[Entry]) -> list[Entry]:
        """Lines of stream ``key`` as ``(ts, text, fd, cont, level)``, their texts redacted.

        Each fd has its own context (``key/fd``), like :meth:`pieces` from the hub.
        """
        batch = entries if isinstance(entries, list) else list(entries)
        fds = {fd for _, _, fd, _, _ in batch}
        if len(fds) == 1:  # one fd (a journal): one run through pieces()
            (fd,) = fds
            out = self.pieces(
                key if fd is None else f"{key}/{fd}", [Piece(e[1], e[3]) for e in batch]
            )
            return [
                (ts, piece.text, fd, cont, lv)
                for (ts, _, _, cont, lv), piece in zip(batch, out, strict=True)
            ]
        one = self.piece
        return [
            (ts, one(key if fd is None else f"{key}/{fd}", text, cont), fd, cont, lv)
            for ts, text, fd, cont, lv in batch
        ]
