"""The history package is plain sync file I/O: importing it loads neither asyncio nor aiohttp."""

from __future__ import annotations

import pkgutil

import tailcast.history
from tests.helpers import io_frameworks_imported_by


def test_history_package_imports_no_io_framework() -> None:
    modules = sorted(
        f"tailcast.history.{m.name}" for m in pkgutil.iter_modules(tailcast.history.__path__)
    )
    assert {"tailcast.history.log", "tailcast.history.store"} <= set(modules)
    bad = io_frameworks_imported_by(modules)
    assert bad == "", f"imported: {bad}"
