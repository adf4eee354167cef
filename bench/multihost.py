"""Benchmark multi-host mode (issue 8): one agent -> Redis -> 2 web nodes sharing 200 clients.

Usage::

    python bench/multihost.py --quick        # ~1 minute
    python bench/multihost.py                # longer bursts
    python bench/multihost.py --no-baseline  # skip the single-node comparison

A writer appends lines carrying ``@SEQUENCE:SEND_TIME;`` to a file;
``tail -n0 -F FILE | tailcast agent --redis URL -`` publishes them; two
``tailcast serve --redis URL`` web nodes each serve half of the clients
(``/ws?streams=*&tail=0``). The same clients, writer and client workers as
``bench/bench.py`` (:mod:`wsclient`, :mod:`writer`, :class:`bench.Pool`) count
every line each client gets: lost, duplicated, latency (writer -> client, all
on one monotonic clock). The baseline is one plain ``tailcast -`` serving the
same 200 clients, so the table shows what Redis in the middle costs.

Every process (redis-server, agent, web nodes) runs in a process group of its
own, measured separately (CPU seconds, peak RSS); only those groups are
signalled at the end. Results are printed and written to
``bench/results/multihost-*.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from procs import Group  # noqa: E402
from writer import warm_line, writer_main  # noqa: E402

from bench import MB, Pool, Scenario, free_port, summarise, wait_listening  # noqa: E402

CLIENTS = 200


@dataclass
class Setup:
    """The processes of one run; ``ports`` are the web nodes clients connect to."""

    groups: dict[str, Group]
    ports: list[int]


def tailcast(*args: str) -> list[str]:
    return [sys.executable, "-m", "tailcast", *args]


def start_multihost(path: str, args: argparse.Namespace, workdir: str) -> Setup:
    groups: dict[str, Group] = {}
    rport = free_port()
    rlog = os.path.join(workdir, "redis.stderr")
    groups["redis"] = Group.start_pipeline(
        "redis",
        [
            [
                args.redis_server,
                "--port",
                str(rport),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ]
        ],
        main=0,
        log=rlog,
    )
    wait_listening(groups["redis"], rport, rlog)
    url = f"redis://127.0.0.1:{rport}/0"
    alog = os.path.join(workdir, "agent.stderr")
    groups["agent"] = Group.start_pipeline(
        "agent",
        [
            ["tail", "-n0", "-F", path],
            tailcast("agent", "--redis", url, "--history", str(args.history), "-"),
        ],
        main=1,
        log=alog,
    )
    ports = []
    for i in range(args.nodes):
        port = free_port()
        log = os.path.join(workdir, f"web{i}.stderr")
        groups[f"web{i}"] = Group.start_pipeline(
            f"web{i}",
            [
                tailcast(
                    "serve", "--redis", url, "--port", str(port), "--history", str(args.history)
                )
            ],
            main=0,
            log=log,
        )
        wait_listening(groups[f"web{i}"], port, log)
        ports.append(port)
    return Setup(groups, ports)


def start_single(path: str, args: argparse.Namespace, workdir: str) -> Setup:
    port = free_port()
    log = os.path.join(workdir, "single.stderr")
    group = Group.start_pipeline(
        "single",
        [
            ["tail", "-n0", "-F", path],
            tailcast("--port", str(port), "--history", str(args.history), "-"),
        ],
        main=1,
        log=log,
    )
    wait_listening(group, port, log)
    return Setup({"single": group}, [port])


def connect(pool: Pool, ports: list[int], sc: Scenario) -> None:
    """Workers spread over the web nodes round-robin; clients spread over the workers."""
    n = len(pool.conns)
    shares = [sc.clients // n + (1 if i < sc.clients % n else 0) for i in range(n)]
    pool.call(
        "connect",
        [
            {
                "port": ports[i % len(ports)],
                "path": "/ws?streams=*&tail=0",
                "kind": "tailcast",
                "clients": shares[i],
                "count": sc.count,
                "sample": sc.sample,
                "stalled": 0,
                "json_every": pool.json_every,
            }
            for i in range(n)
        ],
    )


def measure(target: str, sc: Scenario, pool: Pool, args: argparse.Namespace) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix=f"tailcast-mh-{target}-")
    path = os.path.join(workdir, "bench.log")
    Path(path).write_bytes(b"")
    setup: Setup | None = None
    result: dict[str, Any] = {
        "target": target,
        "scenario": sc.name,
        "clients": sc.clients,
        "lines": sc.count,
        "rate": sc.rate or None,
    }
    try:
        start = start_multihost if target == "multihost" else start_single
        setup = start(path, args, workdir)
        connect(pool, setup.ports, sc)
        deadline = time.monotonic() + 30
        with open(path, "ab", buffering=0) as f:
            while pool.progress()["warm_ready"] < sc.clients:
                if time.monotonic() > deadline:
                    raise RuntimeError("clients did not all receive the warm-up line")
                f.write(warm_line(args.line_bytes))
                time.sleep(0.05)
        time.sleep(0.3)  # let the last warm-up lines drain
        for g in setup.groups.values():
            g.sample()
            g.reset_peaks()
        cpu0 = {name: g.cpu() for name, g in setup.groups.items()}
        parent, child = mp.get_context("fork").Pipe()
        writer = mp.get_context("fork").Process(
            target=writer_main, args=(child, path, sc.count, args.line_bytes, sc.rate), daemon=True
        )
        writer.start()
        child.close()
        deadline = time.monotonic() + sc.timeout
        timed_out = False
        writer_times: tuple[float, float] | None = None
        while True:
            for g in setup.groups.values():
                g.sample()
            if writer_times is None and parent.poll():
                writer_times = parent.recv()
            if writer_times is not None and pool.progress()["readers_done"] >= sc.clients:
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.1)
        cpu = {name: round(g.cpu() - cpu0[name], 3) for name, g in setup.groups.items()}
        writer.join(10)
        if writer_times is None and parent.poll(1):
            writer_times = parent.recv()
        replies = pool.call("results")
        pool.call("disconnect")
        started = writer_times[0] if writer_times else time.monotonic()
        result.update(summarise(replies, started, writer_times, sc))
        result["timed_out"] = timed_out
        result["cpu_s"] = cpu
        result["peak_rss_mb"] = {
            name: round(g.peak_rss / MB, 1) for name, g in setup.groups.items()
        }
        if result["delivered"]:
            result["cpu_us_per_delivered_line"] = round(
                1e6 * sum(cpu.values()) / result["delivered"], 3
            )
    except Exception as exc:  # a failed run is a row, not a crash of the whole bench
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if setup is not None:
            for g in reversed(list(setup.groups.values())):
                g.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        head = f"== {r['scenario']} / {r['target']}: {r['clients']} clients, {r['lines']} lines"
        if r.get("rate"):
            head += f" at {r['rate']:g}/s"
        print(head)
        if "error" in r:
            print(f"  ERROR: {r['error']}")
            continue
        print(
            f"  delivered {r['delivered']} lines in {r['elapsed_s']} s = "
            f"{r['lines_per_s']} lines/s{' (TIMEOUT)' if r['timed_out'] else ''}"
        )
        print(f"  lost {r['lost']} (in gaps {r['lost_in_gaps']}), dup {r['dup']}")
        print(
            f"  latency p50 / p99 / max ms: {r['latency_p50_ms']} / {r['latency_p99_ms']} / "
            f"{r['latency_max_ms']}"
        )
        print(f"  CPU s: {r['cpu_s']}  ({r.get('cpu_us_per_delivered_line')} us/line in all)")
        print(f"  peak RSS MB: {r['peak_rss_mb']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (~1 minute)")
    p.add_argument("--nodes", type=int, default=2, help="web nodes (default 2)")
    p.add_argument("--clients", type=int, default=CLIENTS)
    p.add_argument("--workers", type=int, default=4, help="client worker processes")
    p.add_argument("--history", type=int, default=10_000)
    p.add_argument("--line-bytes", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000.0, help="lines/s of the steady scenario")
    p.add_argument("--no-baseline", action="store_true", help="skip the single-node run")
    p.add_argument("--json-every", type=int, default=64)
    p.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    p.add_argument("--json", help="write results here (default bench/results/multihost-*.json)")
    args = p.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    seconds = 5.0 if args.quick else 10.0
    burst = 5_000 if args.quick else 20_000
    scenarios = [
        Scenario(
            "steady",
            args.clients,
            int(args.rate * seconds),
            rate=args.rate,
            sample=1,
            timeout=seconds + 20,
        ),
        Scenario("burst", args.clients, burst, timeout=60),
    ]
    targets = ["multihost"] + ([] if args.no_baseline else ["single"])
    pool = Pool(args.workers, args.json_every)
    results: list[dict[str, Any]] = []
    try:
        for sc in scenarios:
            for target in targets:
                print(f"running {sc.name} / {target} ...", file=sys.stderr, flush=True)
                results.append(measure(target, sc, pool, args))
    finally:
        pool.close()
    print_table(results)
    out = (
        Path(args.json)
        if args.json
        else HERE / "results" / time.strftime("multihost-%Y%m%d-%H%M%S.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "argv": sys.argv[1:],
                "cpus": os.cpu_count(),
                "nodes": args.nodes,
                "line_bytes": args.line_bytes,
                "load_average_end": os.getloadavg(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
