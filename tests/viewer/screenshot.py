"""A realistic multi-stream scene for the README's screenshot of the viewer.

    python -m tests.viewer.screenshot [PATH]     # default docs/img/viewer.png
                                                 # and docs/img/structure.png

The same scene is used by ``test_screenshot.py`` (which saves into a temporary
directory), so the picture in the README is one a test can produce.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect

from tests.viewer.support import ThreadServer

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "img" / "viewer.png"
STRUCTURE_PATH = DEFAULT_PATH.with_name("structure.png")
SIZE: ViewportSize = {"width": 1280, "height": 720}

G, Y, R, C, B, DIM, BOLD, X = (
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[31m",
    "\x1b[36m",
    "\x1b[34m",
    "\x1b[2m",
    "\x1b[1m",
    "\x1b[0m",
)


def _api(i: int) -> tuple[str, str | None]:
    paths = [
        "/api/v1/orders",
        "/api/v1/users/42",
        "/api/v1/cart",
        "/healthz",
        "/api/v1/search?q=lamp",
    ]
    ms = (i * 37) % 180 + 3
    if i % 11 == 7:
        return f"{Y}WARN {X} slow query {DIM}orders.by_customer{X} took {BOLD}{ms * 9} ms{X}", None
    if i % 17 == 5:
        return f"{R}{BOLD}ERROR{X} payment gateway timeout {DIM}(attempt 2/3, retrying){X}", "err"
    method = "POST" if i % 3 == 0 else "GET "
    status = 201 if method == "POST" else 200
    return (
        f"{G}INFO {X} {method} {paths[i % len(paths)]:<24} {C}{status}{X} {DIM}{ms:>3} ms{X}",
        None,
    )


def _nginx(i: int) -> str:
    ip = f"10.0.{i % 7}.{(i * 13) % 250}"
    path = ["/", "/static/app.js", "/api/v1/orders", "/favicon.ico", "/login"][i % 5]
    status = [200, 200, 304, 404, 200][i % 5]
    return f'{ip} - - "GET {path} HTTP/1.1" {status} {(i * 97) % 9000 + 120} "-" "Mozilla/5.0"'


def _worker(i: int) -> str:
    done = min(100, i * 9)
    bar = "█" * (done // 5) + "░" * (20 - done // 5)
    colour = "\x1b[38;2;124;196;255m" if done < 100 else "\x1b[38;5;114m"
    return f"{B}job{X} resize-images {colour}{bar}{X} {done:>3}% {DIM}batch {i // 12}{X}"


async def _live(srv: ThreadServer, api: str, nginx: str, worker: str) -> None:
    """Traffic while the picture is taken, so the line rates are not zero."""
    assert srv.server is not None
    hub = srv.server.hub
    for i in range(60, 600):
        text, fd = _api(i)
        hub.publish_lines(hub.streams[api], [(time.time(), text, fd, False)])
        if i % 2 == 0:
            hub.publish_lines(hub.streams[nginx], [(time.time(), _nginx(i), None, False)])
        if i % 5 == 0:
            hub.publish_lines(hub.streams[worker], [(time.time(), _worker(i // 5), None, False)])
        await asyncio.sleep(0.15)  # the pace of the traffic, not a synchronisation


def start_live(srv: ThreadServer) -> Callable[[], None]:
    """Start the live traffic on the server's loop; returns a function that stops it."""
    task = srv.call(lambda: asyncio.ensure_future(_live(srv, "api", "nginx", "worker")))

    def stop() -> None:
        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        srv.lt.run(cancel())

    return stop


def build_scene(srv: ThreadServer) -> None:
    """Streams and lines: an app, its web server, a container and a finished job."""
    api = srv.add_stream("api", "process", argv=["gunicorn", "shop.wsgi", "--workers", "4"])
    nginx = srv.add_stream("nginx", "file", path="/var/log/nginx/access.log")
    worker = srv.add_stream("worker", "docker", container="shop-worker-1")
    migrate = srv.add_stream("migrate", "process", argv=["./manage.py", "migrate"])

    async def stats() -> dict[str, float]:
        return {"cpu_percent": 37.4, "memory_bytes": 183 * 2**20, "memory_limit_bytes": 2**30}

    srv.call(setattr, srv.stream(worker), "stats_provider", stats)
    t0 = time.time() - 90
    for i in range(60):
        ts = t0 + i * 1.4
        text, fd = _api(i)
        srv.publish(api, [text], fd=fd, ts=ts)
        if i % 2 == 0:
            srv.publish(nginx, [_nginx(i)], ts=ts + 0.3)
        if i % 5 == 0:
            srv.publish(worker, [_worker(i // 5)], ts=ts + 0.6)
    # A migration that finished a little while ago: its exit banner.
    t1 = t0 + 60 * 1.4 - 12
    migrations = [
        f"{BOLD}Operations to perform:{X}",
        "  Apply all migrations: orders, users, cart",
        f"  Applying orders.0007_add_index... {G}OK{X}",
        f"  Applying users.0012_email_verified... {G}OK{X}",
    ]
    for k, text in enumerate(migrations):
        srv.publish(migrate, [text], ts=t1 + k * 0.4)
    srv.set_state(migrate, "exited", exit_code=0)


def take(page: Page, srv: ThreadServer, path: Path) -> None:
    """Open the viewer on the scene, with live traffic and timestamps, and save a PNG."""
    page.goto(srv.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    stop = start_live(srv)
    try:
        expect(page.locator('#stream-list li[data-sid="worker"] .stats')).to_be_visible()
        expect(page.locator("#rows .row.note.exit")).to_have_count(1)
        # Live lines make the rates move (replayed history does not count).
        expect(page.locator('#stream-list li[data-sid="api"] .rate')).not_to_have_text("0/s")
        page.locator("#times").click()
        page.keyboard.press("End")
        page.evaluate("document.activeElement.blur()")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
    finally:
        stop()


def _structured(srv: ThreadServer, sid: str, lines: list[Mapping[str, object]], t: float) -> None:
    """LINE objects with ``level``/``follows`` (protocol 1.1) as the server sends them."""
    import json

    assert srv.server is not None
    hub = srv.server.hub

    def go() -> None:
        stream = hub.streams[sid]
        first = stream.last_seq + 1
        enc = [
            json.dumps({"seq": first + k, "ts": t + k * 0.2, **line}).encode()
            for k, line in enumerate(lines)
        ]
        hub.publish_numbered(stream, first, enc)

    srv.call(go)


def build_structure_scene(srv: ThreadServer) -> str:
    """A CI job: a folded dependency section, tests, a JSON service log, a stack trace."""
    ci = srv.add_stream("ci", "process", argv=["./ci.sh"])
    t = time.time() - 60
    lines: list[Mapping[str, object]] = [
        {"text": "::group::Install dependencies"},
        *({"text": f"  added package {n}"} for n in ("react", "vite", "vitest", "eslint")),
        {"text": "::endgroup::"},
        {"text": "\x1b[0Ksection_start:1700000000:unit[collapsed=false]\r\x1b[0KUnit tests"},
        {"text": f"{G}PASS{X} src/cart.test.js {DIM}(12 tests){X}", "level": "info"},
        {"text": f"{G}PASS{X} src/orders.test.js {DIM}(31 tests){X}", "level": "info"},
        {"text": "\x1b[0Ksection_end:1700000019:unit\r\x1b[0K"},
        {"text": '{"level":"info","msg":"server listening","port":8080,"workers":4}'},
        {"text": '{"level":"warn","msg":"slow query","table":"orders","ms":812}'},
        {"text": '{"level":"debug","msg":"cache miss","key":"user:42"}'},
        {"text": "Traceback (most recent call last):", "level": "error"},
        {"text": '  File "shop/checkout.py", line 88, in pay', "follows": True},
        {"text": "    total = amount / count", "follows": True},
        {"text": "ZeroDivisionError: division by zero", "follows": True},
        {"text": "FATAL: payment worker stopped", "level": "fatal"},
        {"text": "retrying in 5 s", "level": "warn"},
    ]
    _structured(srv, ci, lines, t)
    return ci


def take_structure(page: Page, srv: ThreadServer, path: Path) -> None:
    page.goto(srv.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#rows .row.section")).to_have_count(2)
    page.locator("#rows .row.section").first.locator("button.fold").click()
    expect(page.locator("#rows .row.section.folded")).to_have_count(1)
    page.evaluate("document.activeElement.blur()")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    from tests.harness import make_config
    from tests.viewer.conftest import CHROMIUM, CHROMIUM_ARGS

    path = Path(argv[0]) if argv else DEFAULT_PATH
    srv = ThreadServer(make_config())
    srv.start()
    try:
        build_scene(srv)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=SIZE, color_scheme="dark")
            take(page, srv, path)
            other = ThreadServer(make_config())
            other.start()
            try:
                build_structure_scene(other)
                page = browser.new_page(viewport=SIZE, color_scheme="light")
                take_structure(
                    page, other, STRUCTURE_PATH if not argv else path.with_name("structure.png")
                )
            finally:
                other.close()
            browser.close()
    finally:
        srv.close()
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
