"""One client's queue: bounded, and a stream that overflows it is read on from history.

The reader here is the test itself playing the sender (``tests/queues.py``):
``read_once`` is one slow step, ``take`` reads until nothing is left.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.client import SEND_BATCH_BYTES, Client
from tailcast.protocol.lines import Piece
from tests.queues import Seen, covered, make, publish, read_once, take

SMALL = 4096


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("publish"), st.integers(1, 200)),
            st.tuples(st.just("take"), st.integers(0, 3)),
            st.tuples(st.just("read"), st.integers(0, 3)),
            st.tuples(st.just("status"), st.integers(0, 1)),
        ),
        max_size=40,
    ),
    st.lists(st.integers(SMALL, 12_000), min_size=1, max_size=4),
    st.sampled_from([50, 10_000]),
)
def test_queues_never_lose_or_repeat_silently(
    ops: list[tuple[str, int]], queue_sizes: list[int], history: int
) -> None:
    """Lines received plus gap ranges cover every seq exactly once, in order;
    with a history larger than everything published, there is no gap at all."""
    hub, reg = make(history=history)
    stream = hub.add_stream("s", "stdin")
    clients: list[tuple[Client, Seen]] = []
    for size in queue_sizes:
        client = reg.connect()
        client.max_bytes = size
        reg.subscribe(client, ["s"], tail=0)
        clients.append((client, Seen()))
    for op, n in ops:
        if op == "publish":
            publish(hub, stream, n)
        elif op == "status":
            hub.set_state(stream, "live" if n else "waiting")
        else:
            client, seen = clients[n % len(clients)]
            (take if op == "take" else read_once)(client, seen)
        for client, _ in clients:
            assert client.queued_bytes <= client.max_bytes
    for client, seen in clients:
        assert not client.closed
        take(client, seen)
        assert covered(seen, "s") == list(range(1, stream.last_seq + 1))
        if stream.last_seq <= history:
            assert seen.gaps == []
    stats = reg.statistics()
    assert stats["readers_catching_up"] == 0
    if stream.last_seq <= history:
        assert (stats["gaps"], stats["lines_dropped"]) == (0, 0)


async def test_a_burst_of_100_queues_reaches_a_slow_reader_whole() -> None:
    hub, reg = make(history=50_000, queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    slow = reg.connect("slow")
    reg.subscribe(slow, ["s"], tail=0)
    publish(hub, stream, 12_000)  # one batch, ~490 KB: more than 100 queues' worth
    assert stream.bytes_in > 100 * SMALL
    assert reg.statistics()["readers_catching_up"] == 1
    seen = Seen()
    steps = 0
    while read_once(slow, seen).lines.get("s", [0])[-1] < stream.last_seq:
        steps += 1
        assert steps < 10_000
        assert slow.queued_bytes <= SMALL
        if steps % 10 == 0:
            publish(hub, stream, 3)  # live lines keep coming meanwhile
    assert seen.lines["s"] == list(range(1, stream.last_seq + 1))
    assert seen.gaps == []
    stats = reg.statistics()
    assert (stats["gaps"], stats["lines_dropped"]) == (0, 0)
    assert stats["lines_from_history"] == stream.last_seq
    assert stats["readers_catching_up"] == 0


async def test_a_cursor_that_left_the_history_gets_one_gap_then_the_rest() -> None:
    hub, reg = make(history=100, queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    publish(hub, stream, 20)
    seen = read_once(client)  # it has 1..20
    publish(hub, stream, 1000)  # does not fit; history keeps 921..1020 only
    take(client, seen)
    assert seen.gaps == [("s", 21, 920)]
    assert seen.lines["s"] == [*range(1, 21), *range(921, 1021)]
    assert [f["type"] for f in seen.frames].index("gap") < len(seen.frames) - 1
    stats = reg.statistics()
    assert (stats["gaps"], stats["lines_dropped"]) == (1, 900)


async def test_live_again_after_catching_up() -> None:
    hub, reg = make(history=10_000, queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    slow, fast = reg.connect(), reg.connect()
    reg.subscribe(slow, ["s"], tail=0)
    reg.subscribe(fast, ["s"], tail=0)
    publish(hub, stream, 2000)
    take(fast)
    assert "s" in slow.behind
    seen = take(slow)
    assert seen.lines["s"] == list(range(1, 2001))
    assert slow.behind == {}
    assert reg.statistics()["readers_catching_up"] == 0
    # Live: the next frame is the one shared with every subscriber, queued at once.
    publish(hub, stream, 3)
    assert [(i.kind, i.first, i.last) for i in slow.queue] == [("lines", 2001, 2003)]
    assert slow.queue[0].payload is fast.queue[0].payload
    assert take(slow).lines["s"] == [2001, 2002, 2003]


async def test_two_behind_streams_both_progress() -> None:
    hub, reg = make(history=10_000, queue_bytes=SMALL)
    a, b = hub.add_stream("a", "stdin"), hub.add_stream("b", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["a", "b"], tail=0)
    publish(hub, a, 3000)
    publish(hub, b, 3000)
    assert set(client.behind) == {"a", "b"}
    seen = Seen()
    for _ in range(6):
        read_once(client, seen)
    # Round-robin: both have come some way, neither is done.
    assert 0 < len(seen.lines["a"]) < 3000
    assert 0 < len(seen.lines["b"]) < 3000
    assert abs(len(seen.lines["a"]) - len(seen.lines["b"])) <= 2 * SMALL // 40
    take(client, seen)
    assert seen.lines == {"a": list(range(1, 3001)), "b": list(range(1, 3001))}
    assert seen.gaps == []


async def test_a_fast_client_is_not_held_back_by_a_slow_one() -> None:
    hub, reg = make(history=100_000, queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    slow, fast = reg.connect("slow"), reg.connect("fast")
    fast.max_bytes = 1 << 20
    reg.subscribe(slow, ["s"], tail=0)
    reg.subscribe(fast, ["s"], tail=0)
    fast_seen = Seen()
    for _ in range(200):
        publish(hub, stream, 20)
        # Each publish is in the fast client's queue at once, as one live frame.
        assert [(i.first, i.last) for i in fast.queue] == [(stream.last_seq - 19, stream.last_seq)]
        take(fast, fast_seen)
        assert slow.queued_bytes <= SMALL
    assert fast_seen.lines["s"] == list(range(1, 4001))
    assert "s" in slow.behind
    assert take(slow).lines["s"] == list(range(1, 4001))


async def test_a_line_larger_than_the_whole_queue_still_arrives_alone() -> None:
    hub, reg = make(queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    client = reg.connect("tiny")
    reg.subscribe(client, ["s"], tail=0)
    publish(hub, stream, 1)
    hub.publish(stream, [Piece("x" * 5000)])
    publish(hub, stream, 1)
    seen = Seen()
    for item in client.take_batch():
        seen.items.append(item)
    assert [(i.kind, i.first, i.last) for i in seen.items] == [("lines", 1, 1)]
    # Alone: over the bound by less than the line, never more.
    second = client.take_batch()
    assert [(i.kind, i.first, i.last) for i in second] == [("lines", 2, 2)]
    assert b"x" * 5000 in second[0].payload
    assert [(i.kind, i.first, i.last) for i in client.take_batch()] == [("lines", 3, 3)]
    assert reg.statistics()["gaps"] == 0


async def test_a_control_frame_sends_queued_lines_back_to_history() -> None:
    hub, reg = make(history=10_000, queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    while client.queued_bytes < SMALL - 200:
        publish(hub, stream, 1)  # live frames, filling the queue
    hub.set_state(stream, "live", message="m" * 400)  # does not fit as it is
    assert [i.kind for i in client.queue] == ["status"]
    assert "s" in client.behind
    seen = take(client)
    assert seen.frames[0]["type"] == "status"
    assert seen.lines["s"] == list(range(1, stream.last_seq + 1))
    assert seen.gaps == []


async def test_a_queue_full_of_control_frames_closes_the_client() -> None:
    hub, reg = make(queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    for n in range(200):
        hub.set_state(stream, "live", message=f"{n}")
    assert client.closed
    assert client.close_reason == "too slow: queue full of control frames"
    assert client.queued_bytes <= SMALL


async def test_a_closed_client_stops_catching_up() -> None:
    hub, reg = make(queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    publish(hub, stream, 500)
    client.close("bye")
    assert client.take_batch() == []
    assert await client.next_batch() == []


async def test_next_batch_waits_and_returns_empty_once_closed() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    publish(hub, stream, 2)
    batch = await client.next_batch()
    assert [item.kind for item in batch] == ["lines"]
    assert client.queued_bytes == 0
    client.close("bye")
    assert await client.next_batch() == []
    assert client.close_reason == "bye"


async def test_next_batch_wakes_when_a_frame_too_large_for_the_queue_arrives() -> None:
    hub, reg = make(history=10_000, queue_bytes=SMALL)
    stream = hub.add_stream("s", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    assert client.take_batch() == []
    waiting = asyncio.ensure_future(client.next_batch())
    await asyncio.sleep(0)  # one turn of the loop: it runs up to its wait (not a delay)
    assert not waiting.done()
    publish(hub, stream, 1000)  # queues nothing: the stream goes behind
    batch = await asyncio.wait_for(waiting, 5)
    assert batch[0].first == 1
    assert sum(len(i.payload) for i in batch) <= min(SMALL, SEND_BATCH_BYTES)
