"""Frame times of the web viewer in Chromium while lines flood in.

A real tailcast server (in a thread) publishes RATE lines per second, spread
over three streams with ANSI colours, for DURATION seconds, while the viewer
follows them in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright). The page records the interval between animation frames, the
time the viewer's own frame work takes, long tasks (> 50 ms), and every few
seconds the JS heap and DOM node count (Chrome DevTools Protocol).

    python bench/viewer_frames.py                 # 5000 lines/s for 60 s
    python bench/viewer_frames.py --rate 5000 --duration 60 --cap 10000

Prints a JSON summary. Numbers depend on the machine; this is a measurement,
not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright

from tests.conftest import make_config
from tests.viewer.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.viewer.support import ThreadServer

LEVELS = [
    "\x1b[32mINFO\x1b[0m ",
    "\x1b[36mDEBUG\x1b[0m",
    "\x1b[33mWARN\x1b[0m ",
    "\x1b[1;31mERROR\x1b[0m",
]
TICK = 0.01  # publish every 10 ms

PROBE = """() => {
  const t = window.__bench = {frames: [], work: [], long: 0, longMs: 0};
  let last = performance.now();
  const loop = (now) => { t.frames.push(now - last); last = now; requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  const view = window.tailcast.view;
  const frame = view.frame.bind(view);
  view.frame = () => { const s = performance.now(); frame(); t.work.push(performance.now() - s); };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) { t.long++; t.longMs += e.duration; }
  }).observe({entryTypes: ["longtask"]});
}"""


def line(i: int) -> str:
    return (
        f"{LEVELS[i % 4]} [req {i:08d}] GET /api/v1/items/{i % 977} "
        f"\x1b[2mduration\x1b[0m={(i * 7) % 500}ms user=u{i % 31} status=200"
    )


async def publisher(srv: ThreadServer, ids: list[str], rate: int, duration: float) -> int:
    """Publish ``rate`` lines/s on the server's loop, catching up after late ticks."""
    assert srv.server is not None
    hub = srv.server.hub
    streams = [hub.streams[i] for i in ids]
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < duration:
        due = int(rate * elapsed) - sent
        if due > 0:
            now = time.time()
            per = [due // len(streams)] * len(streams)
            per[0] += due - sum(per)
            for stream, n in zip(streams, per, strict=True):
                hub.publish_lines(stream, [(now, line(sent + k), None, False) for k in range(n)])
                sent += n
        await asyncio.sleep(TICK)
    return sent


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(len(s) * p / 100))], 2) if s else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=5000, help="lines per second (all streams)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of flood")
    ap.add_argument("--cap", type=int, default=10000, help="the viewer's line cap")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples")
    args = ap.parse_args(argv)

    srv = ThreadServer(make_config())
    srv.start()
    ids = [srv.add_stream(n) for n in ("api", "worker", "nginx")]
    result: dict[str, Any] = {"rate": args.rate, "duration_s": args.duration, "cap": args.cap}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(f"{srv.url}?cap={args.cap}")
            page.wait_for_selector('#conn[data-state="live"]')
            page.evaluate(PROBE)

            def metrics() -> dict[str, float]:
                m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
                return {"heap_mb": round(m["JSHeapUsedSize"] / 2**20, 1), "nodes": m["Nodes"]}

            samples = [{"t": 0.0, **metrics()}]
            fut = asyncio.run_coroutine_threadsafe(
                publisher(srv, ids, args.rate, args.duration), srv.lt.loop
            )
            t0 = time.monotonic()
            while not fut.done():
                page.wait_for_timeout(args.sample * 1000)  # sampling cadence, not sync
                cdp.send("HeapProfiler.collectGarbage")
                samples.append({"t": round(time.monotonic() - t0, 1), **metrics()})
            sent = fut.result()
            page.wait_for_function(
                "n => [...window.tailcast.store.streams.values()]"
                ".reduce((a, s) => a + s.pos, 0) >= n",
                arg=sent,
                timeout=30_000,
            )
            # ... and until the rows have caught up (built over several frames).
            page.wait_for_function(
                "n => document.querySelectorAll('#rows .row').length >= n",
                arg=min(args.cap, sent),
                timeout=30_000,
            )
            bench = page.evaluate("window.__bench")
            frames = bench["frames"][1:]
            work = bench["work"]
            rows = page.evaluate("document.querySelectorAll('#rows .row').length")
            browser.close()
    finally:
        srv.close()
    result.update(
        lines_published=sent,
        frames=len(frames),
        fps=round(len(frames) / args.duration, 1),
        frame_interval_ms={
            "p50": pct(frames, 50),
            "p95": pct(frames, 95),
            "p99": pct(frames, 99),
            "max": round(max(frames), 1),
            "mean": round(statistics.fmean(frames), 2),
            "over_50ms": sum(f > 50 for f in frames),
        },
        viewer_work_per_frame_ms={
            "p50": pct(work, 50),
            "p95": pct(work, 95),
            "p99": pct(work, 99),
            "max": round(max(work), 1),
        },
        long_tasks=bench["long"],
        long_tasks_ms=round(bench["longMs"]),
        rows_at_end=rows,
        memory=samples,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
