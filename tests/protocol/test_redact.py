"""Redaction: every built-in pattern on real-looking secrets, and near misses that must stay."""

from __future__ import annotations

import itertools
import re

import pytest

from tailcast.errors import ConfigError
from tailcast.protocol.lines import LineSplitter, Piece
from tailcast.protocol.redact import (
    BUILTINS,
    MAX_HOLD,
    MAX_KEY_LINES,
    REDACTED,
    TAIL,
    USER_TAIL,
    Redactor,
    check_pattern,
)

SECRETS = Redactor(secrets=True)

# (line, what it must become): one or more per built-in rule.
REDACTED_CASES = [
    # url-password
    (
        "db=postgres://app:s3cr3t-P4ss@db.internal:5432/shop",
        "db=postgres://app:[REDACTED]@db.internal:5432/shop",
    ),
    (
        "fetch https://deploy:ghp_x1Y2z3@git.example.com/r.git",
        "fetch https://deploy:[REDACTED]@git.example.com/r.git",
    ),
    ("redis://:hunter2@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
    # authorization
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: [REDACTED]"),
    (
        'headers={"authorization": "Token abc123def"} ok',
        'headers={"authorization": "[REDACTED]"} ok',
    ),
    ("Proxy-Authorization: Digest username=bob", "Proxy-Authorization: [REDACTED]"),
    # bearer
    ("curl -H 'X: Bearer 8f14e45fceea167a5a36dedd4bea2543'", "curl -H 'X: Bearer [REDACTED]'"),
    ("token type bearer ya29.a0AfH6SMBx3Kq9LmN0pQrStUv-wx", "token type bearer [REDACTED]"),
    # jwt
    (
        "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c expired",
        "session [REDACTED] expired",
    ),
    ("alg none: eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.", "alg none: [REDACTED]"),
    # aws-access-key
    ("using key AKIAIOSFODNN7EXAMPLE for s3", "using key [REDACTED] for s3"),
    ("sts ASIAY34FZKBOKMUTVV7A issued", "sts [REDACTED] issued"),
    # key-value
    ("login user=bob password=hunter2 ok", "login user=bob password=[REDACTED] ok"),
    ("db_password = 'c0rrect horse'", "db_password = [REDACTED]"),
    (
        "GET /cb?code=1&client_secret=9f8e7d6c&state=x",
        "GET /cb?code=1&client_secret=[REDACTED]&state=x",
    ),
    ("ACCESS_TOKEN=gho_16C7e42F292c6912E7710c838347Ae178B4a", "ACCESS_TOKEN=[REDACTED]"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key=[REDACTED]",
    ),
    ('api_key="sk_live_4eC39HqLyjWDarjtT1zdp7dc"', "api_key=[REDACTED]"),
    # json-value
    (
        '{"user":"bob","password":"hun\\"ter2","n":1}',
        '{"user":"bob","password":"[REDACTED]","n":1}',
    ),
    ('{"refresh_token": "def50200a1b2"}', '{"refresh_token": "[REDACTED]"}'),
    # quoted-value (Python reprs)
    ("{'secret': 'abc def', 'x': 1}", "{'secret': '[REDACTED]', 'x': 1}"),
    # private-key, whole within one line
    (
        '{"key":"-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA'
        '\\n-----END RSA PRIVATE KEY-----"}',
        '{"key":"[REDACTED]"}',
    ),
]

# Lines that look a little like a secret and must stay exactly as they are.
NEAR_MISSES = [
    "GET http://example.com:8080/path?q=1",
    "clone https://user@example.com/repo.git",
    "mailto:bob@example.com",
    "authorization failed for user bob",
    "Authorization required",
    "the bearer of bad news",
    "Bearer authentication",
    "eyJhbGciOiJIUzI1NiJ9 is only a header",
    "version 1.2.3.4",
    "AKIA1234 too short",
    "AKIAIOSFODNN7EXAMPLEX one too many",
    "akiaiosfodnn7example lower case",
    "password_reset=true",
    "passwordless login enabled",
    "tokens=5 used",
    "token_count=3",
    "GET /login?password=&user=bob (empty value)",
    "PWD=/home/bob OLDPWD=/tmp",
    "enter your password:",
    '{"password_hint":"your dog"}',
    "-----BEGIN CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----",
    "secretary=alice",
]


@pytest.mark.parametrize(("line", "expected"), REDACTED_CASES)
def test_every_built_in_pattern_redacts_a_real_looking_secret(line: str, expected: str) -> None:
    assert SECRETS.line("s", line) == expected


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_near_misses_stay_as_they_are(line: str) -> None:
    assert SECRETS.line("s", line) == line


def test_every_built_in_rule_has_a_case() -> None:
    # A rule without a case here would be untested: each must change some case's line.
    for rule in BUILTINS:
        only = Redactor()
        only._compiled = [(check_pattern(rule.pattern), rule.template)]
        only._any = check_pattern(rule.pattern)
        assert any(only.text(line) != line for line, _ in REDACTED_CASES), rule.name


def test_a_private_key_over_several_lines_is_redacted_to_its_end() -> None:
    redactor = Redactor(secrets=True)
    lines = [
        "loading the deploy key",
        "2024-05-01 12:00:00 key: -----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        "QyNTUxOQAAACDfQhR3tLfGwGYx9wXcNf1Q2mWbXk7u3Wc5cVGmKHyV3wAAAJgsL0ZWLC9G",
        "AAAECw==",
        "-----END OPENSSH PRIVATE KEY----- loaded",
        "after the key",
    ]
    out = [redactor.line("k", line) for line in lines]
    assert out == [
        "loading the deploy key",
        "2024-05-01 12:00:00 key: [REDACTED]",
        REDACTED,
        REDACTED,
        REDACTED,
        "[REDACTED] loaded",
        "after the key",
    ]


def test_a_key_block_cut_short_ends_at_the_first_line_that_is_not_key_material() -> None:
    redactor = Redactor(secrets=True)
    redactor.line("k", "-----BEGIN EC PRIVATE KEY-----")
    assert redactor.line("k", "MHcCAQEEIIGlRHQ7Z4Zz1n9gXo2pAUwDtHN7") == REDACTED
    assert redactor.line("k", "server started on port 80") == "server started on port 80"
    assert redactor.line("k", "MHcCAQEEIIGlRHQ7Z4Zz1n9gXo2pAUwDtHN7") != REDACTED


def test_a_key_block_without_end_stops_after_the_limit() -> None:
    redactor = Redactor(secrets=True)
    redactor.line("k", "-----BEGIN PRIVATE KEY-----")
    body = "A" * 64
    out = [redactor.line("k", body) for _ in range(MAX_KEY_LINES + 5)]
    assert out[:MAX_KEY_LINES] == [REDACTED] * MAX_KEY_LINES
    assert out[-1] == body


def test_key_state_is_per_stream() -> None:
    redactor = Redactor(secrets=True)
    redactor.line("a", "-----BEGIN PRIVATE KEY-----")
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert redactor.line("b", body) == body
    assert redactor.line("a", body) == REDACTED


def test_user_patterns_replace_the_whole_match() -> None:
    redactor = Redactor([r"\b\d{3}-\d{2}-\d{4}\b", r"(?i)internal-[a-z]+"])
    assert (
        redactor.line("s", "ssn 123-45-6789 host INTERNAL-db") == "ssn [REDACTED] host [REDACTED]"
    )
    assert redactor.line("s", "1234-45-6789") == "1234-45-6789"
    # Without --redact-secrets the built-ins are off.
    assert redactor.line("s", "password=x") == "password=x"


def test_pieces_keep_their_cont_flag_and_untouched_pieces_are_the_same_objects() -> None:
    redactor = Redactor(["secret-[0-9]+"])
    a, b = Piece("a secret-42"), Piece("plain", cont=True)
    out = redactor.pieces("s", [a, b])
    assert out[0] == Piece("a [REDACTED]")
    assert out[1] is b


def test_no_patterns_is_false_and_changes_nothing() -> None:
    redactor = Redactor()
    assert not redactor
    assert redactor.line("s", "password=x") == "password=x"
    assert Redactor(secrets=True)
    assert Redactor(["x"])


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("(", "not a valid RE2 pattern: missing )"),
        ("(?=x)", "not a valid RE2 pattern"),  # lookahead: RE2 has none
        (r"(a)\1", "not a valid RE2 pattern"),  # backreference
        ("x*", "matches empty text"),
    ],
)
def test_a_bad_pattern_is_a_config_error_naming_redact(pattern: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        Redactor([pattern])
    assert str(info.value).startswith(f"--redact {pattern!r}: ")
    assert says in str(info.value)
    assert info.value.option == "redact"
    assert "\n" not in str(info.value)


def test_matching_is_linear_in_the_line() -> None:
    # (a+)+$ backtracks exponentially in a backtracking engine; RE2 does not.
    redactor = Redactor([r"(a+)+$"])
    line = "a" * 50_000 + "!"
    assert redactor.line("s", line) == line


# -- a secret cut in two (--max-line, a partial-line flush) ----------------------------

# The line cases whose secret is a run of text the redaction takes out.
CUT_CASES = [
    *REDACTED_CASES,
    ("Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543", "Authorization: [REDACTED]"),
    ('{"password": "correct horse battery"}', '{"password": "[REDACTED]"}'),
]
PAD = "2026-12-01T12:00:00Z app[42]: "


def _through(redactor: Redactor, splitter: LineSplitter, chunks: list[bytes]) -> str:
    """What the hub keeps of one line written in ``chunks``, a flush after each but the last."""
    pieces: list[Piece] = []
    for chunk in chunks[:-1]:
        pieces += splitter.feed(chunk)
        pieces += splitter.flush()
    pieces += splitter.feed(chunks[-1])
    out = redactor.pieces("s", pieces)
    assert all(p.cont for p in out[1:]) and not out[0].cont
    return "".join(p.text for p in out)


def _removed(line: str, expected: str) -> list[str]:
    """The runs of ``line`` that redaction takes out (each at least 4 characters)."""
    runs = [p for p in re.split(r"\[REDACTED\]", expected)]
    secret, rest = [], line
    for before, after in itertools.pairwise(runs):
        start = rest.index(before) + len(before)
        end = rest.index(after, start + 1) if after else len(rest)
        secret.append(rest[start:end])
        rest = rest[end:]
    return [s for s in secret if len(s) >= 4]


@pytest.mark.parametrize(("line", "expected"), CUT_CASES)
def test_a_secret_cut_by_max_line_at_every_position_is_redacted_whole(
    line: str, expected: str
) -> None:
    redactor = Redactor(secrets=True)
    max_line = 400  # a hold keeps back at most half a piece: more than these secrets
    after = " and the line goes on" * 3
    # The cut falls ``cut`` characters into the line: inside the secret, or
    # after it (where the kept-back tail would end inside it).
    for cut in range(1, len(line) + TAIL + 4):
        pad = "x" * (max_line - cut - 1) + " "
        splitter = LineSplitter(max_line, hold=redactor.hold)
        got = _through(redactor, splitter, [(pad + line + after + "\n").encode()])
        # As if the line had come whole (an Authorization value runs to its end).
        assert got == redactor.text(pad + line + after), cut
        assert got.startswith(pad + expected[:-4]), cut
        for secret in _removed(line, expected):
            assert secret not in got


@pytest.mark.parametrize(("line", "expected"), CUT_CASES)
def test_a_secret_cut_by_a_partial_line_flush_at_every_position_is_redacted_whole(
    line: str, expected: str
) -> None:
    redactor = Redactor(secrets=True)
    whole = PAD + line + " and on"
    for cut in range(1, len(whole)):
        data = (whole + "\n").encode()
        got = _through(redactor, LineSplitter(1024, hold=redactor.hold), [data[:cut], data[cut:]])
        assert got == redactor.text(whole), cut
        for secret in _removed(line, expected):
            assert secret not in got


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_near_misses_cut_anywhere_stay_as_they_are(line: str) -> None:
    redactor = Redactor(secrets=True)
    whole = PAD + line
    data = (whole + "\n").encode()
    for cut in range(1, len(data) - 1):
        got = _through(redactor, LineSplitter(1024, hold=redactor.hold), [data[:cut], data[cut:]])
        assert got == whole, cut
        text = "y" * (80 - cut % 40) + " " + whole
        got = _through(redactor, LineSplitter(80, hold=redactor.hold), [(text + "\n").encode()])
        assert got == text, cut


def test_a_key_sent_before_a_long_pause_still_redacts_the_value_after_it() -> None:
    """The writer stops after ``password=``: the key waits for its value, which is redacted."""
    redactor = Redactor(secrets=True)
    splitter = LineSplitter(1024, hold=redactor.hold)
    splitter.feed(PAD.encode() + b"login user=bob password=")
    first = splitter.flush()
    assert [p.text for p in first] == [PAD[:-8]]  # the key (and a little more) kept back
    released = splitter.flush(quiet=True)  # a further quiet delay: the key still waits
    assert "".join(p.text for p in first + released) == PAD + "login user=bob "
    rest = splitter.feed(b"hunter2 ok\n")
    texts = [p.text for p in redactor.pieces("s", [*first, *released, *rest])]
    assert "".join(texts) == PAD + "login user=bob password=[REDACTED] ok"
    assert not any("hunter2" in t or "hun" in t for t in texts)


def test_a_plain_partial_line_keeps_back_only_its_last_characters() -> None:
    redactor = Redactor(secrets=True)
    splitter = LineSplitter(1024, hold=redactor.hold)
    splitter.feed(b"Downloading a rather long file name here ... 45% of 1.2 GB")
    (shown,) = splitter.flush()
    assert shown.text == "Downloading a rather long file name here ... 45% of 1.2 GB"[:-TAIL]
    assert splitter.pending == TAIL
    assert Redactor(["x+"]).hold("a" * 1000) == USER_TAIL


def test_the_hold_is_bounded() -> None:
    redactor = Redactor(secrets=True)
    value = "a" * (MAX_HOLD - 100)
    assert redactor.hold("x password=" + value) == len("password=" + value)
    assert redactor.hold("password=" + "a" * (3 * MAX_HOLD)) <= MAX_HOLD
    assert redactor.hold("plain progress 45%", quiet=True) == 0
    splitter = LineSplitter(64, hold=redactor.hold)
    out = splitter.feed(b"token=" + b"b" * 200)
    assert out and all(len(p.text) >= 32 for p in out)  # at most half a piece kept back
    assert splitter.pending <= 64


def test_after_a_further_quiet_delay_what_may_begin_a_secret_still_waits() -> None:
    """A writer pausing inside a URL password: the password is never shown in part."""
    redactor = Redactor(secrets=True)
    splitter = LineSplitter(1024, hold=redactor.hold)
    splitter.feed((PAD + "fetch https://deploy:s3cr3t").encode())
    shown = splitter.flush() + splitter.flush(quiet=True)
    assert "".join(p.text for p in shown) == PAD + "fetch "
    rest = splitter.feed(b"-P4ss@git.example.com/r.git\n")
    texts = [p.text for p in redactor.pieces("s", shown + rest)]
    assert "".join(texts) == PAD + "fetch https://deploy:[REDACTED]@git.example.com/r.git"
