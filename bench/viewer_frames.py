"""Frame times of the web viewer in Chromium while lines flood in.

A real tailcast server (in a thread) publishes RATE lines per second, spread
over three streams with ANSI colours, for DURATION seconds, while the viewer
follows them in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright). The page records the interval between animation frames, the
time the viewer's own frame work takes, long tasks (> 50 ms), the main
thread's time in tasks, script, style and layout (CPU, less at the mercy of
a shared machine than frames/s), and every few seconds the JS heap, the DOM
node count (Chrome DevTools Protocol) and the distance from the newest row
to the bottom of the screen. Frame figures count the flood only.

    python bench/viewer_frames.py                 # 5000 lines/s for 60 s
    python bench/viewer_frames.py --rate 5000 --duration 60 --cap 3000
    python bench/viewer_frames.py --history 1000000   # end -> line 1 -> end

With ``--history N`` it instead fills one stream with N lines and times the
viewer going from the end to line 1 (Home) and back (End), sampling the
number of rows in the page all the while (it must stay at most 3000).

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

from tests.harness import make_config
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


ROWS_PROBE = """() => { window.__rows = 0; const s = () => {
  window.__rows = Math.max(window.__rows, document.querySelectorAll('#rows .row').length);
  requestAnimationFrame(s); }; requestAnimationFrame(s); }"""


def fill_history(srv: ThreadServer, sid: str, count: int) -> None:
    """Publish ``count`` lines in batches (each call on the loop stays short)."""
    hub = srv.server.hub  # type: ignore[union-attr]
    for start in range(0, count, 20000):
        n = min(20000, count - start)

        def go(start: int = start, n: int = n) -> None:
            now = time.time()
            hub.publish_lines(
                hub.streams[sid], [(now, line(start + k), None, False) for k in range(n)]
            )

        srv.call(go)


def history_bench(count: int, cap: int) -> int:
    srv = ThreadServer(make_config())
    srv.start()
    sid = srv.add_stream("build")
    t0 = time.monotonic()
    fill_history(srv, sid, count)
    fill_s = round(time.monotonic() - t0, 1)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{srv.url}?cap={cap}")
            page.wait_for_selector(f'#rows .row[data-seq="{count}"]', timeout=60_000)
            page.evaluate(ROWS_PROBE)
            page.locator("#log").focus()
            t1 = time.monotonic()
            page.keyboard.press("Home")
            page.wait_for_selector('#rows .row[data-seq="1"]', timeout=60_000)
            to_start = time.monotonic() - t1
            t2 = time.monotonic()
            page.keyboard.press("End")
            page.wait_for_selector(f'#rows .row[data-seq="{count}"]', timeout=60_000)
            to_end = time.monotonic() - t2
            # Scrolling up by pages (wheel) from the end: rows loaded per second.
            page.locator("#log").hover()
            t3 = time.monotonic()
            for _ in range(40):
                page.mouse.wheel(0, -4000)
                page.wait_for_timeout(25)
            scrolled = page.evaluate("window.tailcast.store.streams.get('build').lo")
            scroll_s = time.monotonic() - t3
            rows = page.evaluate("window.__rows")
            browser.close()
    finally:
        srv.close()
    print(
        json.dumps(
            {
                "history_lines": count,
                "fill_s": fill_s,
                "end_to_line_1_s": round(to_start, 2),
                "line_1_to_end_s": round(to_end, 2),
                "round_trip_s": round(to_start + to_end, 2),
                "wheel_40_steps_s": round(scroll_s, 2),
                "wheel_reached_seq": scrolled,
                "most_rows_in_dom": rows,
            },
            indent=2,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=5000, help="lines per second (all streams)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of flood")
    ap.add_argument("--cap", type=int, default=3000, help="the viewer's window (most 3000)")
    ap.add_argument("--history", type=int, default=0, help="lines of history: time end -> 1 -> end")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples")
    args = ap.parse_args(argv)
    if args.history:
        return history_bench(args.history, args.cap)

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
                # Following: the newest row must be on screen (px between it and the bottom).
                gap = page.evaluate(
                    "(s => s.scrollHeight - s.scrollTop - s.clientHeight)"
                    "(document.querySelector('#log'))"
                )
                return {
                    "heap_mb": round(m["JSHeapUsedSize"] / 2**20, 1),
                    "nodes": m["Nodes"],
                    "bottom_gap_px": round(gap),
                }

            def busy() -> dict[str, float]:
                # The main thread's cumulative time in tasks, script, style and layout (s).
                m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
                keys = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")
                return {k: m[k] for k in keys}

            busy0 = busy()

            samples = [{"t": 0.0, **metrics()}]
            fut = asyncio.run_coroutine_threadsafe(
                publisher(srv, ids, args.rate, args.duration), srv.lt.loop
            )
            t0 = time.monotonic()
            due = args.sample
            while not fut.done():
                page.wait_for_timeout(100)  # polling cadence, not sync
                if time.monotonic() - t0 >= due:
                    due += args.sample
                    cdp.send("HeapProfiler.collectGarbage")
                    samples.append({"t": round(time.monotonic() - t0, 1), **metrics()})
            flood_s = time.monotonic() - t0
            sent = fut.result()
            busy1 = busy()
            # The figures are the flood's: frames after it (catching up, idle) do not count.
            at_end = page.evaluate(
                "(b => ({frames: b.frames.length, work: b.work.length, long: b.long,"
                " longMs: b.longMs}))(window.__bench)"
            )
            cdp.send("HeapProfiler.collectGarbage")
            samples.append({"t": round(time.monotonic() - t0, 1), **metrics()})
            page.wait_for_function(
                "n => [...window.tailcast.store.streams.values()]"
                ".reduce((a, s) => a + s.pos, 0) >= n",
                arg=sent,
                timeout=30_000,
            )
            # ... and until the view's list of rows has caught up.
            page.wait_for_function(
                "n => window.tailcast.view.shown.length >= n",
                arg=min(args.cap, sent),
                timeout=30_000,
            )
            bench = page.evaluate("window.__bench")
            frames = bench["frames"][1 : at_end["frames"]]
            work = bench["work"][: at_end["work"]]
            rows = page.evaluate("window.tailcast.view.shown.length")
            dom_rows = page.evaluate("document.querySelectorAll('#rows .row').length")
            browser.close()
    finally:
        srv.close()
    result.update(
        lines_published=sent,
        frames=len(frames),
        fps=round(len(frames) / flood_s, 1),
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
        # CPU, not wall time: less at the mercy of a shared machine than fps.
        main_thread_ms_per_s={
            k.removesuffix("Duration").lower(): round(1000 * (busy1[k] - busy0[k]) / flood_s)
            for k in busy0
        },
        long_tasks=at_end["long"],
        long_tasks_ms=round(at_end["longMs"]),
        rows_at_end=rows,
        rows_in_dom_at_end=dom_rows,
        memory=samples,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
