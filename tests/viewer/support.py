"""Support for the browser tests: a real server on its own event-loop thread,
a loopback TCP proxy that can cut connections, and page helpers.

Playwright's sync API runs its own loop, so the server cannot share the
test's: :class:`ThreadServer` runs the tests' one server harness
(:class:`tests.harness.ServerHarness`) in a thread and runs everything that
touches the hub on that thread's loop (:meth:`ThreadServer.call`), where the
server itself would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from playwright.sync_api import Page

from tailcast.config import Config
from tailcast.hub import Stream
from tailcast.server import Server
from tests.harness import ServerHarness, publish_texts
from tests.helpers import poll

__all__ = [
    "TcpProxy",
    "ThreadServer",
    "dom_row_seqs",
    "list_texts",
    "row_seqs",
    "row_texts",
    "wait_rows",
]

T = TypeVar("T")
STOP_TIMEOUT = 15.0


class _LoopThread:
    """An asyncio loop in a daemon thread; ``run(coro)`` / ``call(fn)`` from outside."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = STOP_TIMEOUT) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def wrapper() -> T:
            return fn(*args, **kwargs)

        result: T = self.run(wrapper())
        return result

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STOP_TIMEOUT)
        self.loop.close()


class ThreadServer:
    """A real tailcast server in a thread: ``start()``, ``restart()``, ``stop()``.

    Streams are made with :meth:`add_stream` and fed with :meth:`publish` —
    the hub's own API, as a source would call it, on the server's loop.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.lt = _LoopThread("tailcast-test-server")
        self.harness: ServerHarness | None = None
        self.port = 0

    @property
    def server(self) -> Server | None:
        return None if self.harness is None else self.harness.server

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> str:
        self.harness = self.lt.run(ServerHarness.start(self.config, sources=[]))
        self.port = self.harness.port
        # A restart listens on the same port, as a restarted server would.
        self.config = dataclasses.replace(self.config, port=self.port)
        return self.url

    def stop(self) -> None:
        if self.harness is not None:
            self.lt.run(self.harness.stop())
            self.harness = None

    def restart(self) -> None:
        """Stop, then start a new server (new hub: new epochs, numbering from 1)."""
        self.stop()
        self.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        self.lt.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    # -- the hub ----------------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.lt.call(fn, *args, **kwargs)

    def stream(self, sid: str) -> Stream:
        assert self.server is not None
        return self.server.hub.streams[sid]

    def add_stream(self, name: str, kind: str = "process", **detail: Any) -> str:
        assert self.server is not None
        hub = self.server.hub
        stream = self.call(hub.add_stream, name, kind, **detail)
        self.call(hub.set_state, stream, "live")
        return stream.id

    def publish(
        self,
        sid: str,
        texts: Iterable[str],
        *,
        fd: str | None = None,
        cont: Sequence[bool] | None = None,
        ts: float | None = None,
    ) -> None:
        """Publish lines (one ``lines`` batch) to stream ``sid``."""
        assert self.server is not None
        hub = self.server.hub
        items = list(texts)
        self.call(lambda: publish_texts(hub, hub.streams[sid], items, fd=fd, cont=cont, ts=ts))

    def publish_many(self, sid: str, batches: Sequence[Sequence[str]]) -> None:
        """Several batches in one go on the loop: no client gets to read in between."""
        assert self.server is not None
        hub = self.server.hub

        def go() -> None:
            for batch in batches:
                publish_texts(hub, hub.streams[sid], batch)

        self.call(go)

    def set_state(self, sid: str, state: str, **extra: Any) -> None:
        assert self.server is not None
        hub = self.server.hub
        self.call(lambda: hub.set_state(hub.streams[sid], state, **extra))

    def last_seq(self, sid: str) -> int:
        return self.call(lambda: self.stream(sid).last_seq)


class TcpProxy:
    """A loopback TCP proxy in front of a server; :meth:`cut` drops every connection.

    While ``refusing`` it accepts and at once closes new connections, so a
    client cannot reconnect until :meth:`allow` — a network blip on demand.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.lt = _LoopThread("tailcast-test-proxy")
        self.refusing = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.server: asyncio.Server = self.lt.run(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port: int = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.writers.difference_update((writer, up_writer))

    def cut(self, refuse: bool = True) -> None:
        """Abort every open connection (both sides); refuse new ones if ``refuse``."""

        def go() -> None:
            self.refusing = refuse
            for w in list(self.writers):
                w.transport.abort()
            self.writers.clear()

        self.lt.call(go)

    def allow(self) -> None:
        self.lt.call(setattr, self, "refusing", False)

    def close(self) -> None:
        self.cut()

        async def shut() -> None:
            self.server.close()
            await self.server.wait_closed()

        with contextlib.suppress(Exception):
            self.lt.run(shut())
        self.lt.close()


# -- page helpers ---------------------------------------------------------------------------


def row_seqs(page: Page, sid: str) -> list[int]:
    """The seqs of the line rows of one stream in the view, in order.

    The view's list of rows, rendered or not: the page holds only the rows on
    screen (a virtual list), so a test that counts rows asks the view.
    """
    seqs: list[int] = page.evaluate(
        """sid => window.tailcast.view.shown
          .filter(r => r.sid === sid && r.type === "line").map(r => r.seq)""",
        sid,
    )
    return seqs


def dom_row_seqs(page: Page, sid: str) -> list[int]:
    """The seqs of the line rows of one stream in the page (on screen and a margin)."""
    seqs: list[int] = page.eval_on_selector_all(
        f'#rows .row[data-sid="{sid}"][data-seq]', "els => els.map(e => Number(e.dataset.seq))"
    )
    return seqs


def row_texts(page: Page, sid: str | None = None) -> list[str]:
    sel = f'#rows .row[data-sid="{sid}"][data-seq] .tx' if sid else "#rows .row[data-seq] .tx"
    texts: list[str] = page.eval_on_selector_all(sel, "els => els.map(e => e.textContent)")
    return texts


def list_texts(page: Page, sid: str) -> list[str]:
    """The visible text (escapes gone) of the line rows of one stream in the view's list.

    Rendered or not: for more lines than fit on a screen (row_texts reads the page).
    """
    texts: list[str] = page.evaluate(
        """sid => window.tailcast.view.shown
          .filter(r => r.sid === sid && r.type === "line").map(r => r.plain)""",
        sid,
    )
    return texts


def wait_rows(page: Page, sid: str, count: int, timeout: float = 15.0) -> list[int]:
    """Poll until stream ``sid`` shows at least ``count`` line rows; return their seqs."""
    return poll(lambda: (s := row_seqs(page, sid)) and len(s) >= count and s, timeout)  # type: ignore[no-any-return]
