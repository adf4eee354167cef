"""Default limits shared across layers, in one place.

``config`` reads its defaults from here, and so do the modules that use
them, so that no layer has to import another just to learn a number.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DISK_BUDGET",
    "DEFAULT_HISTORY",
    "DEFAULT_HISTORY_BYTES",
    "DEFAULT_MAX_LINE",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_TAIL",
]

DEFAULT_HISTORY = 1_000_000  # lines kept per stream (--history)
DEFAULT_HISTORY_BYTES = 256 * 1024 * 1024  # bytes kept per stream (--history-bytes)
DEFAULT_DISK_BUDGET = 2 * 1024 * 1024 * 1024  # all streams together (--disk-budget)
DEFAULT_MAX_LINE = 64 * 1024  # longer lines are split into cont pieces (--max-line)
DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024  # per-client send queue (--queue-bytes)
DEFAULT_TAIL = 100  # backlog lines a client gets when it does not say
