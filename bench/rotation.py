"""Lines lost at log rotation: tailcast following FILE vs ``websocketd tail -n0 -F FILE``.

Usage::

    python bench/rotation.py                 # three styles, ~30 s
    python bench/rotation.py --rate 2000 --seconds 10 --styles rename-late

For each rotation style, in the same run, a writer process appends numbered,
time-stamped lines (``@SEQUENCE:SEND_TIME;``, as :mod:`writer` does) at a
steady rate and rotates the file every ``--every`` seconds; one WebSocket
client follows it through each server:

- ``rename``: rename to ``FILE.N``, the writer reopens FILE at once;
- ``rename-late``: rename, and the writer keeps appending to the renamed file
  for ``--late-ms`` before it reopens (a ``postrotate`` SIGHUP; the case of
  ``peers.md``);
- ``copytruncate``: another thread copies FILE to ``FILE.N`` and truncates it
  while the writer goes on. Lines written between the copy and the truncation
  are in no file: the table shows how many (``in no file``); nobody can
  deliver those.

Reported per server: lines lost (never received), duplicated, and the
append -> client latency (p50/p99/max) of this single client. Latency with 20
clients is ``bench/bench.py --tailcast-source file --only steady``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from procs import Group, websocketd_argv  # noqa: E402

MARKER = re.compile(rb"@(\d{10}):(\d+\.\d+);")
STYLES = ("rename", "rename-late", "copytruncate")
LINE_BYTES = 100


def line(seq: int) -> bytes:
    head = b"@%010d:%.6f;" % (seq, time.monotonic())
    return head + b"x" * (LINE_BYTES - len(head) - 1) + b"\n"


# -- the writer (a process of its own: `rotation.py --writer ...`) ----------------------


def writer_main(
    path: str, style: str, rate: float, seconds: float, every: float, late: float
) -> int:
    """Append lines at ``rate``/s for ``seconds``, rotating every ``every`` s; print the count."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    count = int(rate * seconds)
    start = time.monotonic()
    next_rotation = start + every
    reopen_at: float | None = None
    rotations = 0
    rotators: list[threading.Thread] = []

    def copytruncate(n: int) -> None:
        shutil.copyfile(path, f"{path}.{n}")
        os.truncate(path, 0)

    for seq in range(1, count + 1):
        now = time.monotonic()
        if reopen_at is not None and now >= reopen_at:
            os.close(fd)
            fd = os.open(path, flags, 0o644)
            reopen_at = None
        if now >= next_rotation:
            rotations += 1
            next_rotation += every
            if style == "copytruncate":
                t = threading.Thread(target=copytruncate, args=(rotations,))
                t.start()
                rotators.append(t)
            else:
                os.rename(path, f"{path}.{rotations}")
                if style == "rename":
                    os.close(fd)
                    fd = os.open(path, flags, 0o644)
                else:
                    reopen_at = now + late
        os.write(fd, line(seq))
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for t in rotators:
        t.join()
    os.close(fd)
    print(count, rotations, flush=True)
    return 0


# -- the orchestrator ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, group: Group, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not group.alive():
            raise RuntimeError(f"{group.name} exited at start")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{group.name} did not listen on {port}")


class Client:
    """One WebSocket client: every marker it received, and when."""

    def __init__(self, name: str, tailcast: bool) -> None:
        self.name = name
        self.tailcast = tailcast
        self.seqs: list[int] = []
        self.latency: list[float] = []
        self.warm = False
        self.last_rx = time.monotonic()

    def take(self, payload: bytes, now: float) -> None:
        for m in MARKER.finditer(payload):
            seq = int(m.group(1))
            self.last_rx = now
            if seq == 0:
                self.warm = True
                continue
            self.seqs.append(seq)
            self.latency.append(now - float(m.group(2)))

    async def run(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = msg.data.encode()
                    if self.tailcast and not data.startswith(b'{"type":"lines"'):
                        continue  # hello, status: no markers
                    self.take(data, time.monotonic())
                else:
                    break


def make_log(d: Path) -> str:
    d.mkdir()
    path = d / "app.log"
    path.write_bytes(b"")
    return str(path)


def append_warm(path: str) -> None:
    with open(path, "ab") as fh:
        fh.write(b"@%010d:%.6f;warm\n" % (0, time.monotonic()))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


async def run_style(style: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    d = work / style
    path = make_log(d)
    env_path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ["PYTHONPATH"] = env_path
    tc_port, wd_port = free_port(), free_port()
    log = str(d / "servers.log")
    groups = {
        "tailcast": Group.start_pipeline(
            "tailcast",
            [
                [
                    sys.executable,
                    "-m",
                    "tailcast",
                    path,
                    "--port",
                    str(tc_port),
                    "--lines",
                    "0",
                    "--history",
                    "1000000",
                ]
            ],
            main=0,
            log=log,
        ),
        "websocketd": Group.start_pipeline(
            "websocketd",
            [websocketd_argv(args.websocketd, wd_port, path)],
            main=0,
            log=log,
        ),
    }
    clients = {"tailcast": Client("tailcast", True), "websocketd": Client("websocketd", False)}
    urls = {
        "tailcast": f"ws://127.0.0.1:{tc_port}/ws?streams=*&tail=0",
        "websocketd": f"ws://127.0.0.1:{wd_port}/",
    }
    try:
        await wait_listening(tc_port, groups["tailcast"])
        await wait_listening(wd_port, groups["websocketd"])
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(c.run(session, urls[n])) for n, c in clients.items()]
            # Warm-up lines until both clients see one: every tail is running.
            deadline = time.monotonic() + 20
            while not all(c.warm for c in clients.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("clients did not warm up")
                append_warm(path)
                await asyncio.sleep(0.05)
            writer = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--writer",
                path,
                style,
                str(args.rate),
                str(args.seconds),
                str(args.every),
                str(args.late_ms / 1000),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await writer.communicate()
            count, rotations = (int(x) for x in out.split())
            # Drain: until every client has been quiet for a while.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                quiet = time.monotonic() - max(c.last_rx for c in clients.values())
                if quiet > args.drain and all(len(c.seqs) >= count for c in clients.values()):
                    break
                if quiet > args.drain * 3:
                    break
                await asyncio.sleep(0.1)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for g in groups.values():
            g.stop()
    in_files: set[int] = set()
    for f in d.glob("app.log*"):
        in_files.update(int(m.group(1)) for m in MARKER.finditer(f.read_bytes()))
    result: dict[str, Any] = {
        "style": style,
        "written": count,
        "rotations": rotations,
        "in_no_file": len(set(range(1, count + 1)) - in_files),
    }
    for name, c in clients.items():
        got = set(c.seqs)
        result[name] = {
            "received": len(c.seqs),
            "lost": len(set(range(1, count + 1)) - got),
            "duplicated": len(c.seqs) - len(got),
            "out_of_order": sum(1 for a, b in zip(c.seqs, c.seqs[1:], strict=False) if b < a),
            "latency_ms": {
                "p50": pct(c.latency, 0.5),
                "p99": pct(c.latency, 0.99),
                "max": pct(c.latency, 1.0),
            },
        }
    return result


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'style':<14}{'server':<12}{'written':>9}{'lost':>7}{'dup':>5}{'ooo':>5}"
        f"{'in no file':>12}   latency p50/p99/max ms"
    )
    for r in results:
        for name in ("tailcast", "websocketd"):
            s = r[name]
            lat = s["latency_ms"]
            print(
                f"{r['style']:<14}{name:<12}{r['written']:>9}{s['lost']:>7}{s['duplicated']:>5}"
                f"{s['out_of_order']:>5}{r['in_no_file']:>12}   "
                f"{fmt(lat['p50'])} / {fmt(lat['p99'])} / {fmt(lat['max'])}"
            )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--writer":
        path, style, rate, seconds, every, late = argv[1:7]
        return writer_main(path, style, float(rate), float(seconds), float(every), float(late))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--styles", default=",".join(STYLES), help="comma-separated rotation styles")
    p.add_argument("--rate", type=float, default=1000.0, help="lines per second")
    p.add_argument("--seconds", type=float, default=6.0, help="writing time per style")
    p.add_argument("--every", type=float, default=1.0, help="seconds between rotations")
    p.add_argument("--late-ms", type=float, default=100.0, help="rename-late: reopen delay")
    p.add_argument("--drain", type=float, default=1.5, help="quiet seconds that end a run")
    p.add_argument("--websocketd", default=shutil.which("websocketd") or "/usr/bin/websocketd")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    styles = [s for s in args.styles.split(",") if s]
    for s in styles:
        if s not in STYLES:
            p.error(f"unknown style {s!r}; one of {', '.join(STYLES)}")
    load = os.getloadavg()[0]
    print(
        f"rotation bench: {args.rate:g} lines/s for {args.seconds:g} s, a rotation every "
        f"{args.every:g} s; {os.cpu_count()} CPUs, load average {load:.2f}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="tailcast-rotation-") as tmp:
        for style in styles:
            results.append(asyncio.run(run_style(style, args, Path(tmp))))
            r = results[-1]
            print(
                f"  {style}: tailcast lost {r['tailcast']['lost']}, "
                f"websocketd lost {r['websocketd']['lost']} of {r['written']}",
                flush=True,
            )
    print()
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
