"""Protocol v1 frames: encoders round-trip through JSON; every bad client frame is a FrameError."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.errors import FrameError
from tailcast.protocol import wire
from tailcast.protocol.lines import Piece

FAST = settings(max_examples=200, deadline=None)
text_st = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)


# -- server frames ----------------------------------------------------------------------


@FAST
@given(
    st.integers(1, 2**53),
    st.floats(0, 4e9, allow_nan=False),
    text_st,
    st.sampled_from([None, "out", "err"]),
    st.booleans(),
)
def test_encode_line_round_trips(
    seq: int, ts: float, text: str, fd: str | None, cont: bool
) -> None:
    line = json.loads(wire.encode_line(seq, ts, text, fd, cont))
    expected: dict[str, Any] = {"seq": seq, "ts": pytest.approx(ts, abs=1e-6), "text": text}
    if fd is not None:
        expected["fd"] = fd
    if cont:
        expected["cont"] = True
    assert line == expected


def test_encode_line_omits_fd_and_cont_when_not_set() -> None:
    assert json.loads(wire.encode_line(3, 1.5, "x")) == {"seq": 3, "ts": 1.5, "text": "x"}


def test_encode_line_keeps_ansi_and_unicode_as_is() -> None:
    text = '\x1b[31mred\x1b[0m \u20ac "q" \\'
    assert json.loads(wire.encode_line(1, 0.0, text))["text"] == text


@FAST
@given(st.lists(text_st, min_size=0, max_size=10))
def test_lines_frame_round_trips(texts: list[str]) -> None:
    encoded = [wire.encode_line(i + 1, 1.0, t) for i, t in enumerate(texts)]
    frame = json.loads(wire.lines_frame("app.log", encoded))
    assert frame["type"] == "lines"
    assert frame["stream"] == "app.log"
    assert [line["text"] for line in frame["lines"]] == texts
    assert [line["seq"] for line in frame["lines"]] == list(range(1, len(texts) + 1))


def test_other_server_frames() -> None:
    assert json.loads(wire.gap_frame("s", 3, 9)) == {
        "type": "gap",
        "stream": "s",
        "from": 3,
        "to": 9,
    }
    assert json.loads(wire.status_frame("s", "exited", exit_code=1, message=None)) == {
        "type": "status",
        "stream": "s",
        "state": "exited",
        "exit_code": 1,
    }
    info = {"id": "s", "name": "S", "kind": "stdin", "state": "live", "epoch": "e"}
    assert json.loads(wire.hello_frame("tailcast/1.0", [info])) == {
        "type": "hello",
        "version": 1,
        "server": "tailcast/1.0",
        "streams": [info],
    }
    assert json.loads(wire.streams_frame([info])) == {"type": "streams", "streams": [info]}
    assert json.loads(wire.error_frame("bad \u20ac")) == {"type": "error", "message": "bad \u20ac"}
    # UTF-8 JSON text, not ASCII escapes
    assert "\u20ac".encode() in wire.error_frame("\u20ac")


# -- client frames ----------------------------------------------------------------------


def test_parse_subscribe_and_unsubscribe() -> None:
    sub = wire.parse_client_frame('{"type":"subscribe","streams":["a","b.log","a"],"tail":5}')
    assert sub == wire.Subscribe(streams=("a", "b.log"), tail=5, since=None)
    sub = wire.parse_client_frame(b'{"type":"subscribe","streams":["*"],"since":{"a":7}}')
    assert isinstance(sub, wire.Subscribe)
    assert sub.streams == ("*",)
    assert sub.since == {"a": 7}
    assert sub.tail is None
    sub = wire.parse_client_frame('{"type":"subscribe","streams":[],"tail":null,"since":null}')
    assert sub == wire.Subscribe(streams=())
    unsub = wire.parse_client_frame('{"type":"unsubscribe","streams":["a"]}')
    assert unsub == wire.Unsubscribe(streams=("a",))


BAD_FRAMES = [
    "",
    "not json",
    "{",
    b"\xff\xfe",
    "[]",
    '"subscribe"',
    "42",
    "null",
    "{}",
    '{"type":7}',
    '{"type":"dance"}',
    '{"type":"subscribe"}',
    '{"type":"subscribe","streams":"a"}',
    '{"type":"subscribe","streams":[1]}',
    '{"type":"subscribe","streams":["Bad"]}',
    '{"type":"subscribe","streams":["../etc"]}',
    '{"type":"subscribe","streams":[""]}',
    '{"type":"subscribe","streams":[null]}',
    '{"type":"subscribe","streams":["a"],"tail":-1}',
    '{"type":"subscribe","streams":["a"],"tail":1.5}',
    '{"type":"subscribe","streams":["a"],"tail":true}',
    '{"type":"subscribe","streams":["a"],"tail":"5"}',
    '{"type":"subscribe","streams":["a"],"tail":100000000000}',
    '{"type":"subscribe","streams":["a"],"since":[1]}',
    '{"type":"subscribe","streams":["a"],"since":{"a":-1}}',
    '{"type":"subscribe","streams":["a"],"since":{"a":"1"}}',
    '{"type":"subscribe","streams":["a"],"since":{"Bad!":1}}',
    '{"type":"subscribe","streams":["a"],"since":{"a":1e400}}',
    '{"type":"unsubscribe","streams":{}}',
    '{"type":"subscribe","streams":[' + ",".join(['"a"'] * 1001) + "]}",
    '{"type":"subscribe","streams":[],"since":{'
    + ",".join(f'"s{i}":1' for i in range(1001))
    + "}}",
    "[" * 100_000,
    '{"a":' * 50_000,
    "1" * 5000,
]


@pytest.mark.parametrize("frame", BAD_FRAMES, ids=lambda f: repr(f)[:40])
def test_bad_frames_raise_frame_error(frame: str | bytes) -> None:
    with pytest.raises(FrameError) as info:
        wire.parse_client_frame(frame)
    assert str(info.value)
    assert len(str(info.value)) < 300  # fit to send back, whatever came in


json_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text_st,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_st, inner, max_size=4),
    max_leaves=12,
)
frame_st = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "x"]) | json_st},
    optional={"streams": json_st | st.lists(text_st), "tail": json_st, "since": json_st},
)


def _parse_or_frame_error(data: str | bytes) -> None:
    try:
        result = wire.parse_client_frame(data)
    except FrameError:
        return
    assert isinstance(result, (wire.Subscribe, wire.Unsubscribe))
    for stream_id in result.streams:
        assert stream_id == "*" or wire.STREAM_ID_RE.match(stream_id)


@FAST
@given(json_st | frame_st)
def test_arbitrary_json_values_give_a_frame_or_frame_error(value: Any) -> None:
    _parse_or_frame_error(json.dumps(value))


@FAST
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_gives_a_frame_or_frame_error(data: str | bytes) -> None:
    _parse_or_frame_error(data)


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(
    st.integers(min_value=1, max_value=2**53),
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.lists(st.tuples(text_st, st.booleans()), max_size=8),
    st.sampled_from([None, "out", "err"]),
)
def test_encode_lines_equals_encode_line_per_piece(
    first: int, ts: float, items: list[tuple[str, bool]], fd: str | None
) -> None:
    """The batch encoder (the burst hot path) gives exactly the per-line bytes."""
    pieces = [Piece(text, cont) for text, cont in items]
    expected = [wire.encode_line(first + i, ts, p.text, fd, p.cont) for i, p in enumerate(pieces)]
    assert wire.encode_lines(first, ts, pieces, fd) == expected


def test_a_line_may_carry_a_level_and_entries_each_their_own() -> None:
    assert json.loads(wire.encode_line(3, 1.0, "x", level="warn")) == {
        "seq": 3,
        "ts": 1.0,
        "text": "x",
        "level": "warn",
    }
    entries = [(1.0, "a", None, False, "error"), (2.0, "b", "out", True, None)]
    assert wire.encode_entries(7, entries) == [
        wire.encode_line(7, 1.0, "a", level="error"),
        wire.encode_line(8, 2.0, "b", "out", True),
    ]
    assert wire.decode_line(wire.encode_line(1, 1.0, "é")) == {"seq": 1, "ts": 1.0, "text": "é"}


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(st.floats(allow_nan=True, allow_infinity=True) | st.floats(min_value=-1e10, max_value=1e10))
def test_format_ts_is_the_repr_of_the_rounded_time(ts: float) -> None:
    """The fast time stamp is exactly ``repr(round(ts, 6))``, whatever the float."""
    if math.isnan(ts) or math.isinf(ts):
        return  # round() refuses them; nothing publishes them
    assert wire.format_ts(ts) == repr(round(ts, 6))


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(
    st.integers(min_value=1, max_value=2**40),
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=4e9, allow_nan=False),
            text_st,
            st.sampled_from([None, "out"]),
            st.booleans(),
            st.sampled_from([None, "error", "info"]),
            st.sampled_from([None, "warn"]),
            st.booleans(),
        ),
        max_size=8,
    ),
)
def test_encode_entries_with_marks_equals_encode_line(first: int, items: list[Any]) -> None:
    """The journal's batch encoder gives exactly the per-line bytes, marks and all."""
    entries = [(ts, text, fd, cont, level) for ts, text, fd, cont, level, _, _ in items]
    marks = [(mark, follows) for *_, mark, follows in items]
    expected = [
        wire.encode_line(first + i, ts, text, fd, cont, mark, follows)
        for i, ((ts, text, fd, cont, _), (mark, follows)) in enumerate(
            zip(entries, marks, strict=True)
        )
    ]
    assert wire.encode_entries(first, entries, marks) == expected


def test_encode_entries_takes_the_stamps_given_one_per_line() -> None:
    """Stamps given (the journal's, cut from its digits) stand for format_ts(ts)."""
    entries = [(1.5, "a", None, False, None), (2.0, "b", "out", True, "warn")]
    marks = [(None, False), ("warn", True)]
    stamps = [wire.format_ts(e[0]) for e in entries]
    assert wire.encode_entries(3, entries, marks, stamps) == wire.encode_entries(3, entries, marks)
    assert json.loads(wire.encode_entries(3, entries, marks, ["7.25", "8.0"])[1])["ts"] == 8.0
    with pytest.raises(ValueError):  # one short: never a line silently lost
        wire.encode_entries(3, entries, marks, stamps[:1])
