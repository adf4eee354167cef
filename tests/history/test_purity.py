"""The history package is plain sync file I/O: importing it loads neither asyncio nor aiohttp."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tailcast.history


def test_history_package_imports_no_io_framework() -> None:
    modules = sorted(
        f"tailcast.history.{m.name}" for m in pkgutil.iter_modules(tailcast.history.__path__)
    )
    assert {"tailcast.history.log", "tailcast.history.store"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('asyncio', 'aiohttp'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported: {result.stdout.strip()}"
