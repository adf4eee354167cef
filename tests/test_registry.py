"""The client registry: replay-then-live, resume, subscriptions, fan-out, statistics.

How one client's queue overflows into catch-up from history: tests/test_client.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.client import Client
from tailcast.errors import TooManyClients
from tests.queues import Seen, make, publish, read_once, take


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
    assert stats["readers_catching_up"] == 0
    assert stats["lines_from_history"] == 0  # tail=0: everything came live
    reg.disconnect(c2)
    assert reg.statistics()["subscriptions"] == {"a": 1}


async def test_a_long_replay_is_read_from_history_in_bounded_chunks() -> None:
    hub, reg = make(history=50_000, queue_bytes=8192)
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 20_000)
    client = reg.connect()
    reg.subscribe(client, ["s"], since={"s": 0})
    # Only a first chunk is queued by the subscribe; the rest as the client reads.
    assert 0 < client.queued_bytes <= 8192
    assert reg.statistics()["readers_catching_up"] == 1
    publish(hub, stream, 5)
    seen = read_once(client)
    assert seen.lines["s"][0] == 1
    take(client, seen)
    assert seen.lines["s"] == list(range(1, 20_006))
    stats = reg.statistics()
    assert stats["lines_from_history"] == 20_005
    assert stats["readers_catching_up"] == 0
    assert stats["gaps"] == 0


async def test_a_tail_longer_than_the_history_is_no_gap() -> None:
    hub, reg = make(history=10)
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 25)
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=100)
    seen = take(client)
    assert seen.lines["s"] == list(range(16, 26))
    assert seen.gaps == []


async def test_a_history_that_restarts_is_a_gap_for_live_clients() -> None:
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 3)
    client = reg.connect()
    reg.subscribe(client, ["s"], tail=0)
    # Numbered elsewhere (a mirror): lines 4..9 never came.
    hub.publish_numbered(stream, 10, [json.dumps({"seq": 10, "text": "x"}).encode()])
    frames = [json.loads(i.payload) for i in client.take_batch()]
    assert frames[0] == {"type": "gap", "stream": "s", "from": 4, "to": 9}
    assert [line["seq"] for line in frames[1]["lines"]] == [10]
    assert (reg.statistics()["gaps"], reg.statistics()["lines_dropped"]) == (1, 6)


# -- subscriptions by id survive a stream leaving and coming back (contract 1.1) ----


async def test_a_stream_subscribed_by_id_that_comes_back_is_followed_again() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    publish(hub, a, 5)
    client = reg.connect()
    reg.subscribe(client, ["a"], tail=5)
    assert take(client).lines["a"] == [1, 2, 3, 4, 5]
    hub.remove_stream("a")
    assert "a" in client.wanted
    # Back with the same epoch (a store keeps it): on from the cursor.
    back = hub.adopt_stream("a", "a", "stdin", a.epoch, {}, first_seq=1, lines=a.lines_after(0)[1])
    publish(hub, back, 3)
    seen = take(client)
    assert seen.frames[0]["type"] == "streams"
    assert seen.lines["a"] == [6, 7, 8]
    assert seen.gaps == []
    assert client.wanted == {}


async def test_a_stream_back_in_a_new_epoch_is_replayed_from_its_start() -> None:
    hub, reg = make()
    a = hub.add_stream("a", "stdin")
    publish(hub, a, 50)
    client = reg.connect()
    reg.subscribe(client, ["a"], tail=0)
    publish(hub, a, 2)
    assert take(client).lines["a"] == [51, 52]
    hub.remove_stream("a")
    fresh = hub.add_stream("a", "stdin")
    assert fresh.id == "a" and fresh.epoch != a.epoch
    publish(hub, fresh, 4)
    seen = take(client)
    types = [f["type"] for f in seen.frames]
    assert types.index("streams") < types.index("lines")
    assert seen.lines["a"] == [1, 2, 3, 4]
    assert seen.gaps == []


async def test_wanted_ends_with_unsubscribe_and_disconnect() -> None:
    hub, reg = make()
    hub.add_stream("a", "stdin")
    hub.add_stream("b", "stdin")
    named, wild, gone = reg.connect(), reg.connect(), reg.connect()
    reg.subscribe(named, ["a", "b"], tail=0)
    reg.subscribe(wild, ["*"], tail=0)
    reg.subscribe(gone, ["a"], tail=0)
    hub.remove_stream("a")
    hub.remove_stream("b")
    assert set(named.wanted) == {"a", "b"}
    assert set(wild.wanted) == {"a", "b"}
    reg.unsubscribe(named, ["b"])
    reg.disconnect(gone)
    assert set(named.wanted) == {"a"}
    b = hub.add_stream("b", "stdin")
    a = hub.add_stream("a", "stdin")
    publish(hub, a, 1)
    publish(hub, b, 1)
    assert take(named).lines == {"a": [1]}
    assert take(wild).lines == {"a": [1], "b": [1]}
    assert take(gone).lines == {}
    assert reg.statistics()["subscriptions"] == {"a": 2, "b": 1}


async def test_lines_returned_to_history_while_away_are_read_again() -> None:
    hub, reg = make(queue_bytes=4096)
    a = hub.add_stream("a", "stdin")
    client = reg.connect()
    reg.subscribe(client, ["a"], tail=0)
    publish(hub, a, 20)  # queued, not yet sent
    hub.remove_stream("a")
    epoch, cursor = client.wanted["a"]
    assert cursor == 21
    # A control frame that does not fit takes the queued lines back out.
    assert client.queued_bytes > 500
    client.send_error("x" * (4096 - client.queued_bytes))
    assert client.wanted["a"] == (epoch, 1)
    assert [f["type"] for f in read_once(client).frames] == ["streams", "error"]
    back = hub.adopt_stream("a", "a", "stdin", epoch, {}, first_seq=1, lines=a.lines_after(0)[1])
    assert back.last_seq == 20
    assert take(client).lines["a"] == list(range(1, 21))


async def test_a_wildcard_gets_a_replaced_stream_from_its_start_and_wanted_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tailcast import registry

    monkeypatch.setattr(registry, "MAX_WANTED", 3)
    hub, reg = make()
    client = reg.connect()
    for name in "abcde":
        hub.add_stream(name, "stdin")
    reg.subscribe(client, ["*"], tail=0)
    old = hub.streams["a"]
    hub.remove_stream("a")
    # Replaced by a new epoch that has lines already (a mirror adopting it).
    elsewhere, _ = make()
    agent_side = elsewhere.add_stream("a", "stdin")
    publish(elsewhere, agent_side, 3)
    lines = agent_side.lines_after(0)[1]
    fresh = hub.adopt_stream("a", "a", "stdin", "other", {}, first_seq=1, lines=lines)
    assert fresh.epoch != old.epoch
    assert take(client).lines == {"a": [1, 2, 3]}
    for name in "bcde":
        hub.remove_stream(name)
    assert list(client.wanted) == ["c", "d", "e"]
    assert set(reg._wanted) == {"c", "d", "e"}


async def test_a_resume_ahead_of_a_mirrored_stream_waits_for_the_lines_after_it() -> None:
    """A client moving from a web node ahead of this one: nothing it had is sent again."""
    hub, reg = make()
    lines = [json.dumps({"seq": n, "text": f"{n:010d}"}).encode() for n in range(1, 11)]
    stream = hub.adopt_stream("m", "m", "stdin", "e-1", {}, first_seq=1, lines=lines)
    client = reg.connect()
    reg.subscribe(client, ["m"], since={"m": 15})  # it had 1..15 from the other node
    assert take(client).lines.get("m", []) == []
    more = [json.dumps({"seq": n, "text": f"{n:010d}"}).encode() for n in range(11, 21)]
    hub.publish_numbered(stream, 11, more)
    seen = take(client)
    assert seen.lines["m"] == [16, 17, 18, 19, 20]
    assert seen.gaps == []


async def test_a_resume_ahead_of_a_local_stream_is_clamped_to_its_end() -> None:
    """Numbered here: a ``since`` past the end is not one of this stream's positions."""
    hub, reg = make()
    stream = hub.add_stream("s", "stdin")
    publish(hub, stream, 10)
    client = reg.connect()
    reg.subscribe(client, ["s"], since={"s": 15})
    publish(hub, stream, 3)
    assert take(client).lines["s"] == [11, 12, 13]
