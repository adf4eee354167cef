"""tailcast.multihost.keys: key names and record encoding (pure, no Redis)."""

from __future__ import annotations

import pytest

from tailcast.multihost import keys


def test_key_names() -> None:
    assert keys.STREAMS == "tailcast:streams" and keys.EVENTS == "tailcast:events"
    assert keys.lines_key("app", "e1") == "tailcast:lines:app:e1"
    assert keys.agent_key("host:1:ab") == "tailcast:agent:host:1:ab"


def test_entry_ids_are_the_seq() -> None:
    assert keys.entry_id(42) == "42-0"
    assert keys.entry_seq(keys.entry_id(42)) == 42
    assert keys.entry_seq(b"7-0") == 7


def test_event_fields_round_trip() -> None:
    fields = keys.event_fields(keys.EVENT_STATUS, "app", b'{"event":"rotated"}')
    assert fields == {b"t": b"status", b"id": b"app", b"d": b'{"event":"rotated"}'}
    assert keys.parse_event(fields) == ("status", "app", b'{"event":"rotated"}')
    assert keys.parse_event({}) == ("", "", b"")


def test_stream_record_round_trip() -> None:
    record = keys.StreamRecord(
        id="app",
        name="app",
        kind="cmd",
        epoch="e1",
        state="exited",
        key=keys.lines_key("app", "e1"),
        agent="host:1:ab",
        extra={"exit_code": 3},
        detail={"argv": ["sh", "-c", "exit 3"]},
    )
    data = record.dumps()
    assert b" " not in data.replace(b"exit 3", b"")  # compact: one hash field each
    assert keys.StreamRecord.loads(data) == record
    assert keys.StreamRecord.loads(data.decode()) == record


def test_stream_record_defaults_and_refusals() -> None:
    minimal = (
        '{"id":"a","name":"a","kind":"stdin","epoch":"e","state":"live","key":"k","agent":"x"}'
    )
    record = keys.StreamRecord.loads(minimal)
    assert record.extra == {} and record.detail == {}
    with pytest.raises(ValueError):
        keys.StreamRecord.loads("[1, 2]")
    with pytest.raises(ValueError):
        keys.StreamRecord.loads("not json")
    with pytest.raises(KeyError):
        keys.StreamRecord.loads('{"id": "a"}')
