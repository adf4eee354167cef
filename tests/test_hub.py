"""The hub: sequence numbers, the history ring, stream ids, epochs, states."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from tailcast.hub import Hub, Stream, decode_line
from tailcast.protocol import wire
from tailcast.protocol.columns import Columns
from tailcast.protocol.lines import Piece
from tailcast.protocol.redact import Redactor
from tailcast.protocol.wire import slugify


class Recorder:
    """A HubListener that keeps what it heard."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, int, list[bytes]]] = []
        self.status: list[dict[str, Any]] = []
        self.streams: list[tuple[list[str], list[str]]] = []

    def on_lines(self, stream: Stream, first_seq: int, lines: Sequence[bytes]) -> None:
        self.lines.append((stream.id, first_seq, list(lines)))

    def on_status(self, stream: Stream, frame: bytes) -> None:
        self.status.append(json.loads(frame))

    def on_streams(self, added: Sequence[Stream], removed: Sequence[Stream]) -> None:
        self.streams.append(([s.id for s in added], [s.id for s in removed]))


def publish_texts(hub: Hub, stream: Stream, texts: Sequence[str]) -> None:
    hub.publish(stream, [Piece(t) for t in texts], ts=1.0)


def ring(stream: Stream) -> list[dict[str, Any]]:
    return [decode_line(b) for b in stream.ring]


def test_seq_contiguous_from_one_across_publishes() -> None:
    hub = Hub(100)
    stream = hub.add_stream("app", "stdin")
    publish_texts(hub, stream, ["a", "b"])
    hub.publish(stream, [Piece("c"), Piece("d", cont=True)], fd="err", ts=2.5)
    hub.publish_lines(stream, [(3.0, "e", "out", False)])
    hub.publish(stream, [])  # nothing: no seq used
    lines = ring(stream)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [line["text"] for line in lines] == ["a", "b", "c", "d", "e"]
    assert lines[3] == {"seq": 4, "ts": 2.5, "text": "d", "fd": "err", "cont": True}
    assert lines[4]["fd"] == "out"
    assert stream.last_seq == 5
    assert stream.first_seq == 1


def test_publish_uses_the_clock_when_no_ts() -> None:
    hub = Hub(10, clock=lambda: 1234.5)
    stream = hub.add_stream("x", "stdin")
    hub.publish(stream, [Piece("t")])
    assert ring(stream)[0]["ts"] == 1234.5


@pytest.mark.parametrize("history", [1, 3, 10])
def test_ring_holds_exactly_history_newest_lines(history: int) -> None:
    hub = Hub(history)
    stream = hub.add_stream("s", "stdin")
    assert stream.first_seq == 1
    assert stream.last_seq == 0
    for batch in range(7):
        publish_texts(hub, stream, [f"{batch}-{i}" for i in range(3)])
    assert stream.last_seq == 21
    assert len(stream.ring) == history
    assert stream.first_seq == 21 - history + 1
    assert [line["seq"] for line in ring(stream)] == list(range(22 - history, 22))
    info = stream.info()
    assert (info["first_seq"], info["last_seq"]) == (22 - history, 21)


def test_lines_after_and_newest() -> None:
    hub = Hub(5)
    stream = hub.add_stream("s", "stdin")
    publish_texts(hub, stream, [str(i) for i in range(1, 9)])  # ring: 4..8
    first, lines = stream.lines_after(0)
    assert first == 4
    assert [decode_line(b)["seq"] for b in lines] == [4, 5, 6, 7, 8]
    first, lines = stream.lines_after(5, limit=2)
    assert first == 6
    assert [decode_line(b)["seq"] for b in lines] == [6, 7]
    assert stream.lines_after(8)[1] == []
    assert stream.lines_after(100)[1] == []
    _, lines = stream.newest(2)
    assert [decode_line(b)["seq"] for b in lines] == [7, 8]
    _, lines = stream.newest(50)
    assert len(lines) == 5


def test_history_must_hold_a_line() -> None:
    with pytest.raises(ValueError):
        Hub(0)


def test_ids_are_slugs_unique_and_stable() -> None:
    names = ["App Log", "app-log", "/var/log/Sys.log", "..weird__Name!!", "", "ÄÖ", "app log"]
    ids_a = [Hub(10).add_stream(n, "file").id for n in names]  # one hub per name: no clash
    hub = Hub(10)
    ids_b = [hub.add_stream(n, "file").id for n in names]
    again = Hub(10)
    ids_c = [again.add_stream(n, "file").id for n in names]
    assert ids_b == ids_c  # stable for the same configuration
    assert len(set(ids_b)) == len(ids_b)
    for stream_id in ids_a + ids_b:
        assert wire.STREAM_ID_RE.match(stream_id), stream_id
    assert ids_b[0] == "app-log"
    assert ids_b[1] == "app-log-2"
    assert ids_b[6] == "app-log-3"
    assert slugify("/var/log/Sys.log") == "var-log-sys.log"
    assert set(hub.streams) == set(ids_b)


def test_epoch_differs_between_hubs_and_info_is_complete() -> None:
    one = Hub(10).add_stream("s", "process", argv=["echo", "x"])
    two = Hub(10).add_stream("s", "process", argv=["echo", "x"])
    assert one.epoch != two.epoch
    info = one.info()
    assert info == {
        "id": "s",
        "name": "s",
        "kind": "process",
        "state": "waiting",
        "epoch": one.epoch,
        "first_seq": 1,
        "last_seq": 0,
        "argv": ["echo", "x"],
    }


def test_set_state_announces_changes_only() -> None:
    hub = Hub(10)
    rec = Recorder()
    hub.listener = rec
    stream = hub.add_stream("p", "process")
    hub.set_state(stream, "waiting")  # already waiting: not news
    hub.set_state(stream, "live")
    hub.set_state(stream, "live")
    hub.set_state(stream, "exited", exit_code=1)
    hub.set_state(stream, "exited", exit_code=1)
    hub.set_state(stream, "exited", exit_code=2)
    hub.set_state(stream, "error", message="boom", signal=None)
    assert rec.status == [
        {"type": "status", "stream": "p", "state": "live"},
        {"type": "status", "stream": "p", "state": "exited", "exit_code": 1},
        {"type": "status", "stream": "p", "state": "exited", "exit_code": 2},
        {"type": "status", "stream": "p", "state": "error", "message": "boom"},
    ]
    assert stream.info()["message"] == "boom"
    with pytest.raises(ValueError):
        hub.set_state(stream, "dancing")


def test_events_are_always_announced() -> None:
    hub = Hub(10)
    rec = Recorder()
    hub.listener = rec
    stream = hub.add_stream("f", "file")
    hub.set_state(stream, "live")
    hub.event(stream, "truncated")
    hub.event(stream, "truncated")
    hub.event(stream, "rotated")
    assert [s.get("event") for s in rec.status] == [None, "truncated", "truncated", "rotated"]
    assert all(s["state"] == "live" for s in rec.status)
    with pytest.raises(ValueError):
        hub.event(stream, "exploded")


def test_listener_hears_lines_once_per_batch_and_stream_changes() -> None:
    hub = Hub(10)
    rec = Recorder()
    hub.listener = rec
    a = hub.add_stream("a", "stdin")
    b = hub.add_stream("b", "stdin")
    publish_texts(hub, a, ["1", "2"])
    publish_texts(hub, b, ["x"])
    publish_texts(hub, a, ["3"])
    assert [(sid, first, len(lines)) for sid, first, lines in rec.lines] == [
        ("a", 1, 2),
        ("b", 1, 1),
        ("a", 3, 1),
    ]
    # The listener gets the very bytes stored in the ring: encoded once.
    assert rec.lines[2][2][0] is a.ring[-1]
    hub.remove_stream("b")
    hub.remove_stream("nope")
    assert rec.streams == [(["a"], []), (["b"], []), ([], ["b"])]
    assert set(hub.streams) == {"a"}


def test_statistics() -> None:
    hub = Hub(2)
    stream = hub.add_stream("s", "stdin")
    publish_texts(hub, stream, ["a", "b", "c"])
    stats = hub.statistics()
    assert stats["streams"] == 1
    assert stats["lines_in"] == {"s": 3}
    assert stats["history_lines"] == {"s": 2}
    assert stats["bytes_in"]["s"] == sum(
        len(wire.encode_line(i + 1, 1.0, t)) for i, t in enumerate("abc")
    )


def _numbered(first: int, count: int) -> list[bytes]:
    return [wire.encode_line(seq, 1.0, f"n{seq}") for seq in range(first, first + count)]


def test_publish_numbered_skips_what_it_has_and_restarts_after_a_jump() -> None:
    """Mirrored lines (multi-host): numbering comes from elsewhere, never twice, never a hole."""
    hub = Hub(history=100)
    rec = Recorder()
    hub.listener = rec
    stream = hub.adopt_stream("m", "m", "file", "e-1", {}, first_seq=1, lines=_numbered(1, 3))
    assert (stream.first_seq, stream.last_seq) == (1, 3)

    hub.publish_numbered(stream, 2, _numbered(2, 2))  # all already here: nothing
    assert rec.lines == []

    hub.publish_numbered(stream, 3, _numbered(3, 3))  # overlaps: only 4 and 5 are new
    assert rec.lines == [("m", 4, _numbered(4, 2))]
    assert [line["seq"] for line in ring(stream)] == [1, 2, 3, 4, 5]
    assert stream.lines_in == 2
    assert stream.bytes_in == sum(map(len, _numbered(4, 2)))

    hub.publish_numbered(stream, 9, _numbered(9, 2))  # 6..8 are gone for good
    assert rec.lines[-1] == ("m", 9, _numbered(9, 2))
    # The ring stays contiguous: it restarts at the jump.
    assert [line["seq"] for line in ring(stream)] == [9, 10]
    assert (stream.first_seq, stream.last_seq) == (9, 10)


# -- levels and redaction (journal entries, --redact) ---------------------------------


def test_publish_entries_numbers_lines_with_their_own_level() -> None:
    hub = Hub(100)
    stream = hub.add_stream("j", "journal")
    hub.publish_entries(
        stream, [(1.5, "boom", None, False, "error"), (2.5, "fine", None, False, None)]
    )
    got = [decode_line(b) for b in stream.newest(10)[1]]
    assert got == [
        {"seq": 1, "ts": 1.5, "text": "boom", "level": "error"},
        {"seq": 2, "ts": 2.5, "text": "fine"},
    ]


@pytest.mark.parametrize("secrets", [False, True])
def test_publish_columns_keeps_what_publish_entries_keeps(secrets: bool) -> None:
    """The journal's bulk path: the same kept bytes, the same state after (redacted too)."""
    texts = ["a secret-1", "Traceback (most recent call last):", "  File x", "b", "password=x"]
    columns = Columns(texts, ["error", "error", "error", "info", "warn"], ["1796137705434120"] * 5)
    kept = []
    for publish in ("columns", "entries"):
        hub = Hub(100, redactor=Redactor([r"secret-\d+"] if secrets else [], secrets=secrets))
        stream = hub.add_stream("j", "journal")
        for _ in range(2):  # (the second batch starts from the first's state)
            if publish == "columns":
                hub.publish_columns(stream, columns, checkpoint={"cursor": "c"})
            else:
                hub.publish_entries(stream, columns.entries(), checkpoint={"cursor": "c"})
        kept.append(stream.newest(100)[1])
    assert kept[0] == kept[1] and len(kept[0]) == 10
    assert (b"secret-1" in b"".join(kept[0])) is not secrets


def test_every_publish_path_redacts_before_the_line_is_kept_or_heard() -> None:
    hub = Hub(100, redactor=Redactor([r"secret-\d+"], secrets=True))
    recorder = Recorder()
    hub.listener = recorder
    stream = hub.add_stream("s", "file")
    hub.publish(stream, [Piece("a secret-1"), Piece("password=hunter2", cont=True)])
    hub.publish_lines(stream, [(1.0, "b secret-22", None, False)])
    hub.publish_entries(stream, [(1.0, "c secret-333", None, False, "warn")])
    kept = [decode_line(b)["text"] for b in stream.newest(10)[1]]
    assert kept == ["a [REDACTED]", "password=[REDACTED]", "b [REDACTED]", "c [REDACTED]"]
    heard = b"".join(b for _, _, lines in recorder.lines for b in lines)
    assert b"secret-" not in heard and b"hunter2" not in heard


def test_a_hub_with_an_empty_redactor_has_none() -> None:
    assert Hub(10, redactor=Redactor()).redactor is None
