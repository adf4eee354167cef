"""The client registry: replay-then-live, resume, bounded queues and gaps, fan-out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.errors import TooManyClients
from tailcast.hub import Hub, Stream
from tailcast.protocol.lines import Piece
from tailcast.registry import Client, Outgoing, Registry


def publish(hub: Hub, stream: Stream, count: int, width: int = 10) -> None:
    start = stream.last_seq + 1
    hub.publish(stream, [Piece(f"{n:0{width}d}") for n in range(start, start + count)], ts=1.0)


@dataclass
class Seen:
    """What one client received, frame by frame, decoded."""

    lines: dict[str, list[int]] = field(default_factory=dict)
    gaps: list[tuple[str, int, int]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    items: list[Outgoing] = field(default_factory=list)


def take(client: Client, seen: Seen | None = None) -> Seen:
    """Everything queued for ``client`` right now (without waiting), checked and decoded."""
    seen = seen or Seen()
    batch = list(client.queue)
    client.queue.clear()
    client.queued_bytes = 0
    for item in batch:
        frame = json.loads(item.payload)
        seen.items.append(item)
        seen.frames.append(frame)
        if frame["type"] == "lines":
            seqs = [line["seq"] for line in frame["lines"]]
            # The queue item's bookkeeping matches the frame it carries.
            assert (item.first, item.last) == (seqs[0], seqs[-1])
            assert seqs == list(range(seqs[0], seqs[-1] + 1))
            assert all(line["text"] == f"{line['seq']:010d}" for line in frame["lines"])
            seen.lines.setdefault(frame["stream"], []).extend(seqs)
        elif frame["type"] == "gap":
            seen.gaps.append((frame["stream"], frame["from"], frame["to"]))
    return seen


def make(history: int = 1000, queue_bytes: int = 1 << 20, **kw: Any) -> tuple[Hub, Registry]:
    hub = Hub(history)
    return hub, Registry(hub, queue_bytes=queue_bytes, **kw)


async def test_replay_then_live_without_loss_or_repeat() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 30)
    client = reg.connect("t")
    assert reg.subscribe(client, ["s"], tail=10) == []
    publish(hub, stream, 5)
    publish(hub, stream, 1)
    seen = take(client)
    assert seen.lines["s"] == list(range(21, 37))
    assert seen.gaps == []


async def test_default_tail_is_100_and_tail_zero_is_live_only() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 150)
    a, b = reg.connect(), reg.connect()
    reg.subscribe(a, ["s"])
    reg.subscribe(b, ["s"], tail=0)
    publish(hub, stream, 2)
    assert take(a).lines["s"] == list(range(51, 153))
    assert take(b).lines["s"] == [151, 152]


async def test_subscribe_twice_never_repeats() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 5)
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=5)
    reg.subscribe(client, ["s"], tail=5)
    reg.subscribe(client, ["s"], since={"s": 0})
    publish(hub, stream, 1)
    assert take(client).lines["s"] == [1, 2, 3, 4, 5, 6]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("publish"), st.integers(1, 40)),
            st.tuples(st.just("tail"), st.integers(0, 120)),
            st.tuples(st.just("since"), st.integers(0, 200)),
            st.tuples(st.just("take"), st.integers(0, 5)),
        ),
        max_size=30,
    )
)
def test_publishes_interleaved_with_subscribes(ops: list[tuple[str, int]]) -> None:
    """Whenever a client subscribes, it gets one contiguous run up to the newest line."""
    hub, reg = make(history=50)
    stream = hub.add_stream("s", "stdin")
    clients: list[tuple[Client, Seen, int]] = []  # client, seen, first seq it should get
    for op, n in ops:
        if op == "publish":
            publish(hub, stream, n)
        elif op == "take":
            if clients:
                client, seen, _ = clients[n % len(clients)]
                take(client, seen)
        else:
            client = reg.connect()
            if op == "tail":
                reg.subscribe(client, ["s"], tail=n)
                first = max(stream.last_seq - n, 0) + 1
                first = max(first, stream.first_seq)
            else:
                reg.subscribe(client, ["s"], since={"s": n})
                first = min(n, stream.last_seq) + 1
            clients.append((client, Seen(), first))
    for client, seen, first in clients:
        take(client, seen)
        got = seen.lines.get("s", [])
        live_from = first
        if seen.gaps:
            # Only a resume from before the ring starts with a gap; it comes first.
            assert seen.frames[0]["type"] == "gap"
            ((_, gap_from, gap_to),) = seen.gaps
            assert gap_from == first
            live_from = gap_to + 1
        assert got == list(range(live_from, stream.last_seq + 1))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("publish"), st.integers(1, 60)),
            st.tuples(st.just("take"), st.integers(0, 3)),
            st.tuples(st.just("status"), st.integers(0, 1)),
        ),
        max_size=40,
    ),
    st.lists(st.integers(4096, 12_000), min_size=1, max_size=4),
)
def test_overflow_never_loses_or_repeats_silently(
    ops: list[tuple[str, int]], queue_sizes: list[int]
) -> None:
    """Lines received plus gap ranges cover every seq exactly once, in order."""
    hub, reg = make(history=10_000)
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
            take(client, seen)
        for client, _ in clients:
            assert client.queued_bytes <= client.max_bytes
    for client, seen in clients:
        if client.closed:
            continue  # closed as hopelessly behind: the transport says so
        take(client, seen)
        covered: list[int] = []
        for frame in seen.frames:
            if frame["type"] == "gap":
                covered.extend(range(frame["from"], frame["to"] + 1))
            elif frame["type"] == "lines":
                covered.extend(line["seq"] for line in frame["lines"])
        assert covered == list(range(1, stream.last_seq + 1))


async def test_since_before_the_ring_gives_a_gap_first() -> None:
    hub, reg = make(history=10)
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 25)  # ring: 16..25
    client = reg.connect()
    reg.subscribe(client, ["s"], since={"s": 5})
    publish(hub, stream, 1)
    seen = take(client)
    assert seen.frames[0] == {"type": "gap", "stream": "s", "from": 6, "to": 15}
    assert seen.lines["s"] == list(range(16, 27))


async def test_since_in_the_ring_and_since_ahead() -> None:
    hub, reg = make(history=10)
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 25)
    a, b = reg.connect(), reg.connect()
    reg.subscribe(a, ["s"], since={"s": 20})
    reg.subscribe(b, ["s"], since={"s": 999})  # from another epoch: nothing to replay
    publish(hub, stream, 2)
    seen_a, seen_b = take(a), take(b)
    assert seen_a.lines["s"] == [21, 22, 23, 24, 25, 26, 27]
    assert seen_a.gaps == []
    assert seen_b.lines["s"] == [26, 27]
    assert seen_b.gaps == []


async def test_overflow_gives_a_gap_then_the_newest_lines_others_get_everything() -> None:
    hub, reg = make(history=10_000)
    stream = hub.add_stream("s", "stdin")
    fast = reg.connect("fast")
    slow = reg.connect("slow")
    slow.max_bytes = 4096  # a small queue for this client only
    reg.subscribe(fast, ["s"], tail=0)
    reg.subscribe(slow, ["s"], tail=0)
    fast_seen = Seen()
    for _ in range(40):
        publish(hub, stream, 10)  # ~500 bytes per frame
        take(fast, fast_seen)
        assert slow.queued_bytes <= 4096
    publish(hub, stream, 3)
    take(fast, fast_seen)
    assert fast_seen.lines["s"] == list(range(1, 404))
    assert fast_seen.gaps == []

    seen = take(slow)
    assert seen.gaps, "an overflowing client must be told"
    # Everything is accounted for: lines received + gap ranges = 1..403, in order.
    covered: list[int] = []
    for frame in seen.frames:
        if frame["type"] == "gap":
            covered.extend(range(frame["from"], frame["to"] + 1))
        elif frame["type"] == "lines":
            covered.extend(line["seq"] for line in frame["lines"])
    assert covered == list(range(1, 404))
    # ... and it goes on from the newest lines.
    assert seen.lines["s"][-1] == 403
    assert seen.frames[-1]["type"] == "lines"
    assert slow.lines_dropped > 0
    assert slow.gaps > 0
    stats = reg.statistics()
    assert stats["lines_dropped"] == slow.lines_dropped
    assert stats["gaps"] == slow.gaps


async def test_a_frame_larger_than_the_whole_queue_is_a_gap() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    client = reg.connect("tiny")
    client.max_bytes = 4096
    reg.subscribe(client, ["s"], tail=0)
    hub.publish(stream, [Piece("x" * 5000)])
    publish(hub, stream, 1)
    seen = take(client)
    assert seen.gaps == [("s", 1, 1)]
    assert seen.lines["s"] == [2]


async def test_one_encoding_shared_by_all_subscribers() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    clients = [reg.connect() for _ in range(5)]
    for client in clients:
        reg.subscribe(client, ["s"], tail=0)
    publish(hub, stream, 3)
    payloads = [client.queue[-1].payload for client in clients]
    assert all(p is payloads[0] for p in payloads)
    assert json.loads(payloads[0])["lines"][0]["seq"] == 1


async def test_wildcard_picks_up_streams_added_later() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    publish(hub, a, 3)
    client = reg.connect()
    assert reg.subscribe(client, ["*"], tail=1) == []
    b = hub.add_stream("b", "file")
    publish(hub, b, 2)
    publish(hub, a, 1)
    seen = take(client)
    assert seen.lines == {"a": [3, 4], "b": [1, 2]}
    streams_frames = [f for f in seen.frames if f["type"] == "streams"]
    assert [s["id"] for s in streams_frames[0]["streams"]] == ["a", "b"]
    # The streams frame comes before the new stream's first lines.
    kinds = [(f["type"], f.get("stream")) for f in seen.frames]
    assert kinds.index(("streams", None)) < kinds.index(("lines", "b"))


async def test_unsubscribe_stops_delivery() -> None:
    hub, reg = make()
    a, b = hub.add_stream("a", "stdin"), hub.add_stream("b", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["a", "b"], tail=0)
    publish(hub, a, 1)
    reg.unsubscribe(client, ["a"])
    publish(hub, a, 1)
    publish(hub, b, 1)
    assert take(client).lines == {"a": [1], "b": [1]}
    reg.unsubscribe(client, ["*"])
    publish(hub, b, 1)
    hub.add_stream("c", "stdin")
    assert take(client).lines == {}
    # Subscribing again after an unsubscribe replays as asked.
    reg.subscribe(client, ["a"], tail=1)
    assert take(client).lines == {"a": [2]}


async def test_wildcard_unsubscribe_stops_new_streams_too() -> None:
    hub, reg = make()
    client = reg.connect()
    reg.subscribe(client, ["*"])
    reg.unsubscribe(client, ["*"])
    c = hub.add_stream("c", "stdin")
    publish(hub, c, 1)
    assert take(client).lines == {}


async def test_unknown_stream_subscribes_nothing() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    client = reg.connect()
    assert reg.subscribe(client, ["a", "nope"]) == ["nope"]
    publish(hub, a, 1)
    assert take(client).lines == {}


async def test_status_to_subscribers_streams_to_everyone() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    sub, other = reg.connect(), reg.connect()
    reg.subscribe(sub, ["a"], tail=0)
    hub.set_state(a, "live")
    hub.add_stream("b", "stdin")
    sub_frames = [f["type"] for f in take(sub).frames]
    other_frames = [f["type"] for f in take(other).frames]
    assert sub_frames == ["status", "streams"]
    assert other_frames == ["streams"]


async def test_removed_stream_stops_delivery() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["a"], tail=0)
    hub.remove_stream("a")
    publish(hub, a, 1)
    assert take(client).lines == {}
    assert "a" not in client.cursors


async def test_max_clients_and_disconnect() -> None:
    _, reg = make(max_clients=2)
    one, _two = reg.connect(), reg.connect()
    with pytest.raises(TooManyClients):
        reg.connect()
    reg.disconnect(one)
    assert one.closed
    reg.connect()
    assert reg.statistics()["clients"] == 2
    assert reg.statistics()["connects"] == 3


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


async def test_statistics() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    c1, c2 = reg.connect(), reg.connect()
    reg.subscribe(c1, ["a"], tail=0)
    reg.subscribe(c2, ["a"], tail=0)
    publish(hub, a, 4)
    stats = reg.statistics()
    assert stats["clients"] == 2
    assert stats["subscriptions"] == {"a": 2}
    assert stats["queued_frames"] == 2
    assert stats["queued_bytes"] == sum(len(i.payload) for i in (*c1.queue, *c2.queue))
    for item in await c1.next_batch():
        reg.sent(c1, item)
    stats = reg.statistics()
    assert stats["lines_out"] == {"a": 4}
    assert stats["queued_frames"] == 1
    assert stats["lines_dropped"] == 0
    assert stats["gaps"] == 0
    reg.disconnect(c2)
    assert reg.statistics()["subscriptions"] == {"a": 1}
