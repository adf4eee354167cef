"""Soak: a tailcast server under a long, mixed, partly hostile load.

For ``--minutes`` (default 10) a writer appends numbered lines to a file the
server follows, while

- ``--ws`` WebSocket clients (default 60) connect: ``--stayers`` of them (10)
  stay the whole run and check that they get every line once, in order (seq
  contiguity); the others come and go, reading for a few seconds, and leave
  with a close handshake or vanish (the socket reset, no close);
- ``--sse`` SSE clients (10) come and go the same way;
- ``--pollers`` HTTP pollers (10) page through ``/api/streams/log/lines``,
  ``/healthz`` and ``/metrics``;
- ``--attackers`` half-open connections (20) that send part of a request and
  nothing more are opened again as the server drops them.

Every ``--interval`` seconds it prints the server's resident memory,
descriptors, threads (from /proc) and asyncio tasks (``/metrics``); at the end
their least-squares slope per minute (over the whole run and over its second
half, after warm-up), and the lines lost by the clients that stayed (must be
0). Exit status 1 if a line was lost. Loopback only; it stops what it started.

    python bench/soak.py --minutes 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

__all__ = ["main", "slope"]

SERVING = re.compile(r"serving \d+ streams? on (\S+)")
PAD = "x" * 60


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y): y's change per unit of t."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


@dataclass
class Run:
    url: str
    pid: int
    log: Path
    end: float
    written: int = 0
    final: int = 0  # the last seq, once the writer has stopped
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


async def writer(run: Run, rate: float) -> None:
    """``rate`` lines a second, in batches of a tenth of a second."""
    batch = max(1, int(rate / 10))
    with run.log.open("a") as fh:
        while time.monotonic() < run.end:
            fh.write("".join(f"soak {run.written + i + 1:09d} {PAD}\n" for i in range(batch)))
            fh.flush()
            run.written += batch
            await asyncio.sleep(0.1)


class Stayer:
    """An aiohttp WebSocket client for the whole run: every seq it got."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.closed_early: int | None = None
        self.caught_up = asyncio.Event()  # set once the run's final seq is in

    async def run(self, session: aiohttp.ClientSession, run: Run) -> None:
        async with session.ws_connect(
            run.url.replace("http", "ws", 1) + "ws", protocols=("tailcast.v1",), max_msg_size=0
        ) as ws:
            await ws.send_json({"type": "subscribe", "streams": ["log"], "since": {"log": 0}})
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame["type"] == "lines":
                    self.seqs.extend(line["seq"] for line in frame["lines"])
                    if run.final and self.seqs[-1] >= run.final:
                        self.caught_up.set()
                elif frame["type"] == "gap":
                    run.errors.append(f"gap {frame}")
            self.closed_early = ws.close_code


def _frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame (short payloads only)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


async def churner(run: Run, rng: random.Random) -> None:
    """A raw WebSocket client that reads a while, then closes or vanishes; again."""
    while time.monotonic() < run.end:
        reader, w = await asyncio.open_connection("127.0.0.1", run.port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade"
            f"\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: tailcast.v1\r\n\r\n".encode()
        )
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            w.write(
                _frame(json.dumps({"type": "subscribe", "streams": ["log"], "tail": 10}).encode())
            )
            stop = time.monotonic() + rng.uniform(1, 8)
            while time.monotonic() < stop:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(65536), stop - time.monotonic())
            if rng.random() < 0.4:
                w.transport.abort()  # vanish: no close frame, a reset
                run.count("ws vanished")
            else:
                w.write(_frame(b"\x03\xe8", opcode=8))
                await w.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(), 5)
                w.close()
                run.count("ws closed")
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            run.errors.append(f"ws churner: {exc!r}")
            w.transport.abort()


async def sse_client(session: aiohttp.ClientSession, run: Run, rng: random.Random) -> None:
    while time.monotonic() < run.end:
        async with session.get(run.url + "api/streams/log/events?tail=5") as response:
            stop = time.monotonic() + rng.uniform(1, 8)
            while time.monotonic() < stop:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(response.content.readany(), stop - time.monotonic())
        run.count("sse")


async def poller(session: aiohttp.ClientSession, run: Run, rng: random.Random) -> None:
    since = 0
    while time.monotonic() < run.end:
        async with session.get(run.url + f"api/streams/log/lines?since={since}&limit=200") as r:
            lines = (await r.json())["lines"]
            since = lines[-1]["seq"] if lines else since
        path = rng.choice(("healthz", "metrics", "api/streams"))
        async with session.get(run.url + path) as r:
            await r.read()
        run.count("polls")
        await asyncio.sleep(0.5)


async def attacker(run: Run) -> None:
    """A half-open request, opened again each time the server drops it."""
    while time.monotonic() < run.end:
        reader, w = await asyncio.open_connection(
            "127.0.0.1", run.port, local_addr=("127.0.0.9", 0)
        )
        w.write(b"GET /healthz HTTP/1.1\r\nHo")
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(reader.read(), max(0.1, run.end - time.monotonic()))
        w.transport.abort()
        run.count("half-open dropped")


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, descriptors, threads) of ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss = int(fields["VmRSS"].split()[0]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


async def tasks_of(session: aiohttp.ClientSession, run: Run) -> int:
    async with session.get(run.url + "metrics") as r:
        m = re.search(r"^tailcast_tasks (\S+)$", await r.text(), re.M)
    return int(float(m.group(1))) if m else -1


async def sampler(
    session: aiohttp.ClientSession, run: Run, interval: float, rows: list[list[float]]
) -> None:
    start = time.monotonic()
    print(f"{'min':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'tasks':>6} {'written':>9}")
    while True:
        rss, fds, threads = proc_sample(run.pid)
        tasks = await tasks_of(session, run)
        t = (time.monotonic() - start) / 60
        rows.append([t, rss, fds, threads, tasks])
        print(f"{t:6.2f} {rss:8.1f} {fds:5d} {threads:7d} {tasks:6d} {run.written:9d}", flush=True)
        if time.monotonic() >= run.end:
            return
        await asyncio.sleep(min(interval, max(0.0, run.end - time.monotonic())))


def report(rows: list[list[float]], stayers: list[Stayer], run: Run, last_seq: int) -> int:
    names = ("RSS MiB", "fds", "threads", "tasks")
    half = [r for r in rows if r[0] >= rows[-1][0] / 2]
    print("\nslope per minute (least squares): whole run / second half")
    for i, name in enumerate(names, start=1):
        whole = slope([(r[0], r[i]) for r in rows])
        second = slope([(r[0], r[i]) for r in half])
        print(f"  {name:8} {whole:+9.3f} / {second:+9.3f}")
    lost = 0
    for s in stayers:
        got = sorted(set(s.seqs))
        lost += last_seq - len(got)
        if len(got) != len(s.seqs):
            run.errors.append(f"a stayer got {len(s.seqs) - len(got)} lines twice")
    print(f"lines written {run.written}, last seq {last_seq}; {len(stayers)} stayers lost {lost}")
    print("client actions:", ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())))
    for e in run.errors[:10]:
        print("error:", e)
    return 1 if lost or any("twice" in e or "gap" in e for e in run.errors) else 0


async def soak(args: argparse.Namespace, url: str, pid: int, log: Path) -> int:
    run = Run(url, pid, log, time.monotonic() + args.minutes * 60)
    rng = random.Random(args.seed)
    rows: list[list[float]] = []
    stayers = [Stayer() for _ in range(args.stayers)]
    limits = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=limits) as session:
        jobs = [asyncio.ensure_future(s.run(session, run)) for s in stayers]
        jobs += [
            asyncio.ensure_future(churner(run, random.Random(rng.random())))
            for _ in range(args.ws - args.stayers)
        ]
        jobs += [
            asyncio.ensure_future(sse_client(session, run, random.Random(rng.random())))
            for _ in range(args.sse)
        ]
        jobs += [
            asyncio.ensure_future(poller(session, run, random.Random(rng.random())))
            for _ in range(args.pollers)
        ]
        jobs += [asyncio.ensure_future(attacker(run)) for _ in range(args.attackers)]
        jobs.append(asyncio.ensure_future(writer(run, args.rate)))
        await sampler(session, run, args.interval, rows)
        # Let the stayers catch the last lines, then end them.
        async with session.get(url + "api/streams") as r:
            last_seq = next(s for s in (await r.json())["streams"] if s["id"] == "log")["last_seq"]
        run.final = last_seq
        for s in stayers:
            if s.seqs and s.seqs[-1] >= last_seq:
                s.caught_up.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.caught_up.wait() for s in stayers)), 30)
        for job in jobs:
            job.cancel()
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for res in results:
            if isinstance(res, Exception) and not isinstance(res, asyncio.CancelledError):
                run.errors.append(repr(res))
    return report(rows, stayers, run, last_seq)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--ws", type=int, default=60)
    p.add_argument("--stayers", type=int, default=10)
    p.add_argument("--sse", type=int, default=10)
    p.add_argument("--pollers", type=int, default=10)
    p.add_argument("--attackers", type=int, default=20)
    p.add_argument("--rate", type=float, default=200.0, help="lines a second")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tailcast-soak-") as tmp:
        log = Path(tmp) / "soak.log"
        log.write_text("")
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        cmd = [sys.executable, "-m", "tailcast", "--port", "0", "--lines", "0", f"log={log}"]
        server = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env, cwd=root)
        try:
            assert server.stderr is not None
            first = server.stderr.readline().decode()
            m = SERVING.search(first)
            if not m:
                print(f"soak: tailcast did not start: {first!r}", file=sys.stderr)
                return 2
            print(f"soak: {args.minutes:g} min against {m.group(1)} (pid {server.pid})")
            logged: list[str] = []
            pipe = server.stderr
            # Read as it comes: a full pipe would block the server.
            threading.Thread(
                target=lambda: logged.extend(map(bytes.decode, pipe)), daemon=True
            ).start()
            status = asyncio.run(soak(args, m.group(1), server.pid, log))
            bad = [line for line in logged if " ERROR " in line or "Traceback" in line]
            print(f"server log: {len(logged)} lines, {len(bad)} errors", *bad[:5], sep="\n")
            return status or (1 if bad else 0)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.exit(main())
