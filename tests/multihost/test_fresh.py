"""FreshLines: batches sliced from the hub's own lists, held only while the ring holds them."""

from __future__ import annotations

from tailcast.hub import Hub
from tailcast.multihost.fresh import FreshLines
from tailcast.protocol.lines import Piece


def publish(hub: Hub, fresh: FreshLines, stream_id: str, texts: list[str]) -> None:
    stream = hub.streams[stream_id]
    first = stream.last_seq + 1
    hub.publish(stream, [Piece(t) for t in texts])
    _, lines = stream.lines_after(first - 1)
    fresh.add(stream, first, lines)


def test_lines_after_any_point_in_a_row_and_up_to_a_limit() -> None:
    hub = Hub(100)
    stream = hub.add_stream("a", "file")
    fresh = FreshLines()
    for k in range(4):
        publish(hub, fresh, "a", [f"{k}-{i}" for i in range(5)])  # seqs 1..20
    _, kept = stream.lines_after(0)
    assert fresh.after(stream, 0, 1000) == kept
    assert fresh.after(stream, 7, 6) == kept[7:13]  # across two lists
    assert fresh.after(stream, 13, 1000) == kept[13:]  # the lists before are let go
    assert fresh.after(stream, 3, 1000) == []  # let go: the history has them
    assert fresh.after(stream, 20, 1000) == []


def test_lists_that_left_the_ring_are_let_go() -> None:
    hub = Hub(6)  # a memory ring of 6 lines
    stream = hub.add_stream("a", "file")
    fresh = FreshLines()
    for k in range(4):
        publish(hub, fresh, "a", [f"{k}-{i}" for i in range(3)])  # seqs 1..12
    assert fresh.after(stream, 0, 1000) == []  # 1..3 are gone from the ring
    _, kept = stream.lines_after(6)
    assert fresh.after(stream, 6, 1000) == kept


def test_a_new_stream_under_the_same_id_starts_afresh() -> None:
    hub = Hub(100)
    old = hub.add_stream("a", "file")
    fresh = FreshLines()
    publish(hub, fresh, "a", ["x", "y"])
    hub.remove_stream("a")
    fresh.forget("a")
    assert fresh.after(old, 0, 10) == []
    new = hub.add_stream("a", "file")
    publish(hub, fresh, "a", ["z"])
    assert fresh.after(old, 0, 10) == []  # not the stream the lists belong to
    assert len(fresh.after(new, 0, 10)) == 1
