"""The viewer over a stream's whole history in Chromium: scrolling up pages
back to line 1 and down again with at most 3000 rows in the page, jump to
start and end, a permalink far back, Save of the whole history or of the
matching lines, and find over the history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.helpers import poll
from tests.viewer.history_support import dom_rows, fill, seq_range
from tests.viewer.support import ThreadServer

Server = Callable[..., ThreadServer]
MAX_ROWS = 3000


def open_viewer(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def test_scroll_back_to_line_one_and_down_again(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("build")
    fill(srv, sid, 12_000)
    open_viewer(page, srv.url + "?cap=1000")
    poll(lambda: seq_range(page, sid)[1] == 12_000)
    assert seq_range(page, sid)[0] > 10_000  # a window: only the newest are held
    page.locator("#log").hover()
    page.mouse.wheel(0, -400)
    most = 0

    # Back at the top each turn: each older page that comes in moves the rows
    # being read down, and the next scroll up asks for the page before it.
    def at_line_one() -> bool:
        nonlocal most
        page.evaluate("document.querySelector('#log').scrollTop = 0")
        most = max(most, dom_rows(page))
        return seq_range(page, sid)[0] == 1

    poll(at_line_one, timeout=30.0)
    assert 0 < most <= 1000  # the cap asked for, far below the 12 000 lines
    # The lines being read stayed put as the last page came in above them; at
    # the top, line 1 shows. The DOM bounded; new lines are counted, not shown.
    page.evaluate("document.querySelector('#log').scrollTop = 0")
    expect(page.locator(f'#rows .row[data-sid="{sid}"][data-seq="1"]')).to_be_in_viewport()
    fill(srv, sid, 10, text="new {i}")
    expect(page.locator("#more")).to_have_text("10 new lines ↓")

    # Scrolling down pages forward again.
    def at_old_end() -> bool:
        page.evaluate("(s => s.scrollTop = s.scrollHeight)(document.querySelector('#log'))")
        return seq_range(page, sid)[1] >= 12_000

    poll(at_old_end, timeout=30.0)
    page.keyboard.press("End")
    poll(lambda: seq_range(page, sid)[1] == 12_010)
    expect(page.locator("#more")).to_be_hidden()
    fill(srv, sid, 5, text="live {i}")
    poll(lambda: seq_range(page, sid)[1] == 12_015)  # following the live end again
    assert dom_rows(page) <= 1000


def test_jump_to_start_stays_at_the_start_when_following_resumed_meanwhile(
    page: Page, server: Server
) -> None:
    # Seen on CI: a scroll event while the first page loaded found the old
    # window at its live end and resumed following, and the jump then showed
    # the new window's bottom. The resume is made here on purpose, mid-jump.
    srv = server()
    sid = srv.add_stream("job")
    fill(srv, sid, 30_000)
    open_viewer(page, srv.url)
    poll(lambda: seq_range(page, sid)[1] == 30_000)
    page.evaluate(
        """() => { const t = window.tailcast;
                   const jump = t.win.start(); t.view.resume(true); return jump; }"""
    )
    first = page.locator(f'#rows .row[data-sid="{sid}"][data-seq="1"]')
    expect(first).to_be_in_viewport()
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")


def test_jump_to_start_and_end(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("job")
    fill(srv, sid, 30_000)
    open_viewer(page, srv.url)
    poll(lambda: seq_range(page, sid)[1] == 30_000)
    page.locator("#log").focus()
    page.keyboard.press("Home")
    first = page.locator(f'#rows .row[data-sid="{sid}"][data-seq="1"]')
    expect(first).to_be_in_viewport()
    assert dom_rows(page) <= MAX_ROWS
    page.locator("#bottom").click()
    poll(lambda: seq_range(page, sid)[1] == 30_000)
    expect(page.locator(f'#rows .row[data-sid="{sid}"][data-seq="30000"]')).to_be_in_viewport()
    assert seq_range(page, sid)[0] > 1
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "false")


def test_permalink_far_back_loads_around_it(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("app")
    fill(srv, sid, 20_000)
    open_viewer(page, srv.url + f"#{sid}:123")
    current = page.locator("#rows .row.current")
    expect(current).to_have_attribute("data-seq", "123")
    expect(current).to_be_in_viewport()
    expect(current.locator(".tx")).to_have_text("line 123")
    lo, hi = seq_range(page, sid)
    assert lo < 123 < hi < 20_000


def test_save_downloads_the_whole_history(page: Page, server: Server, tmp_path: Path) -> None:
    srv = server()
    sid = srv.add_stream("build")
    fill(srv, sid, 25_000)
    open_viewer(page, srv.url)
    poll(lambda: seq_range(page, sid)[1] == 25_000)
    assert dom_rows(page) <= MAX_ROWS
    with page.expect_download() as info:
        page.locator("#save").click()
    path = tmp_path / "whole.log"
    info.value.save_as(path)
    assert info.value.suggested_filename == f"{sid}.log"
    assert path.read_text(encoding="utf-8").splitlines() == [f"line {i}" for i in range(1, 25_001)]
    # With a filter on: the matching lines of the whole history, not of the window.
    page.locator("#find").fill("line 1234")
    expect(page.locator("#find-count")).to_have_text("0 matches")
    with page.expect_download() as info:
        page.locator("#save").click()
    info.value.save_as(path)
    assert path.read_text(encoding="utf-8").splitlines() == [
        f"{sid} line {i}"
        for i in (1234, 12340, 12341, 12342, 12343, 12344, 12345, 12346, 12347, 12348, 12349)
    ]


def test_find_steps_into_the_history(page: Page, server: Server) -> None:
    """The match is far before the window: the find bar asks the server
    (backwards search with q=, or plain before= pages filtered here when the
    server does not filter), moves the window there, and steps to older ones."""
    srv = server()
    sid = srv.add_stream("app")
    fill(srv, sid, 100)
    srv.publish(sid, ["needle one"])
    fill(srv, sid, 8000)
    srv.publish(sid, ["needle two"])
    fill(srv, sid, 8000)
    open_viewer(page, srv.url)
    poll(lambda: seq_range(page, sid)[1] == 16_102)
    page.locator("#find").fill("needle")
    page.locator("#find-only").uncheck()
    expect(page.locator("#find-count")).to_have_text("0 matches")
    page.locator("#find-prev").click()
    current = page.locator("#rows .row.current")
    expect(current.locator(".tx")).to_have_text("needle two")
    expect(current).to_have_attribute("data-seq", "8102")
    expect(current).to_be_in_viewport()
    page.locator("#find-prev").click()
    expect(current.locator(".tx")).to_have_text("needle one")
    expect(current).to_have_attribute("data-seq", "101")
    # Nothing older: it says so and stays.
    page.locator("#find-prev").click()
    expect(page.locator("#notice")).to_have_text("no match before these lines")
    expect(current).to_have_attribute("data-seq", "101")
    assert dom_rows(page) <= MAX_ROWS
