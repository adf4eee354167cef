"""tailcast.protocol.filters: text, RE2, case, invert, levels; the backward search."""

from __future__ import annotations

import json
import time

import pytest

from tailcast.errors import FrameError
from tailcast.protocol import wire
from tailcast.protocol.filters import (
    BackwardSearch,
    BadFilter,
    FilterSpec,
    FilterState,
    LineFilter,
    compile_filter,
    parse_filter,
    text_span,
)
from tailcast.protocol.follows import MessageState, annotate_one
from tests.helpers import DEADLINE


def encode(texts: list[str], fd: str | None = None, first: int = 1) -> list[bytes]:
    """Lines encoded as the hub encodes them (with level and follows)."""
    state = MessageState()
    out = []
    for seq, text in enumerate(texts, first):
        level, follows = annotate_one(state, text, fd, False)
        out.append(wire.encode_line(seq, 1.5, text, fd, False, level, follows))
    return out


def selected(flt: LineFilter, texts: list[str], fd: str | None = None) -> list[str]:
    lines = encode(texts, fd)
    return [json.loads(lines[i])["text"] for i in flt.select(lines, FilterState())]


def make(**spec: object) -> LineFilter:
    return compile_filter(parse_filter(spec))


@pytest.mark.parametrize("fd", [None, "out"])
@pytest.mark.parametrize("cont", [False, True])
@pytest.mark.parametrize("text", ["plain", 'quo"te', "tab\there", "ünïcode", "", "a\\b"])
def test_text_span_finds_the_text(text: str, cont: bool, fd: str | None) -> None:
    line = wire.encode_line(7, 1.0, text, fd, cont, "warn", True)
    start, end = text_span(line)
    assert json.loads(b'"' + line[start:end] + b'"') == text


TEXTS = ["INFO start", "ERROR disk full", "debug: tick", "WARN Disk slow", "info: done"]


def test_plain_text_is_case_folded_unless_case() -> None:
    assert selected(make(text="disk"), TEXTS) == ["ERROR disk full", "WARN Disk slow"]
    assert selected(make(text="Disk", case=True), TEXTS) == ["WARN Disk slow"]


def test_text_never_matches_the_fields_around_it() -> None:
    lines = ["a", "b"]
    for needle in ("seq", "ts", "text", "out", "level", "follows", '"'):
        assert selected(make(text=needle), lines, fd="out") == [], needle


def test_escapes_and_unicode_fold() -> None:
    texts = ["tab\there", 'say "hi"', "STRASSE", "Straße", "\x1b[31mred\x1b[0m"]
    assert selected(make(text="t"), texts) == ["tab\there", "STRASSE", "Straße"]
    assert selected(make(text='"hi"'), texts) == ['say "hi"']
    assert selected(make(text="strasse"), texts) == ["STRASSE", "Straße"]
    assert selected(make(text="u001b"), texts) == []  # the escape is not the text
    assert selected(make(text="red"), texts) == ["\x1b[31mred\x1b[0m"]


def test_regex_is_re2() -> None:
    assert selected(make(text=r"^(INFO|WARN)\b", regex=True, case=True), TEXTS) == [
        "INFO start",
        "WARN Disk slow",
    ]
    assert selected(make(text=r"^(info|warn)\b", regex=True), TEXTS) == [
        "INFO start",
        "WARN Disk slow",
        "info: done",
    ]
    assert selected(make(text=r"\d", regex=True), ["x1", "y", "tab\t2"]) == ["x1", "tab\t2"]


@pytest.mark.parametrize("pattern", ["(", "a{2,1}", r"(?<=a)b", r"(a)\1", "x" * 1001])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BadFilter):
        make(text=pattern, regex=True)


def test_pathological_pattern_is_linear() -> None:
    flt = make(text="(a+)+$", regex=True)
    line = "a" * 200_000 + "b"
    started = time.perf_counter()
    assert selected(flt, [line]) == []
    # Backtracking would take longer than the universe; RE2 takes milliseconds. The
    # bound is on finishing at all (the suite's deadline), not on speed.
    assert time.perf_counter() - started < DEADLINE


def test_invert() -> None:
    assert selected(make(text="disk", invert=True), TEXTS) == [
        "INFO start",
        "debug: tick",
        "info: done",
    ]


def test_levels() -> None:
    assert selected(make(levels=["error", "warn"]), TEXTS) == ["ERROR disk full", "WARN Disk slow"]
    assert selected(make(levels=["info"], text="done"), TEXTS) == ["info: done"]


TRACE = [
    "INFO:root:handled",
    "ERROR:root:payment failed",
    "Traceback (most recent call last):",
    '  File "pay.py", line 3',
    "ValueError: declined",
    "INFO:root:next",
    "    indented under info",
]


def test_level_filter_keeps_the_stack_trace_with_its_message() -> None:
    assert selected(make(levels=["error"]), TRACE) == TRACE[1:5]


def test_text_match_on_the_head_brings_its_follows_lines() -> None:
    assert selected(make(text="payment"), TRACE) == TRACE[1:5]
    # A follows line that matches on its own comes too (a search finds it).
    assert selected(make(text="declined"), TRACE) == ["ValueError: declined"]


def test_invert_drops_whole_messages() -> None:
    assert selected(make(text="payment", invert=True), TRACE) == [TRACE[0], *TRACE[5:]]


def test_state_carries_to_the_next_batch() -> None:
    flt = make(levels=["error"])
    lines = encode(TRACE)
    state = FilterState()
    first = flt.select(lines[:3], state)
    second = flt.select(lines[3:], state)
    assert first == [1, 2] and second == [0, 1]


def test_cont_piece_goes_with_its_line() -> None:
    lines = [
        wire.encode_line(1, 1.0, "needle here", None, False),
        wire.encode_line(2, 1.0, " rest", None, True),
        wire.encode_line(3, 1.0, "other", None, False),
        wire.encode_line(4, 1.0, " rest", None, True),
    ]
    assert make(text="needle").select(lines, FilterState()) == [0, 1]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be an object"),
        ({"text": 3}, '"text"'),
        ({"regex": "yes"}, '"regex"'),
        ({"levels": ["loud"]}, "not a level"),
        ({"levels": "error"}, None),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_parse_filter(obj: object, message: str | None) -> None:
    if message is None:
        assert parse_filter(obj) == FilterSpec(levels=frozenset({"error"}))
        return
    with pytest.raises(BadFilter, match=message):
        parse_filter(obj)


def test_subscribe_frame_carries_a_compiled_filter() -> None:
    frame = wire.parse_client_frame(
        json.dumps({"type": "subscribe", "streams": ["a"], "filter": {"text": "x", "regex": True}})
    )
    assert isinstance(frame, wire.Subscribe) and frame.filter is not None
    assert frame.filter.spec == FilterSpec(text="x", regex=True)
    with pytest.raises(FrameError, match="bad pattern"):
        wire.parse_client_frame(
            '{"type":"subscribe","streams":["a"],"filter":{"text":"(","regex":true}}'
        )


def search(flt: LineFilter, lines: list[bytes], limit: int, chunk: int) -> list[int]:
    """Feed ``lines`` backwards in chunks, as the HTTP search does."""
    found = BackwardSearch(flt, limit)
    end = len(lines)
    while end > 0:
        start = max(0, end - chunk)
        if found.feed(start + 1, lines[start:end]):
            break
        end = start
    return [seq for seq, _ in found.results()]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100])
def test_backward_search_is_the_newest_matches(chunk: int) -> None:
    texts = TRACE * 5
    lines = encode(texts)
    flt = make(levels=["error"])
    every = [i + 1 for i in flt.select(lines, FilterState())]
    assert search(flt, lines, 6, chunk) == every[-6:]
    assert search(flt, lines, 100, chunk) == every


def test_state_after_the_lines_before_a_read() -> None:
    """A read that starts inside a message is primed from the lines before it."""
    lines = [
        b'{"seq":1,"ts":1,"level":"error","text":"Disk full"}',
        b'{"seq":2,"ts":1,"level":"error","follows":true,"text":"  at x"}',
    ]
    passing = LineFilter(FilterSpec(text="Disk", case=True))
    assert passing.state_after(lines).head is True
    assert LineFilter(FilterSpec(text="nope")).state_after(lines).head is False
    assert passing.state_after(lines[1:]).head is None  # no head before: judged alone
    assert passing.state_after([]).primed
