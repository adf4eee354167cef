"""The journal source against real journal files that ``systemd-journal-remote`` writes
while the source follows them with a real ``journalctl``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tailcast.config import Config, parse_source
from tailcast.history.store import HistoryStore
from tailcast.hub import Hub, decode_line
from tailcast.protocol.redact import Redactor
from tailcast.sources.journal.source import JournalSource
from tailcast.sources.process import spawn
from tests.harness import make_config
from tests.helpers import apoll
from tests.sources.journal.writer import JournalWriter, have_journal_tools

pytestmark = pytest.mark.skipif(
    not have_journal_tools(), reason="needs journalctl and systemd-journal-remote"
)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JournalWriter]:
    writer = JournalWriter(tmp_path / "journal")
    yield writer
    writer.close()


class Running:
    """Sources on one hub, their tasks started; :meth:`stop` ends them."""

    def __init__(self, hub: Hub, sources: list[JournalSource]) -> None:
        self.hub = hub
        self.sources = sources
        self.tasks = [asyncio.create_task(s.run()) for s in sources]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for source in self.sources:
            await source.close()


@contextlib.asynccontextmanager
async def follow(
    config: Config, *raw: str, store: HistoryStore | None = None
) -> AsyncIterator[Running]:
    redactor = Redactor(config.redact, secrets=config.redact_secrets)  # as the server does
    hub = Hub(1000, store=store, redactor=redactor)
    sources = [JournalSource(parse_source(r), hub, config) for r in raw]
    for source in sources:
        source.backoff_min = 0.1  # an empty journal is looked at again soon
    running = Running(hub, sources)
    try:
        yield running
    finally:
        await running.stop()


def lines(source: JournalSource) -> list[dict[str, Any]]:
    _, encoded = source.stream.lines_after(0)
    return [decode_line(b) for b in encoded]


def texts(source: JournalSource) -> list[str]:
    return [line["text"] for line in lines(source)]


def config_for(directory: Path, **overrides: Any) -> Config:
    return make_config(journal_dir=str(directory), **overrides)


async def test_entries_arrive_with_their_time_text_and_level(
    journal: JournalWriter, tmp_path: Path
) -> None:
    journal.write("before the source started", priority=6, realtime_us=1_700_000_000_123_456)
    async with follow(config_for(journal.path.parent), "journal:") as run:
        (source,) = run.sources
        await apoll(lambda: source.stream.state == "live")
        priorities = [0, 1, 2, 3, 4, 5, 6, 7, None]
        for n, priority in enumerate(priorities):
            journal.write(f"entry {n}", priority=priority, realtime_us=1_700_000_001_000_000 + n)
        await apoll(lambda: len(lines(source)) == 1 + len(priorities))
        got = lines(source)
    assert got[0]["text"] == "before the source started"
    assert got[0]["ts"] == pytest.approx(1_700_000_000.123456, abs=1e-6)
    assert [g["text"] for g in got[1:]] == [f"entry {n}" for n in range(len(priorities))]
    assert [g.get("level") for g in got[1:]] == [
        "fatal",
        "fatal",
        "fatal",
        "error",
        "warn",
        "info",
        "info",
        "debug",
        None,
    ]
    assert got[5]["ts"] == pytest.approx(1_700_000_001.000004, abs=1e-6)
    assert [g["seq"] for g in got] == list(range(1, len(got) + 1))
    assert source.stream.kind == "journal"
    assert source.stream.info()["match"] == ""


async def test_unit_and_field_matches_pick_their_entries(journal: JournalWriter) -> None:
    config = config_for(journal.path.parent)
    async with follow(config, "journal:web", "journal:SYSLOG_IDENTIFIER=cron", "journal:") as run:
        web, cron, everything = run.sources
        assert web.stream.info()["match"] == "web.service"
        assert cron.stream.info()["match"] == "SYSLOG_IDENTIFIER=cron"
        journal.write("web 1", unit="web.service", ident="nginx")
        journal.write("cron 1", unit="cron.service", ident="cron")
        journal.write("other 1", unit="other.service", ident="other")
        journal.write("web 2", unit="web.service", ident="nginx")
        await apoll(lambda: len(texts(everything)) == 4)
        await apoll(lambda: texts(web) == ["web 1", "web 2"])
        await apoll(lambda: texts(cron) == ["cron 1"])
    assert texts(everything) == ["web 1", "cron 1", "other 1", "web 2"]


async def test_binary_and_multi_line_messages_are_decoded(journal: JournalWriter) -> None:
    async with follow(config_for(journal.path.parent, max_line=64), "journal:") as run:
        (source,) = run.sources
        journal.write(b"bin\xff\x1b[31mred\x1b[0m ok", priority=3)
        journal.write("Traceback (most recent call last):\n  File x\nValueError: no\n")
        journal.write("é" * 40)  # 80 bytes: two pieces at --max-line 64
        await apoll(lambda: len(lines(source)) == 6)
        got = lines(source)
    assert got[0]["text"] == "bin\ufffd\x1b[31mred\x1b[0m ok"
    assert got[0]["level"] == "error"
    assert [g["text"] for g in got[1:4]] == [
        "Traceback (most recent call last):",
        "  File x",
        "ValueError: no",
    ]
    assert got[4]["text"] + got[5]["text"] == "é" * 40
    assert got[5].get("cont") is True and "cont" not in got[4]


async def test_entries_are_redacted_before_they_are_kept(journal: JournalWriter) -> None:
    config = config_for(journal.path.parent, redact_secrets=True)
    async with follow(config, "journal:") as run:
        (source,) = run.sources
        journal.write("login password=hunter2 user=bob", priority=4)
        journal.write(b"binary token=abc\xff123 end")
        await apoll(lambda: len(texts(source)) == 2)
        got = lines(source)
    assert [g["text"] for g in got] == [
        "login password=[REDACTED] user=bob",
        "binary token=[REDACTED] end",
    ]
    assert got[0]["level"] == "warn"


async def test_resumes_by_cursor_across_a_restart(journal: JournalWriter, tmp_path: Path) -> None:
    """Entries written while the server is down arrive after it; none twice, none lost."""
    data = tmp_path / "data"
    config = config_for(journal.path.parent, data_dir=str(data))
    for n in range(3):
        journal.write(f"first {n}")
    store = HistoryStore.open(data)
    try:
        async with follow(config, "journal:", store=store) as run:
            (source,) = run.sources
            await apoll(lambda: len(texts(source)) == 3)
            epoch = source.stream.epoch
    finally:
        store.close()
    for n in range(4):
        journal.write(f"while down {n}")
    store = HistoryStore.open(data)
    try:
        async with follow(config, "journal:", store=store) as run:
            (source,) = run.sources
            assert source.reader.cursor is not None  # from the checkpoint on disk
            await apoll(lambda: len(texts(source)) >= 7)
            journal.write("after")
            await apoll(lambda: texts(source)[-1:] == ["after"])
            got = lines(source)
            assert source.stream.epoch == epoch
    finally:
        store.close()
    expected = [f"first {n}" for n in range(3)] + [f"while down {n}" for n in range(4)] + ["after"]
    assert [g["text"] for g in got] == expected
    assert [g["seq"] for g in got] == list(range(1, 9))


async def test_without_journalctl_on_path_the_state_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    async with follow(config_for(tmp_path), "journal:") as run:
        (source,) = run.sources
        await apoll(lambda: source.stream.state == "error")
    message = source.stream.state_extra["message"]
    assert "journalctl not found" in message


@pytest.mark.parametrize("what", ["missing", "a file"])
async def test_a_journal_dir_that_cannot_be_read_is_an_error(tmp_path: Path, what: str) -> None:
    target = tmp_path / "nothing"
    if what == "a file":
        target.write_text("not a journal\n")
    async with follow(config_for(target), "journal:") as run:
        (source,) = run.sources
        await apoll(lambda: source.stream.state == "error")
        message = source.stream.state_extra["message"]
    assert message.startswith("journalctl: ")
    assert str(target) in message
    assert ("Not a directory" if what == "a file" else "No such file") in message


async def test_an_empty_journal_waits_then_follows_once_entries_come(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    folder.mkdir()
    async with follow(config_for(folder), "journal:") as run:
        (source,) = run.sources
        await apoll(
            lambda: "no journal entries yet" in source.stream.state_extra.get("message", "")
        )
        assert source.stream.state == "waiting"
        writer = JournalWriter(folder)
        try:
            writer.write("at last")
            await apoll(lambda: texts(source) == ["at last"])
            assert source.stream.state == "live"
        finally:
            writer.close()


async def test_journalctl_runs_in_its_own_group_and_ends_with_the_source(
    journal: JournalWriter,
) -> None:
    journal.write("one")
    async with follow(config_for(journal.path.parent), "journal:") as run:
        (source,) = run.sources
        await apoll(lambda: source.stream.state == "live" and texts(source) == ["one"])
        child = source._child
        assert child is not None
        pgid = child.pgid
        assert os.getpgid(child.proc.pid) == pgid != os.getpgid(0)
    assert not spawn.group_alive(pgid)


def test_a_journal_source_in_a_server_config(tmp_path: Path) -> None:
    spec = parse_source("App Logs=journal:cron")
    config = dataclasses.replace(config_for(tmp_path), sources=(spec,))
    assert config.sources[0].kind == "journal"
    assert config.sources[0].name == "App Logs"
