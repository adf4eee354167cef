"""Where a private history goes without ``--data-dir``: on disk, not in RAM where avoidable.

A history of 256 MiB per stream in a RAM-backed tmpfs (``/tmp`` on many
systems) would be memory after all, so ``/var/tmp`` (on disk by convention)
comes first, then the system's temporary dir; a candidate on ``tmpfs`` or
``ramfs`` (read from ``/proc/mounts``) is passed over while another exists.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["RAM_FILESYSTEMS", "filesystem_type", "private_dir"]

RAM_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_CANDIDATES = ("/var/tmp",)


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def filesystem_type(path: str, mounts: str = "/proc/mounts") -> str | None:
    """The type of the file system holding ``path`` (the longest mount point above it)."""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as file:
            table = [line.split() for line in file]
    except OSError:
        return None
    real = os.path.realpath(path)
    best, best_type = "", None
    for fields in table:
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type


def _usable(base: str) -> bool:
    return os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)


def private_dir(prefix: str = "tailcast-history-") -> Path:
    """A new private folder (mode 0700) for a history that goes at exit."""
    candidates = [*_CANDIDATES, tempfile.gettempdir()]
    on_disk = [c for c in candidates if _usable(c) and filesystem_type(c) not in RAM_FILESYSTEMS]
    base = on_disk[0] if on_disk else None  # None: tempfile's own choice, RAM or not
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
