"""Engine timestamps: with or without a fraction, with a zone offset, refused
when they are not one, and formatted back the way each engine writes them."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.errors import ProtocolError
from tailcast.protocol.engine_time import format_timestamp, parse_timestamp

NS = 1_000_000_000
T0 = calendar.timegm((2024, 5, 1, 10, 0, 0, 0, 0, 0)) * NS


# -- timestamps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"2024-05-01T10:00:00Z", T0),
        (b"2024-05-01T10:00:00.5Z", T0 + NS // 2),
        (b"2024-05-01T10:00:00.123456789Z", T0 + 123456789),
        (b"2024-05-01T12:00:00+02:00", T0),
        (b"2024-05-01T09:30:00.000000001-00:30", T0 + 1),
    ],
)
def test_timestamps_with_or_without_fraction(text: bytes, expected: int) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text", [b"2024-05-01 10:00:00Z", b"2024-13-01T10:00:00Z", b"yesterday", b"2024-05-01T10:00Z"]
)
def test_not_a_timestamp(text: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_timestamp(text)


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(st.integers(min_value=0, max_value=4_000_000_000 * NS), st.booleans())
def test_timestamp_round_trip(ts_ns: int, fraction: bool) -> None:
    text = format_timestamp(ts_ns, fraction=fraction)
    assert parse_timestamp(text) == (ts_ns if fraction else ts_ns - ts_ns % NS)
