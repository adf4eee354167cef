"""Standard input (``-``) as a stream.

A pipe, socket or terminal is read with the event loop
(``connect_read_pipe``); anything epoll cannot watch — a regular file
redirected to stdin, ``/dev/null`` — is read in a worker thread instead. At
end of input the stream goes to ``exited`` and the server keeps serving its
history.

Nothing resumes after a restart: what a pipe gave the previous run is gone,
and a new standard input is a new stream of lines (numbered on from the
stream's history when the data dir knows it).
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import TYPE_CHECKING, Any, BinaryIO

from tailcast.sources.base import LinePump, Source

if TYPE_CHECKING:
    from tailcast.config import Config, SourceSpec
    from tailcast.hub import Hub

__all__ = ["StdinSource"]

READ_SIZE = 256 * 1024


class StdinSource(Source):
    """Reads the server's standard input (or any binary file object given)."""

    def __init__(
        self, spec: SourceSpec, hub: Hub, config: Config, stream_in: BinaryIO | None = None
    ) -> None:
        super().__init__(spec, hub, config)
        self.stream = hub.add_stream(spec.name, "stdin")
        self._in = stream_in if stream_in is not None else sys.stdin.buffer
        self.bytes_read = 0

    async def run(self) -> None:
        pump = LinePump(
            self.hub,
            self.stream,
            max_line=self.config.max_line,
            flush_delay=self.config.flush_delay,
        )
        self.hub.set_state(self.stream, "live")
        try:
            fd = self._in.fileno()
            mode = os.fstat(fd).st_mode
            # epoll refuses regular files and most character devices; the
            # loop would only report that from a callback, too late to fall back.
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd):
                await self._read_pipe(pump)
            else:
                await self._read_file(fd, pump)
        except OSError as exc:
            self.hub.set_state(self.stream, "error", message=f"reading standard input: {exc}")
            return
        pump.feed_eof()
        self.hub.set_state(self.stream, "exited")

    async def _read_pipe(self, pump: LinePump) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_SIZE, loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), self._in
        )
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    return
                self.bytes_read += len(data)
                pump.feed(data)
        finally:
            transport.close()

    async def _read_file(self, fd: int, pump: LinePump) -> None:
        while True:
            data = await asyncio.to_thread(os.read, fd, READ_SIZE)
            if not data:
                return
            self.bytes_read += len(data)
            pump.feed(data)

    def statistics(self) -> dict[str, Any]:
        return {"kind": "stdin", "bytes_read": self.bytes_read}
