"""Choosing the watch backend: one per event loop, inotify on Linux, watchfiles elsewhere.

:func:`shared_backend` hands every file and glob source of a loop the same
backend, so hundreds of followed files share one watch set. :data:`BACKEND`
picks the kind; a test sets it to ``"watchfiles"`` to exercise the portable
backend on Linux.
"""

from __future__ import annotations

import asyncio

from tailcast.sources.file.watch import inotify
from tailcast.sources.file.watch.base import WatchBackend
from tailcast.sources.file.watch.portable import PortableBackend

__all__ = ["BACKEND", "shared_backend"]

# "inotify" (Linux: :mod:`tailcast.sources.file.watch.inotify`, the default there) or
# "watchfiles" (:mod:`tailcast.sources.file.watch.portable`: everywhere else).
BACKEND = "inotify"

_BACKENDS: dict[asyncio.AbstractEventLoop, WatchBackend] = {}


def shared_backend() -> WatchBackend:
    """The watch backend of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    # A backend belongs to its loop: forget those of loops that are gone.
    for other in [lp for lp in _BACKENDS if lp.is_closed()]:
        del _BACKENDS[other]
    backend = _BACKENDS.get(loop)
    if backend is None:
        if BACKEND == "inotify" and inotify.available():
            backend = inotify.InotifyBackend()
        else:
            backend = PortableBackend()
        _BACKENDS[loop] = backend
    return backend
