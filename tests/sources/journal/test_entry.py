"""journalctl's JSON output into lines, and its command line (no journal needed)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.protocol import wire
from tailcast.protocol.columns import Columns
from tailcast.protocol.redact import Redactor
from tailcast.protocol.wire import format_ts
from tailcast.sources.journal import entry
from tailcast.sources.journal.entry import EntryReader, journalctl_argv, message_text, stamp_text


def out(**fields: object) -> bytes:
    return json.dumps(fields).encode() + b"\n"


def test_the_command_follows_with_every_argument_its_own() -> None:
    base = ["jc", "--follow", "--output=json", "--output-fields=MESSAGE,PRIORITY"]
    base += ["--all", "--no-pager", "--quiet"]
    assert journalctl_argv("jc", match="", directory=None, cursor=None, lines=100) == [
        *base,
        "--lines=100",
    ]
    assert journalctl_argv(
        "jc", match="cron.service", directory="/j d", cursor="s=1;i=2", lines=5
    ) == [*base, "--directory=/j d", "--after-cursor=s=1;i=2", "--unit=cron.service"]
    argv = journalctl_argv("jc", match="_COMM=sshd", directory=None, cursor=None, lines=0)
    assert argv[-2:] == ["--lines=0", "_COMM=sshd"]


def test_message_values() -> None:
    assert message_text("hi") == "hi"
    assert message_text([104, 255]) == b"h\xff"
    assert message_text(["first", "second"]) == "first"  # a field given twice
    assert message_text(None) == ""
    assert message_text([]) == ""


def test_a_read_may_end_inside_an_entry() -> None:
    reader = EntryReader(1024)
    data = out(MESSAGE="one", __CURSOR="c1", PRIORITY="3", __REALTIME_TIMESTAMP="2000000")
    data += out(MESSAGE="two", __CURSOR="c2")
    first = reader.feed(data[:10])
    assert first == [] and reader.cursor is None
    lines = reader.feed(data[10:-5])
    assert [(t, lv) for _, t, _, _, lv in lines] == [("one", "error")]
    assert lines[0][0] == 2.0
    assert reader.cursor == "c1"
    assert [t for _, t, *_ in reader.feed(data[-5:])] == ["two"]
    assert reader.cursor == "c2" and reader.entries == 2


def test_lines_that_are_not_entries_are_skipped_and_counted() -> None:
    reader = EntryReader(1024)
    lines = reader.feed(b"not json\n[1]\n" + out(MESSAGE="ok", __CURSOR="c"))
    assert [t for _, t, *_ in lines] == ["ok"]
    assert reader.skipped == 2


def test_an_entry_too_long_to_hold_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry, "MAX_ENTRY", 100)
    reader = EntryReader(1024)
    assert reader.feed(b'{"MESSAGE":"' + b"x" * 200) == []
    assert reader.skipped == 1
    lines = reader.feed(b"x" * 50 + b'"}\n' + out(MESSAGE="after", __CURSOR="c"))
    assert [t for _, t, *_ in lines] == ["after"]


def test_one_parse_per_read_and_a_bad_line_skips_only_itself() -> None:
    """A read's lines are parsed together; one bad line falls back to line by line."""
    reader = EntryReader(1024)
    good = [out(MESSAGE=f"m{i}", __CURSOR=f"c{i}", PRIORITY="4") for i in range(3)]
    lines = reader.feed(good[0] + b'{"MESSAGE": "cut\n' + good[1] + b"\xff\xfe\n" + good[2])
    assert [(t, lv) for _, t, _, _, lv in lines] == [("m0", "warn"), ("m1", "warn"), ("m2", "warn")]
    assert reader.skipped == 2 and reader.entries == 3 and reader.cursor == "c2"


def test_a_field_given_twice_gives_no_level_and_no_crash() -> None:
    reader = EntryReader(1024)
    lines = reader.feed(out(MESSAGE="m", PRIORITY=["3", "4"]) + out(MESSAGE=["a\nb", "x"]))
    assert [(t, lv) for _, t, _, _, lv in lines] == [("m", None), ("a", None), ("b", None)]


def test_with_redaction_a_long_message_is_cut_where_no_secret_is() -> None:
    """A MESSAGE over --max-line: the cut keeps back where a secret may begin."""
    redactor = Redactor(secrets=True)
    message = "x" * 150 + " fetch https://deploy:s3cr3t-P4ss@git.example.com/r.git done"
    for cut in range(150, len(message)):
        reader = EntryReader(cut, hold=redactor.hold)
        lines = reader.feed(out(MESSAGE=message, __CURSOR="c"))
        texts = [text for _, text, _, _, _ in redactor.entries("j", lines)]
        assert "".join(texts) == redactor.text(message), cut
        assert not any("s3cr3t" in t or "P4ss" in t for t in texts)


# -- the fast paths: orjson for a read, the ts text cut from the digits ----------------

STAMP = "1796137705434125"


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(st.integers(min_value=10**15, max_value=8 * 10**15 - 1))
def test_the_stamp_text_is_format_ts_of_the_microseconds(micros: int) -> None:
    """Cut from the digits, the same text as formatting the float (trailing zeros too)."""
    assert stamp_text(str(micros)) == format_ts(int(str(micros)) / 1e6)


def test_stamps_of_whole_seconds_and_tens() -> None:
    assert stamp_text("1796137705000000") == "1796137705.0" == format_ts(1796137705.0)
    assert stamp_text("1796137705430000") == "1796137705.43"
    assert stamp_text(STAMP) == "1796137705.434125"


def entries_of(*fields: Mapping[str, object]) -> bytes:
    return b"".join(out(**f) for f in fields)


# Entries the fast path must take exactly as the standard parser and format_ts do.
ODD_ENTRIES: list[dict[str, object]] = [
    {"MESSAGE": 'say "hi"\\ \t back\\slash', "PRIORITY": "5"},  # escapes
    {"MESSAGE": "é ü 日本 \U0001f600", "PRIORITY": "6"},  # unicode, outside the BMP too
    {"MESSAGE": [104, 255, 10, 105], "PRIORITY": "3"},  # binary: "h\ufffd", "i"
    {"MESSAGE": "two\nlines"},  # no PRIORITY: no level
    {"MESSAGE": "x\r"},  # a trailing CR is cut
    {"MESSAGE": "early", "__REALTIME_TIMESTAMP": "2000000"},  # 1970: format_ts's way
    {"MESSAGE": "late", "__REALTIME_TIMESTAMP": "9000000000000000"},  # past 2223
    {"MESSAGE": "digits", "__REALTIME_TIMESTAMP": "1\u066796137705434125"},  # not ASCII
    {"MESSAGE": "whole", "__REALTIME_TIMESTAMP": "1796137705000000"},
    {"MESSAGE": "twice", "PRIORITY": ["3", "4"]},
    {"MESSAGE": "no such level", "PRIORITY": "8"},
    {"MESSAGE": None},
]


def with_time(fields: dict[str, object], n: int) -> dict[str, object]:
    return {"__REALTIME_TIMESTAMP": str(int(STAMP) + n), "__CURSOR": f"c{n}", **fields}


def test_every_line_has_its_stamp_exactly_as_format_ts_gives_it() -> None:
    reader = EntryReader(1024)
    data = entries_of(*(with_time(f, n) for n, f in enumerate(ODD_ENTRIES)))
    lines, stamps = reader.read(data)
    assert len(stamps) == len(lines)
    assert stamps == [format_ts(ts) for ts, *_ in lines]
    texts = [text for _, text, *_ in lines]
    assert texts[:5] == ['say "hi"\\ \t back\\slash', "é ü 日本 \U0001f600", "h\ufffd", "i", "two"]
    assert [lv for *_, lv in lines[:5]] == ["info", "info", "error", "error", None]
    assert texts[5:] == [
        "lines",
        "x",
        "early",
        "late",
        "digits",
        "whole",
        "twice",
        "no such level",
        "",
    ]
    assert [lv for *_, lv in lines[-3:]] == [None, None, None]
    assert lines[7][0] == 2.0 and reader.entries == len(ODD_ENTRIES)
    assert reader.cursor == f"c{len(ODD_ENTRIES) - 1}"
    # Encoded, the stamps give the very bytes of formatting each float.
    marks = [(lv, False) for *_, lv in lines]
    assert wire.encode_entries(1, lines, marks, stamps) == wire.encode_entries(1, lines, marks)


def test_the_fast_reader_agrees_with_the_standard_parser_line_by_line() -> None:
    """One read parsed at once (orjson) gives what json.loads gives each line."""
    data = entries_of(*(with_time(f, n) for n, f in enumerate(ODD_ENTRIES)))
    whole = EntryReader(1024).feed(data)
    each: list[object] = []
    one = EntryReader(1024)
    for raw in data.splitlines(keepends=True):
        each += one.feed(raw)
    assert whole == each


def test_a_read_may_end_inside_a_character_or_an_escape() -> None:
    """Reads cut anywhere (inside "é", inside \\u00e9) give the same lines and stamps."""
    data = entries_of(
        with_time({"MESSAGE": "café \u00e9\\", "PRIORITY": "4"}, 0),
        with_time({"MESSAGE": [99, 97, 102, 195, 169], "PRIORITY": "4"}, 1),
    )
    expected = EntryReader(1024).read(data)
    assert [t for _, t, *_ in expected[0]] == ["café é\\", "café"]
    for cut in range(1, len(data)):
        reader = EntryReader(1024)
        first = reader.read(data[:cut])
        second = reader.read(data[cut:])
        assert (first[0] + second[0], first[1] + second[1]) == expected, cut


def test_a_lone_surrogate_escape_is_taken_as_the_standard_parser_takes_it() -> None:
    """orjson refuses "\\ud800"; that read falls back to json.loads line by line."""
    reader = EntryReader(1024)
    data = with_time({"MESSAGE": "a"}, 0)
    raw = entries_of(data) + b'{"MESSAGE":"b\\ud800","__CURSOR":"c9"}\n' + entries_of(data)
    lines = reader.feed(raw)
    assert [t for _, t, *_ in lines] == ["a", "b\ud800", "a"]
    assert reader.skipped == 0 and reader.cursor == "c0"


def test_json_values_that_are_not_objects_are_skipped_in_a_read_parsed_at_once() -> None:
    reader = EntryReader(1024)
    lines = reader.feed(b'"text"\n7\nnull\n[1]\n' + entries_of(with_time({"MESSAGE": "ok"}, 0)))
    assert [t for _, t, *_ in lines] == ["ok"]
    assert reader.skipped == 4 and reader.entries == 1


# Typed as the Unicode category it names (a bare ("Cs",) is inferred as tuple[str]).
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_COMMON_TEXT = st.text(st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\r\n"))


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(
    st.lists(
        st.tuples(_COMMON_TEXT, st.integers(10**15, 8 * 10**15 - 1), st.integers(0, 7)),
        min_size=1,
        max_size=8,
    )
)
def test_a_read_of_common_entries_comes_as_columns(items: list[tuple[str, int, int]]) -> None:
    """Text messages of one line, PRIORITY 0-7, 16-digit stamps: columns, the lines as specified."""
    data = entries_of(
        *(
            {"MESSAGE": m, "PRIORITY": str(p), "__REALTIME_TIMESTAMP": str(t), "__CURSOR": f"c{t}"}
            for m, t, p in items
        )
    )
    reader = EntryReader(1024 * 1024)
    lines = reader.read_columns(data)
    assert isinstance(lines, Columns)
    assert lines.entries() == [
        (t / 1e6, m, None, False, entry.PRIORITY_LEVELS[str(p)]) for m, t, p in items
    ]
    assert reader.cursor == f"c{items[-1][1]}" and reader.entries == len(items)


@pytest.mark.parametrize(
    "odd",
    [
        {"MESSAGE": "two\nlines", "PRIORITY": "6"},
        {"MESSAGE": "cr\r", "PRIORITY": "6"},
        {"MESSAGE": [104, 255], "PRIORITY": "6"},
        {"MESSAGE": "no priority"},
        {"MESSAGE": "priority 9", "PRIORITY": "9"},
        {"MESSAGE": "x" * 300, "PRIORITY": "6"},
        {"MESSAGE": "early", "PRIORITY": "6", "__REALTIME_TIMESTAMP": "999999999999999"},
        {"MESSAGE": "late", "PRIORITY": "6", "__REALTIME_TIMESTAMP": "8000000000000000"},
        {"MESSAGE": "signs", "PRIORITY": "6", "__REALTIME_TIMESTAMP": "+796137705434125"},
    ],
)
def test_one_odd_entry_sends_its_read_the_general_way(odd: dict[str, object]) -> None:
    """Among common entries, each odd kind: not columns, and the lines the general way gives."""
    common = with_time({"MESSAGE": "ok", "PRIORITY": "3"}, 0)
    data = entries_of(common, {**with_time({}, 1), **odd}, common)
    reader = EntryReader(1024)  # (a quarter: 256 characters without a cut)
    lines = reader.read_columns(data)
    assert not isinstance(lines, Columns)
    each: list[object] = []
    for raw in data.splitlines(keepends=True):  # the common ones alone are columns
        each += EntryReader(1024).read(raw)[0]
    assert lines[0] == each and len(lines[0]) >= 3
