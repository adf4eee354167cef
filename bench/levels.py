"""Levels, multi-line messages and filters: what they cost (issue 14).

    python bench/levels.py              # all three figures (~1.5 minutes)
    python bench/levels.py --only detect|cpu|search

1. ``detect``: level detection plus ``follows`` on a mixed real-world log
   (Python, Go, Java, Node, nginx, klog, syslog, JSON; stack traces), in µs
   per line, as the hub runs it (``annotate`` on batches).
2. ``cpu``: a real ``tailcast -`` server fed 100 000 lines/s on its standard
   input, with 4 WebSocket clients subscribed to every line, then with 4
   subscribed through a filter (a rare word), then with none. The figure is
   the server process's CPU time (user + system, from ``/proc/PID/stat``) per
   second of feeding.
3. ``search``: the same server holding 1 000 000 kept lines; the time of
   ``GET /api/streams/ID/lines?q=RARE&before=LAST`` (the rare word is in the
   oldest lines: the search goes through the whole history, from disk).

Loopback only; the server is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tailcast.protocol.follows import MessageState, annotate  # noqa: E402

if TYPE_CHECKING:
    import aiohttp

MIXED = [
    "2024-05-01 12:00:00,123 - myapp - INFO - handled request id=42 in 12ms",
    'time=2024-05-01T12:00:00.000Z level=INFO msg="server started" port=8080',
    '{"level":"info","ts":1714564800.1,"caller":"main.go:12","msg":"request done"}',
    '{"level":30,"time":1714564800000,"pid":1,"msg":"request completed"}',
    "12:00:00.123 [main] INFO  com.example.App - no errors found",
    "2024/05/01 12:00:00 [error] 31#31: *1 open() failed (2: No such file)",
    '10.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET /api HTTP/1.1" 200 12',
    "I0501 12:00:00.123456       1 leaderelection.go:248] attempting",
    "May  1 12:00:00 web1 sshd[4242]: Accepted publickey for alice",
    "ERROR:root:payment failed",
    "Traceback (most recent call last):",
    '  File "/app/pay.py", line 10, in charge',
    '    raise ValueError("card declined")',
    "ValueError: card declined",
    "2024-05-01 12:00:00.123 ERROR 1 --- [main] c.e.App : request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.App.run(App.java:10)",
    "Caused by: java.io.IOException: Broken pipe",
    "plain output line with no level at all, just words",
    "WARN disk usage at 91%",
]


def bench_detect(lines: int = 400_000) -> float:
    texts = (MIXED * (lines // len(MIXED) + 1))[:lines]
    batches = [[(t, False) for t in texts[i : i + 200]] for i in range(0, lines, 200)]
    best = float("inf")
    for _ in range(3):
        state = MessageState()
        # CPU time, not wall time: on a shared machine the wall clock also
        # counts the time other processes had the core.
        start = time.thread_time()
        for batch in batches:
            annotate(state, batch, None)
        best = min(best, time.thread_time() - start)
    per_line = best / lines * 1e6
    print(
        f"detect: level + follows on a mixed real-world log: {per_line:.2f} µs/line (CPU), "
        f"Python {sys.version.split()[0]} at {sys.executable}"
    )
    return per_line


# Clients per phase: several, so that what a subscription costs stands out of
# what publishing costs (numbering, detection, the history on disk).
CLIENTS = 4


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """``python -m tailcast - --port 0``, fed on its stdin."""

    def __init__(self, history: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tailcast", "app=-", "--port", "0", "--history", str(history)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline().decode()
        match = re.search(r"on (http://\S+)", line)
        if match is None:
            raise SystemExit(f"the server did not start: {line!r}")
        self.url = match.group(1).rstrip("/") + "/"
        self.seq = 0

    def feed_bytes(self, count: int, word_every: int = 0) -> bytes:
        out = []
        for _ in range(count):
            self.seq += 1
            rare = " needle" if word_every and self.seq % word_every == 0 else ""
            out.append(f"2024-05-01 12:00:00 INFO app line {self.seq} hello world{rare}\n")
        return "".join(out).encode()

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


async def _reader(
    session: aiohttp.ClientSession, url: str, frame: dict[str, Any], got: list[int]
) -> None:
    async with session.ws_connect(url, protocols=("tailcast.v1",), max_msg_size=0) as ws:
        await ws.receive()  # hello
        await ws.send_str(json.dumps(frame))
        async for msg in ws:
            got[0] += msg.data.count('{"seq":')  # cheap: the reader must keep up


async def _phase(
    server: Server, frame: dict[str, Any] | None, rate: int, seconds: float
) -> tuple[float, int]:
    """Feed ``rate`` lines/s for ``seconds`` to :data:`CLIENTS` clients or none; server CPU s/s."""
    import aiohttp  # here, not at the top: ``--only detect`` runs under any Python 3.11

    got = [0]
    async with aiohttp.ClientSession() as session:
        url = server.url.replace("http", "ws") + "ws"
        tasks = (
            []
            if frame is None
            else [asyncio.create_task(_reader(session, url, frame, got)) for _ in range(CLIENTS)]
        )
        await asyncio.sleep(1.0)  # connected and subscribed
        assert server.proc.stdin is not None
        step = 0.01
        per_step = int(rate * step)
        cpu0 = cpu_seconds(server.proc.pid)
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            server.proc.stdin.write(server.feed_bytes(per_step, word_every=50_000))
            server.proc.stdin.flush()
            n += 1
            delay = start + n * step - time.monotonic()
            await asyncio.sleep(max(delay, 0))
        await asyncio.sleep(0.5)  # the last lines delivered
        used = (cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - start)
        for task in tasks:
            task.cancel()
    return used, got[0]


async def bench_cpu(rate: int = 100_000, seconds: float = 8.0, rounds: int = 3) -> None:
    server = Server(history=1_000_000)
    try:
        everything = {"type": "subscribe", "streams": ["app"], "tail": 0}
        filtered = {**everything, "filter": {"text": "needle"}}
        phases = (("unfiltered", everything), ("filtered", filtered), ("no client", None))
        # Round after round, so a drift of the machine's load shows in the
        # figures and the medians say what a subscription costs.
        figures: dict[str, list[float]] = {name: [] for name, _ in phases}
        for _ in range(rounds):
            for name, frame in phases:
                used, got = await _phase(server, frame, rate, seconds)
                figures[name].append(used)
                share = f"{used * 100:5.1f} % of a core"
                print(f"cpu: {rate} lines/s, {name:10}: server CPU {share} ({got} lines sent)")
        medians = ", ".join(
            f"{name} {statistics.median(values) * 100:.1f} %" for name, values in figures.items()
        )
        print(f"cpu: medians over {rounds} rounds, {CLIENTS} clients: {medians}")
    finally:
        server.stop()


async def bench_search(lines: int = 1_000_000) -> None:
    import aiohttp

    server = Server(history=lines)
    try:
        assert server.proc.stdin is not None
        # The rare word only in the oldest lines: the search reads everything.
        server.proc.stdin.write(server.feed_bytes(10))
        server.seq -= 10
        server.proc.stdin.write(b"".join(f"rare needle {i}\n".encode() for i in range(3)))
        server.seq += 3 + 10
        while server.seq < lines:
            server.proc.stdin.write(server.feed_bytes(min(10_000, lines - server.seq)))
        server.proc.stdin.flush()
        async with aiohttp.ClientSession() as session:
            last = 0
            while last < lines:
                await asyncio.sleep(0.5)
                async with session.get(server.url + "api/streams") as response:
                    last = (await response.json())["streams"][0]["last_seq"]
            url = server.url + f"api/streams/app/lines?q=needle&before={last + 1}&limit=10"
            start = time.perf_counter()
            async with session.get(url) as response:
                body = await response.json()
            took = time.perf_counter() - start
        found = [line["text"] for line in body["lines"]]
        print(
            f"search: q=needle before the newest of {last} kept lines: {took:.2f} s, "
            f"{len(found)} found, next_before={body.get('next_before')}"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("detect", "cpu", "search"))
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args()
    if ns.only in (None, "detect"):
        bench_detect()
    if ns.only in (None, "cpu"):
        asyncio.run(bench_cpu(ns.rate, ns.seconds, ns.rounds))
    if ns.only in (None, "search"):
        asyncio.run(bench_search(ns.lines))


if __name__ == "__main__":
    main()
