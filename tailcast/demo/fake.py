"""Realistic fake log lines for the demo: a web access log, a JSON app log, a
CI build log with ANSI colours. Pure: every function takes its own
``random.Random`` and a timestamp, so the sample files can be regenerated
exactly (``python -m tailcast.demo samples DIR``).

Addresses come from the documentation ranges (RFC 5737), so nothing here
names a real host.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "BuildChunk",
    "access_line",
    "app_line",
    "build_steps",
]

_IPS = ("192.0.2.", "198.51.100.", "203.0.113.")
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "curl/7.88.1",
    "Prometheus/2.53.0",
    "python-requests/2.32.3",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
)
_PAGES = (
    ("GET", "/", 200, 5120),
    ("GET", "/static/app.js", 200, 48211),
    ("GET", "/static/style.css", 200, 9032),
    ("GET", "/favicon.ico", 200, 1150),
    ("GET", "/api/orders?page={n}", 200, 2210),
    ("GET", "/api/orders/{id}", 200, 734),
    ("POST", "/api/orders", 201, 88),
    ("PUT", "/api/orders/{id}", 204, 0),
    ("GET", "/api/products/{id}", 200, 1302),
    ("GET", "/api/search?q=shoes&page={n}", 200, 15877),
    ("POST", "/api/login", 200, 312),
    ("GET", "/metrics", 200, 10422),
    ("GET", "/healthz", 200, 15),
)
_ERRORS = (
    ("GET", "/api/orders/{id}", 404, 37),
    ("POST", "/api/login", 401, 41),
    ("GET", "/wp-login.php", 404, 162),
    ("POST", "/api/orders", 500, 96),
    ("GET", "/api/search?q=%27%20OR%201=1--", 400, 55),
    ("GET", "/api/reports/yearly", 504, 167),
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def access_line(rng: random.Random, ts: float) -> str:
    """One line in the combined log format (nginx and Apache's default)."""
    t = time.gmtime(ts)
    when = (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )
    method, path, status, size = rng.choice(_ERRORS if rng.random() < 0.06 else _PAGES)
    path = path.format(n=rng.randint(1, 40), id=rng.randint(1000, 99999))
    if size:
        size = max(1, int(size * rng.uniform(0.8, 1.2)))
    ip = rng.choice(_IPS) + str(rng.randint(2, 254))
    referer = '"-"' if rng.random() < 0.6 else '"https://shop.example.com/"'
    agent = rng.choice(_AGENTS)
    return f'{ip} - - [{when}] "{method} {path} HTTP/1.1" {status} {size} {referer} "{agent}"'


_APP_EVENTS = (
    ("INFO", "orders.api", "order created", {"order_id": "{id}", "items": "{n}"}),
    ("INFO", "orders.api", "order paid", {"order_id": "{id}", "amount_cents": "{cents}"}),
    ("INFO", "http", "request finished", {"route": "/api/orders", "status": 200}),
    ("DEBUG", "db.pool", "connection checked out", {"pool_size": 10, "in_use": "{n}"}),
    ("INFO", "auth", "user logged in", {"user_id": "{id}", "method": "password"}),
    ("WARNING", "payments", "provider slow", {"provider": "acme-pay", "latency_ms": "{ms}"}),
    ("INFO", "cache", "cache miss", {"key": "product:{id}"}),
    ("INFO", "mailer", "receipt queued", {"order_id": "{id}"}),
    ("WARNING", "auth", "login failed", {"user": "alice@example.com", "attempt": "{n}"}),
    ("INFO", "jobs", "job finished", {"job": "reindex-search", "duration_ms": "{ms}"}),
)
_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/orders/api.py", line 88, in create_order\n'
    "    charge = await payments.charge(order)\n"
    '  File "/srv/shop/payments/client.py", line 41, in charge\n'
    "    raise ProviderTimeout(provider)\n"
    "payments.errors.ProviderTimeout: acme-pay did not answer within 5.0s"
)


def _iso(ts: float) -> str:
    ms = int((ts % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{ms:03d}Z"


def app_line(rng: random.Random, ts: float, service: str = "shop-api") -> str:
    """One structured log record, one JSON object per line (as most log shippers want)."""
    fill = {
        "id": rng.randint(1000, 99999),
        "n": rng.randint(1, 9),
        "cents": rng.randint(199, 49999),
        "ms": rng.randint(120, 4800),
    }
    record: dict[str, object] = {
        "ts": _iso(ts),
        "level": "INFO",
        "service": service,
        "logger": "",
        "msg": "",
        "request_id": f"{rng.getrandbits(48):012x}",
    }
    if rng.random() < 0.03:
        record.update(
            level="ERROR",
            logger="orders.api",
            msg="unhandled exception",
            exc_info=_TRACEBACK,
        )
        return json.dumps(record)
    level, logger, msg, extra = rng.choice(_APP_EVENTS)
    record.update(level=level, logger=logger, msg=msg)
    for key, value in extra.items():
        if isinstance(value, str) and value.startswith("{"):
            record[key] = fill[value.strip("{}")]
        else:
            record[key] = value
    return json.dumps(record)


# ANSI SGR sequences, as compilers and test runners print them on a terminal.
RESET = "\x1b[0m"
BOLD = "\x1b[1m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
BLUE = "\x1b[34m"
MAGENTA = "\x1b[35m"
CYAN = "\x1b[36m"
DIM = "\x1b[2m"

_MODULES = (
    "src/core/buffer.c",
    "src/core/ring.c",
    "src/core/utf8.c",
    "src/net/http.c",
    "src/net/websocket.c",
    "src/net/sse.c",
    "src/io/inotify.c",
    "src/io/follow.c",
    "src/io/rotate.c",
    "src/proc/spawn.c",
    "src/proc/pty.c",
    "src/main.c",
)
_TESTS = (
    "test_ring_wraps",
    "test_utf8_replacement",
    "test_split_long_lines",
    "test_websocket_handshake",
    "test_sse_resume",
    "test_follow_rotation",
    "test_follow_truncation",
    "test_spawn_exit_status",
    "test_pty_merge",
    "test_slow_client_gap",
)


@dataclass(frozen=True)
class BuildChunk:
    """A piece of build output: ``text`` goes to ``fd``; ``pause`` seconds come first.

    ``text`` may end without a newline: the next chunk continues the line,
    as a compiler's ``Linking...`` followed later by ``done`` does.
    """

    text: str
    fd: str = "out"
    pause: float = 0.0


def build_steps(rng: random.Random, number: int) -> Iterator[BuildChunk]:
    """One CI-style build: dependencies, compile with progress, warnings, link, tests."""
    yield BuildChunk(f"{BOLD}{BLUE}==>{RESET}{BOLD} Build #{number} started{RESET}\n")
    yield BuildChunk(f"{DIM}$ git rev-parse --short HEAD{RESET}\n", pause=0.1)
    yield BuildChunk(f"{rng.getrandbits(28):07x}\n")
    yield BuildChunk(f"{BOLD}{BLUE}==>{RESET}{BOLD} Fetching dependencies{RESET}\n", pause=0.3)
    for dep in ("libuv 1.48.0", "zlib 1.3.1", "openssl 3.0.14"):
        yield BuildChunk(f"  {GREEN}✓{RESET} {dep}\n", pause=rng.uniform(0.1, 0.5))
    yield BuildChunk(f"{BOLD}{BLUE}==>{RESET}{BOLD} Compiling{RESET}\n", pause=0.2)
    total = len(_MODULES)
    for i, module in enumerate(_MODULES, 1):
        pct = int(100 * i / (total + 1))
        obj = module.replace("src/", "build/").replace(".c", ".o")
        yield BuildChunk(
            f"[{pct:3d}%] {GREEN}Building C object {obj}{RESET}\n", pause=rng.uniform(0.05, 0.6)
        )
        if rng.random() < 0.18:
            line = rng.randint(10, 400)
            col = rng.randint(2, 30)
            yield BuildChunk(
                f"{BOLD}{module}:{line}:{col}: {MAGENTA}warning:{RESET}{BOLD} "
                f"unused variable 'len' [-Wunused-variable]{RESET}\n",
                fd="err",
            )
            yield BuildChunk(f"  {line} |     size_t len = 0;\n", fd="err")
            yield BuildChunk(f"      |            {GREEN}^~~{RESET}\n", fd="err")
    # A partial line completed later: shows how a line without its newline
    # yet is displayed and then continued.
    yield BuildChunk(f"[100%] {BOLD}{GREEN}Linking C executable build/tailc{RESET} ", pause=0.2)
    for _ in range(rng.randint(6, 12)):
        yield BuildChunk(".", pause=0.3)
    yield BuildChunk(f" {GREEN}done{RESET}\n")
    yield BuildChunk(f"{BOLD}{BLUE}==>{RESET}{BOLD} Running tests{RESET}\n", pause=0.3)
    failed = 0
    for name in _TESTS:
        ok = rng.random() > 0.03
        failed += not ok
        verdict = f"{GREEN}PASSED{RESET}" if ok else f"{RED}FAILED{RESET}"
        ms = rng.randint(1, 900)
        yield BuildChunk(
            f"tests/test_core.py::{name} {verdict} {DIM}({ms} ms){RESET}\n",
            pause=rng.uniform(0.05, 0.4),
        )
        if not ok:
            yield BuildChunk(f"{RED}E   AssertionError: expected 10000 lines, got 9998{RESET}\n")
    passed = len(_TESTS) - failed
    if failed:
        yield BuildChunk(
            f"{RED}{BOLD}===== {failed} failed, {passed} passed in "
            f"{rng.uniform(2, 9):.2f}s ====={RESET}\n"
        )
        yield BuildChunk(f"{BOLD}{RED}✗ Build #{number} failed{RESET}\n", fd="err")
    else:
        yield BuildChunk(
            f"{GREEN}{BOLD}===== {passed} passed in {rng.uniform(2, 9):.2f}s ====={RESET}\n"
        )
        yield BuildChunk(f"{BOLD}{GREEN}✓ Build #{number} succeeded{RESET}\n")
