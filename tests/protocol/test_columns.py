"""Lines as columns: the same bytes as the general path, from the stamps' digits."""

from __future__ import annotations

from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.protocol import wire
from tailcast.protocol.columns import Columns, encode_columns

# Typed as the Unicode category it names (a bare ("Cs",) is inferred as tuple[str]).
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)

_MICROS = st.integers(10**15, 8 * 10**15 - 1).flatmap(
    lambda m: st.sampled_from([m, m - m % 10, m - m % 1_000_000, m - m % 100_000])
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=_SURROGATES)),
            _MICROS,
            st.sampled_from([("error", False), ("info", True), ("warn", False)]),
        ),
        max_size=10,
    ),
    st.integers(1, 2**40),
)
def test_encode_columns_gives_the_bytes_of_encode_entries(
    items: list[tuple[str, int, tuple[str, bool]]], first: int
) -> None:
    """Texts with anything JSON escapes, whole seconds, trailing zeros: the same bytes."""
    columns = Columns(
        [text for text, _, _ in items],
        [mark[0] for _, _, mark in items],
        [str(m) for _, m, _ in items],
    )
    marks = [mark for _, _, mark in items]
    entries = columns.entries()
    assert [e[0] for e in entries] == [m / 1e6 for _, m, _ in items]
    assert columns.stamps() == [wire.format_ts(m / 1e6) for _, m, _ in items]
    assert encode_columns(first, columns, marks) == wire.encode_entries(first, entries, marks)
