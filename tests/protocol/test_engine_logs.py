"""Engine log records into lines: examples (both streams, long lines joined,
TTY records glued together, resuming), and by property against a model of
the engine (random chunkings, connections cut anywhere and resumed with
``since=``, garbage input)."""

from __future__ import annotations

import calendar
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tailcast.errors import ProtocolError
from tailcast.protocol.engine_frames import encode_frame
from tailcast.protocol.engine_logs import LogDecoder, LogLine, ResumePoint
from tailcast.protocol.engine_time import format_timestamp
from tailcast.protocol.lines import Piece
from tailcast.protocol.redact import Redactor
from tests.protocol.test_engine_frames import chunked

NS = 1_000_000_000
T0 = calendar.timegm((2024, 5, 1, 10, 0, 0, 0, 0, 0)) * NS


# -- records: a model of the engine ----------------------------------------------------


@dataclass(frozen=True)
class Rec:
    """One log record as the engine stores it: real time, fd, content."""

    ts_ns: int
    fd: int  # 1 stdout, 2 stderr
    content: bytes


def engine(records: Sequence[Rec], *, tty: bool, fraction: bool, since: int | None = None) -> bytes:
    """What ``/logs?timestamps=1[&since=S]`` sends: ``since`` is compared with the
    real time, inclusive (measured on Podman); the printed time may be whole seconds."""
    out = bytearray()
    for rec in records:
        if since is not None and rec.ts_ns < since * NS:
            continue
        payload = format_timestamp(rec.ts_ns, fraction=fraction) + b" " + rec.content
        out += payload if tty else encode_frame(rec.fd, payload)
    return bytes(out)


def expected_lines(records: Sequence[Rec], *, tty: bool) -> list[tuple[str, str]]:
    """Logical lines per fd: records without a newline continue."""
    joined: dict[str, bytearray] = {}
    order: list[tuple[str, str]] = []
    for rec in records:
        fd = "out" if tty or rec.fd == 1 else "err"
        buf = joined.setdefault(fd, bytearray())
        buf += rec.content
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            order.append((fd, text_of(line.removesuffix(b"\r"))))
            buf[:] = rest
    for fd, buf in joined.items():
        if buf:
            order.append((fd, text_of(bytes(buf).removesuffix(b"\r"))))
    return order


def text_of(data: bytes) -> str:
    """UTF-8 with each invalid byte replaced by U+FFFD, as LineSplitter does."""
    return re.sub("[\udc80-\udcff]", "\ufffd", data.decode("utf-8", "surrogateescape"))


def logical(pieces: Sequence[LogLine]) -> list[tuple[str, str]]:
    """Join ``cont`` pieces back into lines, per fd, in the order lines started."""
    out: list[list[str]] = []
    last: dict[str, int] = {}
    for p in pieces:
        if p.cont and p.fd in last:
            out[last[p.fd]][1] += p.text
        else:
            last[p.fd] = len(out)
            out.append([p.fd, p.text])
    return [(fd, text) for fd, text in out]


def by_fd(lines: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for fd, text in lines:
        out.setdefault(fd, []).append(text)
    return out


def run_decoder(dec: LogDecoder, chunks: Sequence[bytes]) -> list[LogLine]:
    out: list[LogLine] = []
    for chunk in chunks:
        dec.feed_data(chunk)
        out += dec.events()
    dec.feed_eof()
    return out + dec.events() + dec.finish()


# -- records: examples -----------------------------------------------------------------


def test_stdout_and_stderr_with_timestamps() -> None:
    recs = [Rec(T0, 1, b"out1\n"), Rec(T0 + 5, 2, b"err1\n"), Rec(T0 + NS, 1, b"out2\n")]
    lines = run_decoder(LogDecoder(tty=False), [engine(recs, tty=False, fraction=True)])
    assert lines == [
        LogLine("out", T0 / NS, "out1"),
        LogLine("err", (T0 + 5) / NS, "err1"),
        LogLine("out", (T0 + NS) / NS, "out2"),
    ]


def test_a_long_line_split_by_the_engine_is_joined_per_fd() -> None:
    # Podman's form: 4 KiB records with no newline, a stderr line in between,
    # then the end of the line as a record holding only the newline.
    recs = [
        Rec(T0, 1, b"a" * 4096),
        Rec(T0, 2, b"meanwhile\n"),
        Rec(T0, 1, b"b" * 4096),
        Rec(T0, 1, b"\n"),
        Rec(T0, 1, b"next\n"),
    ]
    data = engine(recs, tty=False, fraction=False)
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        lines = run_decoder(LogDecoder(tty=False), chunks)
        assert lines == [
            LogLine("err", T0 / NS, "meanwhile"),
            LogLine("out", T0 / NS, "a" * 4096 + "b" * 4096),
            LogLine("out", T0 / NS, "next"),
        ]


def test_a_joined_line_over_max_line_is_cut_again_as_cont_pieces() -> None:
    recs = [Rec(T0, 1, b"x" * 100), Rec(T0, 1, b"y" * 100 + b"\n")]
    wire = engine(recs, tty=False, fraction=True)
    lines = run_decoder(LogDecoder(tty=False, max_line=64), [wire])
    assert [(p.text, p.cont) for p in lines] == [
        ("x" * 64, False),
        ("x" * 36 + "y" * 28, True),
        ("y" * 64, True),
        ("y" * 8, True),
    ]


def test_the_engines_own_error_frame_is_an_err_line() -> None:
    data = encode_frame(3, b"2024-05-01T10:00:00Z log driver failed\n")
    assert run_decoder(LogDecoder(tty=False), [data]) == [
        LogLine("err", T0 / NS, "log driver failed")
    ]


def test_a_frame_without_a_timestamp_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="without a timestamp"):
        run_decoder(LogDecoder(tty=False), [encode_frame(1, b"plain\n")])


def test_tty_records_glued_without_newlines_are_split_at_their_timestamps() -> None:
    # As Podman sent a TTY container's 20 000-character line: 4 KiB records
    # one after the other, each with its own timestamp, CRLF at the end.
    recs = [Rec(T0, 1, b"hello tty\r\n")]
    recs += [Rec(T0 + i, 1, b"x" * 4095) for i in range(1, 5)]
    recs += [Rec(T0 + 9, 1, b"x" * 20 + b"\r\n"), Rec(T0 + NS, 1, b"end\r\n")]
    data = engine(recs, tty=True, fraction=False)
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))], chunked(data, [4096] * 9)):
        lines = run_decoder(LogDecoder(tty=True), chunks)
        assert lines == [
            LogLine("out", T0 / NS, "hello tty"),
            LogLine("out", T0 / NS, "x" * (4095 * 4 + 20)),
            LogLine("out", T0 / NS + 1, "end"),
        ]


def test_tty_text_that_looks_like_a_timestamp_but_is_not_near_stays_text() -> None:
    recs = [Rec(T0, 1, b"started at 2020-01-01T00:00:00Z as planned\r\n")]
    lines = run_decoder(LogDecoder(tty=True), [engine(recs, tty=True, fraction=True)])
    assert [p.text for p in lines] == ["started at 2020-01-01T00:00:00Z as planned"]


def test_tty_flush_hands_out_a_partial_line_and_continues_it() -> None:
    dec = LogDecoder(tty=True)
    dec.feed_data(b"2024-05-01T10:00:00Z progress: 10%")
    assert dec.events() == []  # the tail might start a timestamp
    assert [(p.text, p.cont) for p in dec.flush()] == [("progress: 10%", False)]
    dec.feed_data(b" done\r\n")
    assert [(p.text, p.cont) for p in dec.events()] == [(" done", True)]


def test_with_redaction_a_flush_keeps_back_where_a_secret_may_begin() -> None:
    """A container pausing inside ``password=...``: the secret arrives whole."""
    redactor = Redactor(secrets=True)
    dec = LogDecoder(tty=True, hold=redactor.hold)
    dec.feed_data(b"2024-05-01T10:00:00Z 2024-05-01 web[7]: login user=bob password=hun")
    shown = dec.flush() + dec.flush(quiet=True)  # the quiet delay, and a further one
    assert "".join(p.text for p in shown) == "2024-05-01 web[7]: login user=bob "
    dec.feed_data(b"ter2 ok\r\n")
    pieces = [Piece(p.text, p.cont) for p in shown + dec.events()]
    texts = [p.text for p in redactor.pieces("s", pieces)]
    assert "".join(texts) == "2024-05-01 web[7]: login user=bob password=[REDACTED] ok"
    assert not any("hun" in t for t in texts)


def test_resume_drops_what_was_seen_with_whole_second_timestamps() -> None:
    recs = [Rec(T0 + i * NS // 4, 1, b"line %d\n" % i) for i in range(12)]  # 4 a second
    dec = LogDecoder(tty=False)
    first = engine(recs[:6], tty=False, fraction=False)
    lines = run_decoder(dec, [first])
    assert dec.resume == ResumePoint(T0 + NS, 2)  # lines 4 and 5 carry second 1
    assert dec.resume.since() == T0 // NS  # one second early
    dec.new_connection()
    again = engine(recs, tty=False, fraction=False, since=dec.resume.since())
    lines += run_decoder(dec, [again])
    assert [p.text for p in lines] == [f"line {i}" for i in range(12)]
    assert dec.dropped == 6


# -- records: properties ---------------------------------------------------------------

_TEXT = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(
    [b"", b"plain", b"\xe2\x82\xac\xf0\x9f", b"with\rcr", b"2024-05-01T10:00:00Z "]
)


@st.composite
def record_lists(draw: st.DrawFn, *, tty: bool) -> list[Rec]:
    """Records in log order: times never go back, and (TTY) a record without a
    newline is followed within the join window, as the engine does."""
    n = draw(st.integers(min_value=0, max_value=14))
    ts = T0
    out: list[Rec] = []
    for _ in range(n):
        ts += draw(st.sampled_from([0, 0, 1, NS // 3, NS, 3 * NS]))
        ends = draw(st.booleans())
        text = draw(_TEXT)
        if tty:
            # The engine starts a record at a line start or after a cut; text
            # in a TTY record holds no timestamp of the same moment.
            assume(b"2024-05" not in text)
        content = text + (b"\r\n" if tty and ends else b"\n" if ends else b"")
        if not content:
            continue
        out.append(Rec(ts, draw(st.sampled_from([1, 2])), content))
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.booleans(),
    st.data(),
    st.lists(st.integers(min_value=1, max_value=60), max_size=40),
)
def test_any_chunking_gives_the_same_lines_as_the_engine_wrote(
    tty: bool, fraction: bool, data: st.DataObject, sizes: list[int]
) -> None:
    recs = data.draw(record_lists(tty=tty))
    wire = engine(recs, tty=tty, fraction=fraction)
    whole = run_decoder(LogDecoder(tty=tty), [wire])
    pieces = run_decoder(LogDecoder(tty=tty), chunked(wire, sizes))
    assert [(p.fd, p.text, p.cont) for p in pieces] == [(p.fd, p.text, p.cont) for p in whole]
    assert by_fd(logical(whole)) == by_fd(expected_lines(recs, tty=tty))


@settings(max_examples=300, deadline=None)
@given(
    st.booleans(),
    st.booleans(),
    st.data(),
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=3),
)
def test_cut_anywhere_and_resumed_with_since_loses_and_repeats_nothing(
    tty: bool, fraction: bool, data: st.DataObject, cuts: list[float]
) -> None:
    recs = data.draw(record_lists(tty=tty))
    dec = LogDecoder(tty=tty)
    got: list[LogLine] = []
    since: int | None = None
    for cut in cuts:
        wire = engine(recs, tty=tty, fraction=fraction, since=since)
        dec.feed_data(wire[: int(len(wire) * cut)])
        got += dec.events()
        with contextlib.suppress(ProtocolError):
            dec.feed_eof()  # the connection dropped, maybe inside a frame
        got += dec.events()
        dec.new_connection()
        since = dec.resume.since()
    got += run_decoder(dec, [engine(recs, tty=tty, fraction=fraction, since=since)])
    assert by_fd(logical(got)) == by_fd(expected_lines(recs, tty=tty))


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.binary(max_size=200), st.lists(st.integers(1, 40), max_size=10))
def test_garbage_gives_lines_or_a_protocol_error(tty: bool, data: bytes, sizes: list[int]) -> None:
    dec = LogDecoder(tty=tty, max_frame=64, max_line=16)
    try:
        lines = run_decoder(dec, chunked(data, sizes))
    except ProtocolError:
        return
    assert all(len(p.text.encode()) <= 16 for p in lines)
