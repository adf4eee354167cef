"""The protocol package is pure: importing it loads neither asyncio nor aiohttp."""

from __future__ import annotations

import pkgutil

import tailcast.protocol
from tests.helpers import io_frameworks_imported_by


def test_protocol_package_imports_no_io_framework() -> None:
    modules = sorted(
        f"tailcast.protocol.{m.name}" for m in pkgutil.iter_modules(tailcast.protocol.__path__)
    )
    pure = {"lines", "wire", "engine_frames", "engine_logs", "engine_time", "engine_stats"}
    assert {f"tailcast.protocol.{name}" for name in pure} <= set(modules)
    bad = io_frameworks_imported_by(modules)
    assert bad == "", f"imported: {bad}"
