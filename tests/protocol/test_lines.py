"""LineSplitter: three ways (all at once, byte by byte, with trailing data) and by property."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.protocol.lines import LineSplitter, Piece, utf8_boundary

SAMPLE = (
    b"first\nsecond\r\nwith\rlone cr\n\nunicode \xe2\x82\xac \xf0\x9f\x98\x80\nbad \xff\xfe end\n"
)
SAMPLE_PIECES = [
    Piece("first"),
    Piece("second"),
    Piece("with\rlone cr"),
    Piece(""),
    Piece("unicode \u20ac \U0001f600"),
    Piece("bad \ufffd\ufffd end"),
]


def feed_all(data: bytes, max_line: int = 64 * 1024) -> list[Piece]:
    splitter = LineSplitter(max_line)
    return splitter.feed(data) + splitter.feed_eof()


def feed_chunks(chunks: Sequence[bytes], max_line: int = 64 * 1024) -> list[Piece]:
    splitter = LineSplitter(max_line)
    out: list[Piece] = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    return out + splitter.feed_eof()


def logical(pieces: Sequence[Piece]) -> list[str]:
    """Join every ``cont`` piece onto the line before it."""
    lines: list[str] = []
    for piece in pieces:
        if piece.cont:
            assert lines, "a cont piece with nothing to continue"
            lines[-1] += piece.text
        else:
            lines.append(piece.text)
    return lines


# -- three ways -------------------------------------------------------------------------


def test_all_at_once() -> None:
    assert feed_all(SAMPLE) == SAMPLE_PIECES


def test_byte_by_byte() -> None:
    assert feed_chunks([SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == SAMPLE_PIECES


def test_trailing_data_is_held_until_newline_or_eof() -> None:
    splitter = LineSplitter()
    assert splitter.feed(SAMPLE + b"tail without newline") == SAMPLE_PIECES
    assert splitter.pending == len(b"tail without newline")
    assert splitter.feed(b" and more") == []
    assert splitter.feed_eof() == [Piece("tail without newline and more")]
    assert splitter.pending == 0
    assert splitter.feed_eof() == []


# -- details ----------------------------------------------------------------------------


def test_crlf_dropped_lone_cr_kept() -> None:
    assert feed_all(b"a\r\nb\rc\r\n\r\n") == [Piece("a"), Piece("b\rc"), Piece("")]


def test_crlf_split_across_feeds() -> None:
    assert feed_chunks([b"abc\r", b"\n"]) == [Piece("abc")]


def test_empty_lines_preserved() -> None:
    assert feed_all(b"\n\n\nx\n\n") == [Piece(""), Piece(""), Piece(""), Piece("x"), Piece("")]


def test_invalid_bytes_become_replacement_characters() -> None:
    assert feed_all(b"\xff\n\xc3\n") == [Piece("\ufffd"), Piece("\ufffd")]


def test_multibyte_character_split_across_feeds_kept_whole() -> None:
    euro = "\u20ac".encode()
    assert feed_chunks([b"x" + euro[:1], euro[1:2], euro[2:] + b"\n"]) == [Piece("x\u20ac")]


def test_long_line_cut_into_cont_pieces_on_character_boundaries() -> None:
    text = "ab\u20ac" * 5  # 25 bytes
    pieces = feed_all(text.encode() + b"\n", max_line=8)
    assert [p.cont for p in pieces] == [False] + [True] * (len(pieces) - 1)
    assert "".join(p.text for p in pieces) == text
    assert all(len(p.text.encode()) <= 8 for p in pieces)
    assert len(pieces) == 4


def test_invalid_bytes_never_make_a_piece_over_max_line() -> None:
    # Each invalid byte decodes to U+FFFD, three bytes in UTF-8: the piece
    # limit counts what goes on the wire, not what came in.
    pieces = feed_all(b"\xff" * 20 + b"\n", max_line=8)
    assert all(len(p.text.encode()) <= 8 for p in pieces), pieces
    assert "".join(p.text for p in pieces) == "\ufffd" * 20
    assert [p.cont for p in pieces] == [False] + [True] * (len(pieces) - 1)


def test_invalid_sequence_decodes_the_same_wherever_it_is_cut() -> None:
    # One U+FFFD per invalid byte: a truncated sequence cut in two reads, or
    # in two pieces, reads the same as when it came in one piece.
    whole = feed_all(b"\xe2\x82A\n")
    assert whole == [Piece("\ufffd\ufffdA")]
    assert feed_chunks([b"\xe2", b"\x82A\n"]) == whole


def test_buffer_stays_bounded_without_newline() -> None:
    splitter = LineSplitter(16)
    emitted: list[Piece] = []
    for _ in range(100):
        emitted += splitter.feed(b"0123456789")
        assert splitter.pending <= 16
    assert len(emitted) >= 60
    assert all(p.cont for p in emitted[1:])


def test_flush_emits_partial_line_then_cont() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"progress 10%") == []
    assert splitter.flush() == [Piece("progress 10%")]
    assert splitter.flush() == []
    assert splitter.feed(b" done\nnext\n") == [Piece(" done", cont=True), Piece("next")]


def test_flush_after_partial_then_newline_adds_no_empty_line() -> None:
    splitter = LineSplitter()
    splitter.feed(b"abc")
    assert splitter.flush() == [Piece("abc")]
    assert splitter.feed(b"\n") == []
    assert splitter.feed(b"\n") == [Piece("")]


def test_flush_holds_back_cr_and_unfinished_character() -> None:
    splitter = LineSplitter()
    splitter.feed(b"a\r")
    assert splitter.flush() == [Piece("a")]
    assert splitter.feed(b"\n") == []
    splitter.feed(b"b\xe2\x82")
    assert splitter.flush() == [Piece("b")]
    assert splitter.feed(b"\xac\n") == [Piece("\u20ac", cont=True)]


def test_max_line_too_small_refused() -> None:
    with pytest.raises(ValueError):
        LineSplitter(3)


def test_utf8_boundary() -> None:
    data = "a\u20ac".encode()  # 61 e2 82 ac
    assert utf8_boundary(data, 2) == 1
    assert utf8_boundary(data, 3) == 1
    assert utf8_boundary(data, 1) == 1
    assert utf8_boundary(data, 10) == 10
    assert utf8_boundary(b"\x80\x80\x80\x80\x80", 4) == 4  # invalid: cut where asked


# -- properties -------------------------------------------------------------------------

TOKENS = [
    b"a",
    b"bc",
    b"\n",
    b"\r",
    b"\r\n",
    "\u20ac".encode(),
    "\U0001f600".encode(),
    "\u00e9".encode(),
    b"\xff",
    b"\x80",
    b"\xe2",
    b"\xf0\x9f",
    b"\xed\xa0\x80",  # an encoded surrogate: invalid
]

data_st = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from(TOKENS), max_size=80).map(b"".join),
)
max_line_st = st.integers(min_value=4, max_value=24)
FAST = settings(max_examples=300, deadline=None)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(data_st)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


@FAST
@given(chunked(), max_line_st)
def test_any_chunking_gives_the_same_pieces(case: tuple[bytes, list[bytes]], max_line: int) -> None:
    data, chunks = case
    assert feed_chunks(chunks, max_line) == feed_all(data, max_line)


@FAST
@given(chunked(), max_line_st, st.lists(st.booleans(), max_size=14))
def test_flushes_keep_the_logical_lines(
    case: tuple[bytes, list[bytes]], max_line: int, flushes: list[bool]
) -> None:
    data, chunks = case
    splitter = LineSplitter(max_line)
    pieces: list[Piece] = []
    for i, chunk in enumerate(chunks):
        pieces += splitter.feed(chunk)
        if i < len(flushes) and flushes[i]:
            pieces += splitter.flush()
    pieces += splitter.feed_eof()
    assert logical(pieces) == logical(feed_all(data, max_line))


@FAST
@given(chunked(), max_line_st, st.lists(st.booleans(), max_size=14))
def test_arbitrary_bytes_never_raise_and_pieces_fit(
    case: tuple[bytes, list[bytes]], max_line: int, flushes: list[bool]
) -> None:
    _, chunks = case
    splitter = LineSplitter(max_line)
    pieces: list[Piece] = []
    for i, chunk in enumerate(chunks):
        pieces += splitter.feed(chunk)
        assert splitter.pending <= max_line
        if i < len(flushes) and flushes[i]:
            pieces += splitter.flush()
    pieces += splitter.feed_eof()
    for piece in pieces:
        assert len(piece.text.encode("utf-8")) <= max_line, piece
        assert "\n" not in piece.text
    assert splitter.pending == 0


@FAST
@given(
    st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)
    )
)
def test_valid_text_lines_round_trip(lines: list[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    assert [p.text for p in feed_all(data)] == lines
