"""The engine's multiplexed frames three ways (all at once, byte by byte, with
trailing data), the limits, and by property (random chunkings, garbage input)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.errors import FrameTooLarge, ProtocolError
from tailcast.protocol.engine_frames import HEADER_SIZE, Frame, FrameDecoder, encode_frame

FRAMES = [Frame("out", b"hello\n"), Frame("err", b"oops\n"), Frame("out", b""), Frame("out", b"x")]
WIRE = b"".join(encode_frame(1 if f.fd == "out" else 2, f.data) for f in FRAMES)


def decode(chunks: Sequence[bytes], *, raw: bool = False, max_frame: int = 1 << 20) -> list[Frame]:
    dec = FrameDecoder(raw=raw, max_frame=max_frame)
    out: list[Frame] = []
    for chunk in chunks:
        dec.feed_data(chunk)
        out += dec.events()
    dec.feed_eof()
    return out + dec.events()


# -- frames ----------------------------------------------------------------------------


def test_frames_all_at_once() -> None:
    assert decode([WIRE]) == FRAMES


def test_frames_byte_by_byte() -> None:
    assert decode([WIRE[i : i + 1] for i in range(len(WIRE))]) == FRAMES


def test_frames_with_trailing_partial_frame() -> None:
    dec = FrameDecoder()
    dec.feed_data(WIRE + encode_frame(1, b"next line\n")[:11])
    assert dec.events() == FRAMES
    assert dec.in_frame
    dec.feed_data(encode_frame(1, b"next line\n")[11:])
    assert dec.events() == [Frame("out", b"next line\n")]
    assert not dec.in_frame


def test_stream_bytes_name_the_fd() -> None:
    wire = encode_frame(0, b"a") + encode_frame(1, b"b") + encode_frame(2, b"c")
    wire += encode_frame(3, b"d")
    assert [f.fd for f in decode([wire])] == ["out", "out", "err", "sys"]


def test_four_gigabyte_length_is_refused_from_the_header_alone() -> None:
    dec = FrameDecoder(max_frame=1 << 20)
    with pytest.raises(FrameTooLarge) as info:
        dec.feed_data(b"\x01\x00\x00\x00\xff\xff\xff\xff")
    assert info.value.length == 0xFFFFFFFF
    assert info.value.limit == 1 << 20
    assert not dec.in_frame  # nothing of it was buffered
    with pytest.raises(ProtocolError):
        dec.feed_data(b"more")


def test_length_at_the_limit_is_accepted_one_over_is_not() -> None:
    assert decode([encode_frame(1, b"a" * 100)], max_frame=100) == [Frame("out", b"a" * 100)]
    with pytest.raises(FrameTooLarge):
        decode([encode_frame(1, b"a" * 101)], max_frame=100)


@pytest.mark.parametrize(
    "header", [b"\x04\0\0\0\0\0\0\x01", b"\x01\x01\0\0\0\0\0\x01", b'{"messa', b"HTTP/1.1"]
)
def test_a_bad_header_is_a_protocol_error(header: bytes) -> None:
    with pytest.raises(ProtocolError, match="not a log frame header"):
        decode([header + b"x" * 8])


@pytest.mark.parametrize("cut", [3, HEADER_SIZE, HEADER_SIZE + 2])
def test_end_inside_a_frame_is_a_protocol_error(cut: int) -> None:
    dec = FrameDecoder()
    dec.feed_data(encode_frame(1, b"hello\n")[:cut])
    with pytest.raises(ProtocolError, match="ended inside a frame"):
        dec.feed_eof()


def test_raw_mode_passes_bytes_through() -> None:
    assert decode([b"ab", b"c\r\n"], raw=True) == [Frame("out", b"ab"), Frame("out", b"c\r\n")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0, 1, 2, 3]), st.binary(max_size=40)), max_size=12),
    st.lists(st.integers(min_value=1, max_value=50), max_size=30),
)
def test_any_chunking_gives_the_same_frames(
    frames: list[tuple[int, bytes]], sizes: list[int]
) -> None:
    wire = b"".join(encode_frame(fd, data) for fd, data in frames)
    assert decode(chunked(wire, sizes)) == decode([wire])
    assert [f.data for f in decode([wire])] == [data for _, data in frames]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_garbage_gives_frames_or_a_protocol_error(data: bytes, sizes: list[int]) -> None:
    try:
        frames = decode(chunked(data, sizes), max_frame=64)
    except ProtocolError:
        return
    assert all(len(f.data) <= 64 for f in frames)


def chunked(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    out, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        out.append(data[pos : pos + size])
        pos += size
    if pos < len(data):
        out.append(data[pos:])
    return out
