"""Helpers for the viewer's history and structure tests: many lines fast, and
lines whose encoded JSON already carries ``level``/``follows`` (protocol 1.1),
so the viewer's display is tested whether or not the server detects levels."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from playwright.sync_api import Page

from tailcast.protocol import wire
from tests.viewer.support import ThreadServer

__all__ = ["dom_rows", "fill", "publish_structured", "seq_range"]


def fill(
    srv: ThreadServer, sid: str, count: int, text: str = "line {i}", batch: int = 5000
) -> None:
    """Publish ``count`` lines ``text.format(i=seq)`` in batches, on the server's loop."""
    assert srv.server is not None
    hub = srv.server.hub

    def go() -> None:
        stream = hub.streams[sid]
        now = time.time()
        for start in range(0, count, batch):
            first = stream.last_seq + 1
            n = min(batch, count - start)
            hub.publish_lines(
                stream, [(now, text.format(i=first + k), None, False) for k in range(n)]
            )

    srv.call(go)


def publish_structured(srv: ThreadServer, sid: str, lines: Sequence[dict[str, Any]]) -> None:
    """Lines as LINE objects (``text`` and any of ``level``, ``follows``, ``fd``), numbered here."""
    assert srv.server is not None
    hub = srv.server.hub

    def go() -> None:
        stream = hub.streams[sid]
        first = stream.last_seq + 1
        # The server's own encoding (its field order is what its filters read).
        encoded = [
            wire.encode_line(
                first + k,
                time.time(),
                line["text"],
                line.get("fd"),
                bool(line.get("cont")),
                line.get("level"),
                bool(line.get("follows")),
            )
            for k, line in enumerate(lines)
        ]
        hub.publish_numbered(stream, first, encoded)

    srv.call(go)


def dom_rows(page: Page) -> int:
    n: int = page.evaluate("document.querySelectorAll('#rows .row').length")
    return n


def seq_range(page: Page, sid: str) -> tuple[int, int]:
    """The lowest and highest seq of the line rows of ``sid`` in the view (0, 0 if none).

    The view's list of rows, rendered or not (the page holds those on screen).
    """
    lo_hi: list[int] = page.evaluate(
        """sid => {
          const s = window.tailcast.view.shown
            .filter(r => r.sid === sid && r.type === "line").map(r => r.seq);
          return s.length ? [Math.min(...s), Math.max(...s)] : [0, 0];
        }""",
        sid,
    )
    return lo_hi[0], lo_hi[1]
