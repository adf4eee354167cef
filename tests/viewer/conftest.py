"""Fixtures for the viewer's browser tests: one Chromium for the session, a
fresh page per test (which fails the test on a script error or a CSP
violation), and real tailcast servers in threads.

Playwright drives Debian's Chromium (``/usr/bin/chromium``); it never
downloads a browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.harness import make_config
from tests.viewer.support import TcpProxy, ThreadServer

CHROMIUM = os.environ.get("TAILCAST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's waits (expect, wait_for_*) give up after this many ms.
TIMEOUT_MS = 15_000
# expect() has its own default (5 s), which page.set_default_timeout does not
# change; on a loaded 2-core CI machine 5 s is too short to be a deadline.
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/install-deps.sh)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class PageProblems:
    """Script errors and CSP violations seen by a page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def console(self, msg: ConsoleMessage) -> None:
        text = msg.text
        # A refused connection while a test cuts the network is expected;
        # anything about the Content-Security-Policy is not.
        if "Content Security Policy" in text or "Refused to" in text:
            self.errors.append(f"CSP: {text}")

    def pageerror(self, exc: Any) -> None:
        self.errors.append(f"page error: {exc}")


@pytest.fixture
def page_factory(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``page_factory(color_scheme="dark", viewport=...)``: a new context and page."""
    contexts = []
    problems = PageProblems()

    def make(**context_args: Any) -> Page:
        context = browser.new_context(accept_downloads=True, **context_args)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", problems.console)
        page.on("pageerror", problems.pageerror)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems.errors, problems.errors


@pytest.fixture
def page(page_factory: Callable[..., Page]) -> Page:
    return page_factory(viewport={"width": 1100, "height": 700})


@pytest.fixture
def server() -> Iterator[Callable[..., ThreadServer]]:
    """``srv = server(**config_overrides)``: a started server, stopped at the end."""
    started: list[ThreadServer] = []

    def start(**overrides: Any) -> ThreadServer:
        srv = ThreadServer(make_config(**overrides))
        started.append(srv)
        srv.start()
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def proxy() -> Iterator[Callable[[int], TcpProxy]]:
    made: list[TcpProxy] = []

    def start(port: int) -> TcpProxy:
        p = TcpProxy(port)
        made.append(p)
        return p

    yield start
    for p in made:
        p.close()
