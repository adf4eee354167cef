"""Choosing the watch backend: inotify on Linux, watchfiles elsewhere, one per event loop."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tailcast.sources.file.watch import factory
from tailcast.sources.file.watch.portable import PortableBackend
from tests.sources.file.harness import following


async def test_linux_uses_the_inotify_backend(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with following(log) as f:
        backend = f.source.statistics()["watcher"]["backend"]
        assert backend == (
            "InotifyBackend" if sys.platform.startswith("linux") else "PortableBackend"
        )


async def test_one_backend_per_event_loop() -> None:
    assert factory.shared_backend() is factory.shared_backend()


async def test_the_portable_backend_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "BACKEND", "watchfiles")
    monkeypatch.setattr(factory, "_BACKENDS", {})
    assert isinstance(factory.shared_backend(), PortableBackend)
