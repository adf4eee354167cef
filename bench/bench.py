"""Benchmark tailcast against ``websocketd tail -n0 -F FILE`` (issue 2).

Usage::

    python bench/bench.py --quick          # ~1-2 minutes
    python bench/bench.py                  # the full run (~4-6 minutes)
    python bench/bench.py --tailcast-source file --only burst20

A writer process appends lines carrying ``@SEQUENCE:SEND_TIME;`` to a file;
K WebSocket clients (spread over a few worker processes, see
:mod:`wsclient`) follow it through each server in turn, in the same run:

- tailcast: ``tail -n0 -F FILE | python -m tailcast - --port P --history N``
  (``--tailcast-source stdin``, the default) or ``python -m tailcast FILE``
  (``--tailcast-source file``), clients on ``/ws?streams=*&tail=0``;
- the peer: ``websocketd --port P tail -n0 -F FILE`` (one ``tail`` per
  client, one WebSocket message per line, raw text).

Scenarios (issue 2's a-d):

- ``burst20``, ``burst100`` (a): the writer appends M lines as fast as it
  can; measured until every client has every line or a timeout; lines that
  never arrive count as lost;
- ``steady`` (b): 1 000 lines/s for a few seconds, 20 clients: latency;
- ``rss100`` (c): the same stream to 100 clients: peak RSS (``burst100``
  reports the peak under a burst too);
- ``stall`` (d): 20 clients of which one stops reading entirely: the others'
  throughput against ``burst20``, the server's memory, and what the stalled
  client gets once it reads again;
- ``overload`` (full run only): 2 000 000 lines to 20 clients, more than they
  can take in on two shared cores: tailcast's slow clients read on from the
  history (gaps only for lines that left it first) and it stays bounded in
  memory; the peer makes its ``tail`` processes wait.

``delivered`` counts only lines a client received; lines announced by a
``gap`` frame are lost (shown as "lost (of which in gaps)"), never delivered.

Before each measurement the clients must all have received a warm-up line, so
every ``tail`` is running and every client subscribed. Each server runs in a
process group of its own; RSS and CPU are summed over that group
(:mod:`procs`); only those groups are signalled at the end. Results are
printed as a table and written to ``bench/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from procs import Group, websocketd_argv  # noqa: E402
from writer import warm_line, writer_main  # noqa: E402
from wsclient import worker_main  # noqa: E402

MB = 1024 * 1024


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    count: int  # lines the writer appends
    rate: float = 0.0  # 0 = as fast as possible
    stalled: int = 0
    sample: int = 64  # latency of every sample-th line
    timeout: float = 30.0


def scenarios(quick: bool, rate: float, seconds: float | None) -> list[Scenario]:
    steady_s = seconds if seconds is not None else (5.0 if quick else 10.0)
    steady_n = int(rate * steady_s)
    if quick:
        return [
            Scenario("burst20", 20, 100_000, timeout=25),
            Scenario("burst100", 100, 20_000, timeout=25),
            Scenario("steady", 20, steady_n, rate=rate, sample=1, timeout=steady_s + 10),
            Scenario("rss100", 100, steady_n, rate=rate, sample=1, timeout=steady_s + 10),
            Scenario("stall", 20, 100_000, stalled=1, timeout=25),
        ]
    return [
        Scenario("burst20", 20, 500_000, timeout=60),
        Scenario("burst100", 100, 100_000, timeout=60),
        Scenario("steady", 20, steady_n, rate=rate, sample=1, timeout=steady_s + 15),
        Scenario("rss100", 100, steady_n, rate=rate, sample=1, timeout=steady_s + 15),
        Scenario("stall", 20, 500_000, stalled=1, timeout=60),
        # Far more than 20 clients can take in on two shared cores: tailcast
        # must stay bounded (slow clients read on from the history, with a gap
        # only past --history); the peer makes its tails wait.
        Scenario("overload", 20, 2_000_000, timeout=90),
    ]


# -- client workers -------------------------------------------------------------------


class Pool:
    """Client worker processes; commands go to all of them, replies are gathered."""

    def __init__(self, workers: int, json_every: int) -> None:
        self.json_every = json_every
        ctx = mp.get_context("fork")
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child,), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def call(
        self, cmd: str, per_worker: list[dict[str, Any]] | None = None, timeout: float = 60.0
    ) -> list[Any]:
        for i, conn in enumerate(self.conns):
            conn.send((cmd, per_worker[i] if per_worker else {}))
        replies = []
        for conn in self.conns:
            if not conn.poll(timeout):
                raise RuntimeError(f"client worker did not answer {cmd!r} in {timeout:.0f}s")
            status, value = conn.recv()
            if status != "ok":
                raise RuntimeError(f"client worker failed on {cmd!r}: {value}")
            replies.append(value)
        return replies

    def connect(self, port: int, path: str, kind: str, sc: Scenario) -> None:
        n = len(self.conns)
        shares = [sc.clients // n + (1 if i < sc.clients % n else 0) for i in range(n)]
        stalled = [1 if i < sc.stalled else 0 for i in range(n)]
        self.call(
            "connect",
            [
                {
                    "port": port,
                    "path": path,
                    "kind": kind,
                    "clients": shares[i],
                    "count": sc.count,
                    "sample": sc.sample,
                    "stalled": stalled[i],
                    "json_every": self.json_every,
                }
                for i in range(n)
            ],
        )

    def progress(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for reply in self.call("progress", timeout=20):
            for key, value in reply.items():
                if key.startswith("last"):
                    total[key] = max(total.get(key, 0.0), value)
                else:
                    total[key] = total.get(key, 0) + value
        return total

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("quit", timeout=10)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


# -- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(target: str, path: str, port: int, args: argparse.Namespace, log: str) -> Group:
    if target == "websocketd":
        return Group.start_pipeline(
            target,
            [websocketd_argv(args.websocketd, port, path)],
            main=0,
            log=log,
        )
    serve = [
        sys.executable,
        "-m",
        "tailcast",
        "--port",
        str(port),
        "--history",
        str(args.history),
        # The writer may pause mid-line for longer than the default 0.25 s on
        # a loaded machine; tailcast then shows the partial line and sends the
        # rest as a cont piece, which the clients' marker count would take for
        # a lost line. A burst has no real partial lines: wait longer for them.
        "--flush-delay",
        "5",
        *args.tailcast_arg,
    ]
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    if args.tailcast_source == "file":
        return Group.start_pipeline(target, [[*serve, path]], main=0, log=log)
    return Group.start_pipeline(
        target, [["tail", "-n0", "-F", path], [*serve, "-"]], main=1, log=log
    )


def wait_listening(group: Group, port: int, log: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group.alive():
            raise RuntimeError(f"{group.name} exited at start:\n{Path(log).read_text()[-2000:]}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{group.name} did not listen on {port} within {timeout}s")


def start_profiler(
    args: argparse.Namespace, target: str, sc: Scenario, group: Group, workdir: str
) -> subprocess.Popen[bytes] | None:
    """``--profile DIR``: py-spy samples the tailcast process during the measured phase."""
    if not args.profile or target != "tailcast":
        return None
    out = Path(args.profile) / f"{sc.name}.{args.profile_format}"
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(group.main_pid),
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            args.profile_format,
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # py-spy attaches
    return spy


def stop_profiler(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            spy.wait(15)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(5)


# -- one measurement ------------------------------------------------------------------


def percentile(sorted_values: array[float] | list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def p99_by_second(lat: array[float], arrived: array[float], start: float) -> list[float]:
    """The p99 (ms) of the samples that arrived in each whole second after ``start``.

    One p99 over a run cannot tell a tail that is always there from a few
    slow moments; a second with under 100 samples (the run's ragged end) is left out.
    """
    buckets: dict[int, list[float]] = {}
    for at, value in zip(arrived, lat, strict=True):
        buckets.setdefault(int(at - start), []).append(value)
    out = []
    for second in sorted(buckets):
        values = buckets[second]
        if second >= 0 and len(values) >= 100:
            values.sort()
            out.append(round((percentile(values, 0.99) or 0.0) * 1000, 1))
    return out


def measure(
    target: str, sc: Scenario, pool: Pool, args: argparse.Namespace, workdir: str
) -> dict[str, Any]:
    path = os.path.join(workdir, f"{target}-{sc.name}.log")
    log = os.path.join(workdir, f"{target}-{sc.name}.stderr")
    Path(path).write_bytes(b"")
    port = free_port()
    group = start_server(target, path, port, args, log)
    result: dict[str, Any] = {
        "target": target,
        "scenario": sc.name,
        "clients": sc.clients,
        "lines": sc.count,
        "rate": sc.rate or None,
    }
    try:
        wait_listening(group, port, log)
        kind, url_path = (
            ("raw", "/") if target == "websocketd" else ("tailcast", "/ws?streams=*&tail=0")
        )
        pool.connect(port, url_path, kind, sc)
        # Warm-up: every client must see a line, so every tail runs and every
        # client is subscribed before the measured lines start.
        deadline = time.monotonic() + 30
        with open(path, "ab", buffering=0) as f:
            while pool.progress()["warm_ready"] < sc.clients:
                if time.monotonic() > deadline:
                    raise RuntimeError("clients did not all receive the warm-up line")
                f.write(warm_line(args.line_bytes))
                time.sleep(0.05)
        time.sleep(0.2)  # let the last warm-up lines drain
        if sc.stalled:
            pool.call("stall")
        group.sample()
        rss_idle = group.peak_rss
        group.reset_peaks()
        spy = start_profiler(args, target, sc, group, workdir)
        cpu0 = group.cpu()
        client_cpu0 = sum(pool.call("results_cpu"))
        parent, child = mp.get_context("fork").Pipe()
        writer = mp.get_context("fork").Process(
            target=writer_main, args=(child, path, sc.count, args.line_bytes, sc.rate), daemon=True
        )
        writer.start()
        child.close()
        readers = sc.clients - sc.stalled
        deadline = time.monotonic() + sc.timeout
        timed_out = False
        writer_times: tuple[float, float] | None = None
        while True:
            group.sample()
            if writer_times is None and parent.poll():
                writer_times = parent.recv()
            prog = pool.progress()
            if writer_times is not None and prog["readers_done"] >= readers:
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.1)
        cpu = group.cpu() - cpu0
        client_cpu = sum(pool.call("results_cpu")) - client_cpu0
        stop_profiler(spy)
        measured_end = time.monotonic()
        writer.join(10)
        if writer_times is None and parent.poll(1):
            writer_times = parent.recv()
        stalled_info: dict[str, Any] = {}
        if sc.stalled:
            stalled_info["peak_rss_while_stalled"] = group.peak_rss
            pool.call("resume")
            # Let the stalled client drain until it has been quiet for a second.
            drain_deadline = time.monotonic() + args.drain
            while time.monotonic() < drain_deadline:
                group.sample()
                if time.monotonic() - pool.progress()["last_data"] > 1.0:
                    break
                time.sleep(0.1)
        replies = pool.call("results")
        pool.call("disconnect")
        started = writer_times[0] if writer_times else measured_end
        result.update(summarise(replies, started, writer_times, sc))
        result.update(
            {
                "timed_out": timed_out,
                "server_cpu_s": round(cpu, 3),
                "client_cpu_s": round(client_cpu, 3),
                "rss_idle_mb": round(rss_idle / MB, 1),
                "peak_rss_mb": round(group.peak_rss / MB, 1),
                "peak_main_rss_mb": round(group.peak_main_rss / MB, 1),
                "peak_procs": group.peak_procs,
            }
        )
        if stalled_info:
            result["peak_rss_while_stalled_mb"] = round(
                stalled_info["peak_rss_while_stalled"] / MB, 1
            )
        elapsed = result.get("elapsed_s") or 0
        if elapsed:
            result["server_cpu_pct"] = round(100 * cpu / elapsed, 1)
        if result["delivered"]:
            result["server_cpu_us_per_line"] = round(1e6 * cpu / result["delivered"], 3)
    finally:
        group.stop()
    return result


def summarise(
    replies: list[dict[str, Any]],
    started: float,
    writer_times: tuple[float, float] | None,
    sc: Scenario,
) -> dict[str, Any]:
    clients = [c for r in replies for c in r["clients"]]
    readers = [c for c in clients if not c["stalled"]]
    stalled = [c for c in clients if c["stalled"]]
    lat, arrived = array("d"), array("d")
    for r in replies:
        lat.frombytes(r["latency"])
        arrived.frombytes(r["arrived"])
    lat_sorted = sorted(lat)
    delivered = sum(c["unique"] for c in readers)
    last = max((c["last_rx"] for c in readers if c["last_rx"]), default=started)
    elapsed = max(last - started, 1e-9)
    out: dict[str, Any] = {
        "delivered": delivered,
        "elapsed_s": round(elapsed, 3),
        "lines_per_s": round(delivered / elapsed),
        "writer_s": round(writer_times[1] - writer_times[0], 3) if writer_times else None,
        "lost": sum(c["lost"] for c in readers),
        # Lost lines a client was told about with a gap frame (tailcast only).
        "lost_in_gaps": sum(min(c["lost"], c["gap_lines"]) for c in readers),
        "lost_not_in_gap": sum(max(0, c["lost"] - c["gap_lines"]) for c in readers),
        "dup": sum(c["dup"] for c in readers),
        "lost_max_client": max((c["lost"] for c in readers), default=0),
        "dup_max_client": max((c["dup"] for c in readers), default=0),
        "bad_frames": sum(c["bad_frames"] + c["unexpected"] for c in clients),
        "frames": sum(c["frames"] for c in readers),
        "latency_samples": len(lat_sorted),
    }
    for name, q in (("p50", 0.50), ("p99", 0.99), ("max", 1.0)):
        v = percentile(lat_sorted, q)
        out[f"latency_{name}_ms"] = round(v * 1000, 3) if v is not None else None
    out["latency_p99_by_second_ms"] = p99_by_second(lat, arrived, started)
    if stalled:
        s = stalled[0]
        out["stalled"] = {k: s[k] for k in ("unique", "lost", "dup", "gaps", "gap_lines")}
        # Every line it never got must be inside a gap it was told about.
        out["stalled"]["lost_not_in_gap"] = max(0, s["lost"] - s["gap_lines"])
    return out


# -- output ---------------------------------------------------------------------------


def human(n: float | None, unit: str = "") -> str:
    if n is None:
        return "-"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f}M{unit}"
    if abs(n) >= 1e4:
        return f"{n / 1e3:.0f}k{unit}"
    return f"{n:g}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


ROWS: list[tuple[str, str, bool]] = [
    # label, key, show a tailcast/peer ratio
    ("lines/s delivered (all clients)", "lines_per_s", True),
    ("elapsed s (writer start -> last line)", "elapsed_s", False),
    ("lost (of which in gaps) / dup lines", "lost_dup", False),
    ("latency p50 / p99 / max ms", "latency", False),
    ("server CPU s (% of one core)", "cpu", False),
    ("server CPU us per delivered line", "server_cpu_us_per_line", True),
    ("server peak RSS MB (processes)", "rss", True),
    ("client CPU s", "client_cpu_s", False),
]


def cell(r: dict[str, Any] | None, key: str) -> str:
    if r is None:
        return "-"
    if "error" in r:
        return "ERROR"
    if key == "lines_per_s":
        return human(r["lines_per_s"]) + (" (timeout)" if r.get("timed_out") else "")
    if key == "lost_dup":
        return f"{r['lost']} ({r['lost_in_gaps']}) / {r['dup']}"
    if key == "latency":
        return f"{r['latency_p50_ms']} / {r['latency_p99_ms']} / {r['latency_max_ms']}"
    if key == "cpu":
        return f"{r['server_cpu_s']} ({r.get('server_cpu_pct', '-')}%)"
    if key == "rss":
        return f"{r['peak_rss_mb']} ({r['peak_procs']})"
    return str(r.get(key, "-"))


def print_table(results: list[dict[str, Any]], peer: str) -> None:
    by = {(r["scenario"], r["target"]): r for r in results}
    names = list(dict.fromkeys(r["scenario"] for r in results))
    w0, w1 = 40, 26
    print()
    print(f"{'':{w0}}{'tailcast':>{w1}}{peer:>{w1}}{'tailcast/peer':>15}")
    for name in names:
        t, p = by.get((name, "tailcast")), by.get((name, peer))
        head = t or p or {}
        desc = f"{head.get('clients')} clients, {head.get('lines')} lines"
        if head.get("rate"):
            desc += f" at {head['rate']:g}/s"
        print(f"== {name}: {desc}")
        for label, key, show_ratio in ROWS:
            rt = ""
            if show_ratio and t and p and "error" not in t and "error" not in p:
                if key == "rss":
                    rt = ratio(t["peak_rss_mb"], p["peak_rss_mb"])
                else:
                    rt = ratio(t.get(key), p.get(key))
            print(f"  {label:{w0 - 2}}{cell(t, key):>{w1}}{cell(p, key):>{w1}}{rt:>15}")
        for r in (t, p):
            if r and "stalled" in r:
                s = r["stalled"]
                print(
                    f"  stalled client ({r['target']}): got {s['unique']} lines, "
                    f"{s['gaps']} gap frame(s) covering {s['gap_lines']} lines, "
                    f"{s['lost_not_in_gap']} lost without a gap, {s['dup']} dup; "
                    f"peak RSS while stalled {r.get('peak_rss_while_stalled_mb')} MB"
                )
            if r and "error" in r:
                print(f"  {r['target']} ERROR: {r['error']}")


def check_targets(results: list[dict[str, Any]], peer: str) -> list[dict[str, Any]]:
    by = {(r["scenario"], r["target"]): r for r in results if "error" not in r}
    checks: list[dict[str, Any]] = []

    def add(what: str, ok: bool | None, detail: str) -> None:
        checks.append({"target": what, "ok": ok, "detail": detail})

    for name in ("burst20", "burst100"):
        t, p = by.get((name, "tailcast")), by.get((name, peer))
        if t and p:
            x = t["lines_per_s"] / max(p["lines_per_s"], 1)
            add(
                f"{name}: delivered lines/s >= 3x {peer}",
                x >= 3,
                f"{x:.2f}x ({human(t['lines_per_s'])} vs {human(p['lines_per_s'])})",
            )
        if t:
            # Slow clients catch up from the history: a burst that fits in
            # --history reaches every client whole; past it, loss is announced.
            add(
                f"{name}: every tailcast client got every line",
                not t["lost"] and not t["dup"],
                f"lost {t['lost']} ({t['lost_not_in_gap']} without a gap frame), dup {t['dup']}",
            )
    t = by.get(("steady", "tailcast"))
    if t:
        p99 = t["latency_p99_ms"]
        add(
            "steady: p99 latency <= 5 ms",
            p99 is not None and p99 <= 5,
            f"p50 {t['latency_p50_ms']} ms, p99 {p99} ms",
        )
    t = by.get(("rss100", "tailcast"))
    if t:
        b100 = by.get(("burst100", "tailcast"))
        burst_note = f"; under burst100: {b100['peak_rss_mb']} MB" if b100 else ""
        add(
            "rss100: server RSS < 60 MB with 100 clients streaming",
            t["peak_rss_mb"] < 60,
            f"{t['peak_rss_mb']} MB for the process group "
            f"({t['peak_main_rss_mb']} MB tailcast itself){burst_note}",
        )
    t, b = by.get(("stall", "tailcast")), by.get(("burst20", "tailcast"))
    if t and b:
        # Per reading client: 19 readers against 20 in the plain burst.
        per_stall = t["lines_per_s"] / 19
        per_burst = b["lines_per_s"] / 20
        s = t.get("stalled", {})
        add(
            "stall: others' throughput not reduced (>= 90% of burst20 per client)",
            per_stall >= 0.9 * per_burst and not t["lost"],
            f"{per_stall / per_burst:.0%} per client, readers lost {t['lost']}",
        )
        # The stalled client catches up from the history once it reads
        # again: a gap only for what left the history (--history) meanwhile.
        add(
            "stall: memory bounded, stalled client loses nothing outside gaps",
            s.get("lost_not_in_gap") == 0 and t.get("peak_rss_while_stalled_mb", 1e9) < 60,
            f"peak RSS {t.get('peak_rss_while_stalled_mb')} MB, {s.get('gaps')} gap(s) "
            f"covering {s.get('gap_lines')} lines, {s.get('lost_not_in_gap')} lost outside gaps",
        )
    return checks


# -- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a short run (~1-2 minutes)")
    p.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help="burst20, burst100, steady, rss100, stall, overload (repeatable)",
    )
    p.add_argument(
        "--targets",
        default="tailcast,websocketd",
        help="comma-separated: tailcast, websocketd (default both)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each measurement N times and report the median run",
    )
    p.add_argument(
        "--tailcast-source",
        choices=("stdin", "file"),
        default="stdin",
        help="feed tailcast through 'tail -F | tailcast -' or follow FILE itself",
    )
    p.add_argument(
        "--tailcast-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for tailcast (repeatable; use --tailcast-arg=--x)",
    )
    p.add_argument(
        "--history", type=int, default=1_000_000, help="tailcast --history (its default)"
    )
    p.add_argument("--workers", type=int, default=2, help="client worker processes")
    p.add_argument(
        "--json-every",
        type=int,
        default=8,
        metavar="N",
        help="parse every N-th tailcast lines frame as JSON in full (1 = all)",
    )
    p.add_argument("--line-bytes", type=int, default=100, help="bytes per line, newline included")
    p.add_argument("--rate", type=float, default=1000.0, help="lines/s of the steady scenario")
    p.add_argument("--seconds", type=float, help="duration of the steady scenario")
    p.add_argument("--lines", type=int, help="override the line count of every burst scenario")
    p.add_argument(
        "--drain",
        type=float,
        default=15.0,
        help="seconds the stalled client may take to drain once it reads again",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="profile tailcast with py-spy during each measured phase into DIR",
    )
    p.add_argument("--profile-format", default="raw", choices=("raw", "flamegraph", "speedscope"))
    p.add_argument("--websocketd", default=shutil.which("websocketd") or "/usr/bin/websocketd")
    p.add_argument(
        "--json", metavar="FILE", help="where to write the JSON (default bench/results/)"
    )
    return p.parse_args(argv)


def run_once(
    target: str, sc: Scenario, pool: Pool, args: argparse.Namespace, wd: str, attempt: int
) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        r = measure(target, sc, pool, args, wd)
    except Exception as exc:
        r = {
            "target": target,
            "scenario": sc.name,
            "clients": sc.clients,
            "lines": sc.count,
            "rate": sc.rate or None,
            "error": f"{type(exc).__name__}: {exc}",
        }
        with contextlib.suppress(Exception):
            pool.call("disconnect")
    run = f" #{attempt + 1}" if args.repeat > 1 else ""
    print(
        f"  {sc.name:9} {target:11}{run} "
        + (
            f"ERROR {r['error']}"
            if "error" in r
            else f"{human(r['lines_per_s'])} lines/s, lost {r['lost']}, "
            f"dup {r['dup']}, p99 {r['latency_p99_ms']} ms, "
            f"RSS {r['peak_rss_mb']} MB"
        )
        + f"  [{time.monotonic() - t0:.1f}s]",
        flush=True,
    )
    return r


def pick_median(runs: list[dict[str, Any]], sc: Scenario) -> dict[str, Any]:
    """With ``--repeat``: the median run (by lines/s, or by p99 for a fixed rate)."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    if sc.rate:
        good.sort(key=lambda r: r["latency_p99_ms"] or 0.0)
    else:
        good.sort(key=lambda r: -r["lines_per_s"])
    chosen = dict(good[(len(good) - 1) // 2])
    if len(runs) > 1:
        chosen["runs"] = [{k: v for k, v in r.items() if k != "runs"} for r in runs]
    return chosen


@contextlib.contextmanager
def workdir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="tailcast-bench-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    peer = "websocketd"
    plan = scenarios(args.quick, args.rate, args.seconds)
    if args.only:
        plan = [s for s in plan if s.name in args.only]
    if args.lines:
        plan = [
            Scenario(s.name, s.clients, args.lines, s.rate, s.stalled, s.sample, s.timeout)
            if not s.rate
            else s
            for s in plan
        ]
    print(
        f"tailcast bench: {', '.join(s.name for s in plan)}; targets {', '.join(targets)}; "
        f"tailcast source {args.tailcast_source}; {args.workers} client workers; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} (other work on the "
        f"machine skews the numbers)",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    pool = Pool(args.workers, args.json_every)
    started = time.time()
    try:
        with workdir() as wd:
            for sc in plan:
                for target in targets:
                    runs = [run_once(target, sc, pool, args, wd, i) for i in range(args.repeat)]
                    results.append(pick_median(runs, sc))
    finally:
        pool.close()
    print_table(results, peer)
    checks = check_targets(results, peer)
    if checks:
        print("\nissue 2 targets:")
        for c in checks:
            mark = {True: "PASS", False: "MISS", None: "----"}[c["ok"]]
            print(f"  {mark}  {c['target']}: {c['detail']}")
    out = (
        Path(args.json)
        if args.json
        else (HERE / "results" / time.strftime("bench-%Y%m%d-%H%M%S.json"))
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "started": started,
                "argv": sys.argv[1:],
                "cpus": os.cpu_count(),
                "tailcast_source": args.tailcast_source,
                "workers": args.workers,
                "line_bytes": args.line_bytes,
                "load_average_end": os.getloadavg(),
                "results": results,
                "targets": checks,
            },
            indent=2,
        )
    )
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
