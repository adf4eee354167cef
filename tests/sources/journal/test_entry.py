"""journalctl's JSON output into lines, and its command line (no journal needed)."""

from __future__ import annotations

import json

import pytest

from tailcast.protocol.redact import Redactor
from tailcast.sources.journal import entry
from tailcast.sources.journal.entry import EntryReader, journalctl_argv, message_text


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
