"""The benchmark's client side: a lean WebSocket client and the worker process that runs many.

The machine has two cores shared by server and clients, so the clients must
be cheap, and the *same* code must serve tailcast and the peer:

- :class:`WSProtocol` is an asyncio ``Protocol`` (no aiohttp, no per-message
  futures): it does the upgrade, splits the byte stream into WebSocket frames
  (server frames are unmasked) and hands every text payload to
  :meth:`Tracker.message`;
- :class:`Tracker` is the only place that differs by server: a tailcast
  payload is a JSON batch whose lines carry the writer's marker in their
  text; a websocketd payload is one raw line. The markers of all payloads of
  one read are pulled out with one regular expression in both cases, and a
  run whose sequence numbers are exactly the next ones expected is checked
  against a precomputed byte string in one comparison: no per-line Python
  loop on the common path. Frames other than ``lines`` (``gap`` above all)
  are parsed as JSON (msgspec, json without it); one ``lines`` frame in
  ``json_every`` is parsed in full too and its lines counted against the
  markers, so a malformed batch is caught without paying a full JSON parse
  per line on two shared cores.

Every line the writer appends carries ``@SEQUENCE:SEND_TIME;`` (sequence
zero-padded to ten digits, send time from ``time.monotonic()``, which is one
clock for every process on Linux). Sequence 0 marks warm-up lines.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from array import array
from multiprocessing.connection import Connection
from typing import Any

try:
    import msgspec

    _loads: Any = msgspec.json.decode
except ImportError:  # pragma: no cover - msgspec comes with tailcast
    _loads = json.loads

__all__ = ["MARKER", "SEQ_WIDTH", "Tracker", "WSProtocol", "expected_bytes", "worker_main"]

SEQ_WIDTH = 10
MARKER = re.compile(rb"@(\d{%d}):(\d+\.\d+);" % SEQ_WIDTH)
SEQ = re.compile(rb"@(\d{%d}):" % SEQ_WIDTH)
LINES_PREFIX = b'{"type":"lines",'
MAX_FRAME = 64 * 1024 * 1024  # a bound on what one client will buffer


def expected_bytes(count: int) -> bytes:
    """The concatenated zero-padded sequence numbers 1..count (built once per worker)."""
    return b"".join(b"%010d" % i for i in range(1, count + 1))


class Tracker:
    """What one client received: loss, duplicates, latency samples, gaps."""

    def __init__(
        self, kind: str, count: int, expected: bytes, sample: int, json_every: int
    ) -> None:
        self.kind = kind  # "tailcast" or "raw"
        self.count = count
        self.expected = expected
        self.sample = sample  # keep the latency of every sample-th line
        self.json_every = json_every  # parse every n-th lines frame as JSON in full
        self.next = 1  # the next sequence number of the in-order fast path
        self.runs: list[list[int]] = []  # [first, last] received in order, once
        self.extra: list[int] = []  # sequence numbers received out of order
        self.warm = 0
        self.frames = 0
        self.lines_frames = 0
        self.bad_frames = 0
        self.gap_frames: list[tuple[int, int]] = []
        self.latency = array("d")
        # When each latency sample arrived (the same index): a run's p99 per
        # second of it tells a steady tail from a few slow moments.
        self.arrived = array("d")
        self.first_rx = 0.0
        self.last_rx = 0.0  # when the newest measured line arrived
        self.received = 0  # measured lines received (duplicates included)

    def messages(self, payloads: list[bytearray], now: float) -> None:
        """The text frames of one read, in order."""
        self.frames += len(payloads)
        if self.kind == "raw":
            # One line per message: the markers of all of them in one pass.
            self._lines(b"\n".join(payloads), now)
            return
        batch: list[bytearray] = []
        for p in payloads:
            if p.startswith(LINES_PREFIX):
                self.lines_frames += 1
                if self.lines_frames % self.json_every == 0:
                    self._check_json(p)
                batch.append(p)
                continue
            if batch:  # keep lines and gaps in order
                self._lines(b"".join(batch), now)
                batch = []
            try:
                obj = _loads(p)
            except ValueError:
                self.bad_frames += 1
                continue
            if obj.get("type") == "gap":
                self.gap_frames.append((int(obj["from"]), int(obj["to"])))
        if batch:
            self._lines(b"".join(batch), now)

    def _check_json(self, payload: bytearray) -> None:
        """A lines frame must be valid JSON with exactly the lines the markers say."""
        try:
            obj = _loads(payload)
            texts = [line["text"] for line in obj["lines"]]
            markers = SEQ.findall(payload)
            if len(texts) != len(markers) or not all(t.startswith("@") for t in texts):
                self.bad_frames += 1
        except (ValueError, KeyError, TypeError):
            self.bad_frames += 1

    def _lines(self, data: bytes, now: float) -> None:
        if self.sample == 1:
            found = MARKER.findall(data)
            seqs = [f[0] for f in found]
        else:
            found = []
            seqs = SEQ.findall(data)
        n = len(seqs)
        if not n:
            return
        first = int(seqs[0])
        start = (first - 1) * SEQ_WIDTH
        in_order = (
            first == self.next
            and first + n - 1 <= self.count
            and b"".join(seqs) == self.expected[start : start + n * SEQ_WIDTH]
        )
        if in_order:
            runs = self.runs
            if runs and runs[-1][1] + 1 == first:
                runs[-1][1] = first + n - 1
            else:
                runs.append([first, first + n - 1])
            self.next = first + n
            self.received += n
        else:
            measured = 0
            for seq_b in seqs:
                seq = int(seq_b)
                if seq == 0:
                    self.warm += 1
                    continue
                measured += 1
                self.extra.append(seq)
                if seq >= self.next:
                    self.next = seq + 1
            if not measured:
                return
            self.received += measured
        if not self.first_rx:
            self.first_rx = now
        self.last_rx = now
        if found:
            zero = b"0" * SEQ_WIDTH
            samples = [now - float(f[1]) for f in found if f[0] != zero]
            self.latency.extend(samples)
            self.arrived.extend(array("d", [now]) * len(samples))
            return
        # Every sample-th sequence number: find its marker and read its send time.
        if not in_order:
            return  # warm-up lines, or after a gap: not a latency sample
        step = self.sample
        seq = first + (-first) % step
        pos = 0
        while seq < first + n:
            # In order, so each marker is after the previous one: scan forward only.
            at = data.find(b"@%010d:" % seq, pos)
            if at < 0:
                break
            pos = data.find(b";", at)
            self.latency.append(now - float(data[at + SEQ_WIDTH + 2 : pos]))
            self.arrived.append(now)
            seq += step

    def result(self) -> dict[str, Any]:
        counts = bytearray(self.count + 1)
        for first, last in self.runs:
            counts[first : last + 1] = b"\x01" * (last - first + 1)
        unexpected = 0
        for seq in self.extra:
            if 1 <= seq <= self.count:
                counts[seq] = min(255, counts[seq] + 1)
            else:
                unexpected += 1
        body = counts[1:]
        lost = body.count(0)
        dup = sum((v - 1) * body.count(v) for v in range(2, 256) if v in body)
        gap_lines = sum(b - a + 1 for a, b in self.gap_frames)
        return {
            "unique": self.count - lost,
            "lost": lost,
            "dup": dup,
            "unexpected": unexpected,
            "warm": self.warm,
            "frames": self.frames,
            "bad_frames": self.bad_frames,
            "gaps": len(self.gap_frames),
            "gap_lines": gap_lines,
            "first_rx": self.first_rx,
            "last_rx": self.last_rx,
        }


class WSProtocol(asyncio.Protocol):
    """One WebSocket client connection; see the module docstring."""

    def __init__(self, host: str, port: int, path: str, tracker: Tracker) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.tracker = tracker
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.role_stalled = False  # this client is the one that stops reading
        self.last_data = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.last_data = now
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status:
                self._fail(f"upgrade refused: {status.decode(errors='replace')}")
                return
            del buf[: end + 4]
            self.upgraded = True
            if not self.ready.done():
                self.ready.set_result(None)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buf
        size = len(buf)
        i = 0
        texts: list[bytearray] = []
        while size - i >= 2:
            b0 = buf[i]
            length = buf[i + 1] & 0x7F
            head = 2
            if length == 126:
                if size - i < 4:
                    break
                length = int.from_bytes(buf[i + 2 : i + 4], "big")
                head = 4
            elif length == 127:
                if size - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            if length > MAX_FRAME:
                self._fail("frame larger than the benchmark accepts")
                return
            end = i + head + length
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 1:
                # Neither server fragments its frames; a fragment would fail the check below.
                texts.append(buf[i + head : end])
            elif opcode == 9 and self.transport is not None:  # ping -> pong (masked, zero key)
                body = bytes(buf[i + head : end])
                self.transport.write(bytes([0x8A, 0x80 | len(body)]) + b"\0\0\0\0" + body)
            elif opcode == 8:
                if self.transport is not None:
                    self.transport.close()
            elif opcode != 10:
                self.tracker.bad_frames += 1
            i = end
        if i:
            del buf[:i]
        if texts:
            self.tracker.messages(texts, now)

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def stall(self) -> None:
        """Stop reading entirely: the kernel buffers fill, then the server's."""
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()


class Worker:
    """One worker process: a share of the clients, driven by commands over a pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.clients: list[WSProtocol] = []
        self.expected = b""

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[Any] = asyncio.Queue()
        loop.add_reader(self.conn.fileno(), lambda: commands.put_nowait(self.conn.recv()))
        try:
            while True:
                cmd, args = await commands.get()
                if cmd == "quit":
                    await self.close()
                    self.conn.send(("ok", None))
                    return
                try:
                    reply = await getattr(self, "cmd_" + cmd)(**args)
                    self.conn.send(("ok", reply))
                except Exception as exc:  # reported to the orchestrator, never hidden
                    self.conn.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            loop.remove_reader(self.conn.fileno())

    async def cmd_connect(
        self,
        port: int,
        path: str,
        kind: str,
        clients: int,
        count: int,
        sample: int,
        stalled: int,
        json_every: int,
    ) -> int:
        if len(self.expected) != count * SEQ_WIDTH:
            self.expected = expected_bytes(count)
        loop = asyncio.get_running_loop()
        for n in range(clients):
            tracker = Tracker(kind, count, self.expected, sample, json_every)
            _, proto = await loop.create_connection(
                lambda t=tracker: WSProtocol("127.0.0.1", port, path, t),  # type: ignore[misc]
                "127.0.0.1",
                port,
            )
            await asyncio.wait_for(proto.ready, 10)
            proto.role_stalled = n < stalled
            self.clients.append(proto)
        return len(self.clients)

    async def cmd_stall(self) -> int:
        """Stop reading on the clients marked stalled (after the warm-up)."""
        stalled = [c for c in self.clients if c.role_stalled]
        for c in stalled:
            c.stall()
        return len(stalled)

    async def cmd_resume(self) -> int:
        stalled = [c for c in self.clients if c.role_stalled]
        for c in stalled:
            c.resume()
        return len(stalled)

    async def cmd_progress(self) -> dict[str, Any]:
        readers = [c for c in self.clients if not c.role_stalled]
        return {
            "warm_ready": sum(1 for c in self.clients if c.tracker.warm > 0),
            "readers_done": sum(1 for c in readers if c.tracker.next > c.tracker.count),
            "received": sum(c.tracker.received for c in self.clients),
            "closed": sum(1 for c in self.clients if c.closed.done()),
            "last_data": max((c.last_data for c in self.clients), default=0.0),
        }

    async def cmd_results(self) -> dict[str, Any]:
        latency: dict[bool, array[float]] = {False: array("d"), True: array("d")}
        arrived: array[float] = array("d")
        per_client = []
        for c in self.clients:
            r = c.tracker.result()
            r["stalled"] = c.role_stalled
            per_client.append(r)
            latency[c.role_stalled].extend(c.tracker.latency)
            if not c.role_stalled:
                arrived.extend(c.tracker.arrived)
        return {
            "clients": per_client,
            "latency": latency[False].tobytes(),
            "arrived": arrived.tobytes(),
            "cpu": sum(os.times()[:2]),
        }

    async def cmd_results_cpu(self) -> float:
        """CPU seconds this worker process has used so far."""
        return sum(os.times()[:2])

    async def cmd_disconnect(self) -> int:
        n = len(self.clients)
        await self.close()
        return n

    async def close(self) -> None:
        for c in self.clients:
            if c.transport is not None:
                c.transport.abort()
        self.clients.clear()


def worker_main(conn: Connection) -> None:
    """Entry point of a worker process (multiprocessing target)."""
    worker = Worker(conn)
    asyncio.run(worker.run())
