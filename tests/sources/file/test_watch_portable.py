"""The watchfiles backend (platforms without inotify), on its own and under a rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from watchfiles import Change

from tailcast.sources.file.watch import factory
from tailcast.sources.file.watch.portable import PortableBackend
from tests.helpers import apoll
from tests.sources.file.harness import (
    COUNT,
    RATE,
    RecordingClient,
    SteadyWriter,
    following,
    rename_hook,
    run_writer,
    watching,
)


async def test_changes_reach_the_client_of_the_watched_directory(tmp_path: Path) -> None:
    client = RecordingClient({str(tmp_path)})
    async with watching(PortableBackend(), client) as backend:
        await apoll(lambda: backend.is_watched(str(tmp_path)) and None in client.batches)
        log = tmp_path / "app.log"
        log.write_bytes(b"x\n")
        await apoll(lambda: (Change.added, str(log)) in client.changes())
        assert backend.statistics()["restarts"] == 1
    assert not backend.is_watched(str(tmp_path))


async def test_the_watchfiles_backend_follows_a_rotation_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The portable backend (platforms without inotify) under the same writer.
    monkeypatch.setattr(factory, "BACKEND", "watchfiles")
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    writer = SteadyWriter(log, COUNT, RATE, {700: rename_hook(int(RATE * 0.1))})
    async with following(log, quiet=1.0, lines=0, flush_delay=30.0) as f:
        assert f.source.statistics()["watcher"]["backend"] == "PortableBackend"
        got = await run_writer(f, writer, "app.log")
        assert got == list(range(1, COUNT + 1))
        assert f.file_events("app.log") == ["rotated"]
