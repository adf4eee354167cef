"""The log's virtual list (static/log/virtual.js) in Chromium: a full window
of 3000 rows puts only a screenful (and a margin) in the page; wherever the
view is scrolled, long wrapped lines included, the rows cover the screen with
no blank band and in order; the rows being read stay put, paused, while lines
come in and get measured; a selected line far from the screen is rendered
and scrolled to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.helpers import poll
from tests.viewer.support import ThreadServer, dom_row_seqs, row_seqs, wait_rows

Server = Callable[..., ThreadServer]

# The rendered rows against the scroller: first/last seqs, whether they cover
# the screen (no blank band above or below), and whether they are in order.
COVER = """sid => {
  const s = document.querySelector('#log').getBoundingClientRect();
  const rows = [...document.querySelectorAll(`#rows .row[data-sid="${sid}"][data-seq]`)];
  if (rows.length === 0) return null;
  const boxes = rows.map(r => r.getBoundingClientRect());
  const onScreen = rows.filter((r, i) => boxes[i].bottom > s.top && boxes[i].top < s.bottom);
  const seqs = rows.map(r => Number(r.dataset.seq));
  return {
    first: Number(onScreen[0]?.dataset.seq ?? 0),
    coverTop: boxes[0].top <= s.top + 6,
    coverBottom: boxes[boxes.length - 1].bottom >= s.bottom - 24,
    ordered: seqs.every((q, i) => i === 0 || q === seqs[i - 1] + 1),
    touching: boxes.every((b, i) => i === 0 || Math.abs(b.top - boxes[i - 1].bottom) < 1),
  };
}"""


def open_viewer(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def lines(count: int, long_every: int = 0) -> list[str]:
    """Numbered lines; with ``long_every``, every such line wraps over several screen lines."""
    out = []
    for i in range(1, count + 1):
        tail = " long" * 120 if long_every and i % long_every == 0 else ""
        out.append(f"line {i}{tail}")
    return out


def paused_viewer(page: Page, srv: ThreadServer, name: str, texts: list[str]) -> str:
    """A stream holding ``texts``, the viewer open on it with every line in, paused."""
    sid = srv.add_stream(name)
    srv.publish(sid, texts)
    open_viewer(page, srv.url)
    wait_rows(page, sid, len(texts))
    page.locator("#pause").click()
    return sid


def scroll_to(page: Page, fraction: float) -> None:
    page.evaluate(
        "f => { const s = document.querySelector('#log');"
        " s.scrollTop = f * (s.scrollHeight - s.clientHeight); }",
        fraction,
    )


def cover(page: Page, sid: str) -> dict[str, Any] | None:
    state: dict[str, Any] | None = page.evaluate(COVER, sid)
    return state


def test_a_full_window_puts_one_screen_in_the_page(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("full")
    srv.publish_many(sid, [lines(3000)[i : i + 500] for i in range(0, 3000, 500)])
    open_viewer(page, srv.url)
    assert wait_rows(page, sid, 3000) == list(range(1, 3001))
    # Following: the newest rows, on screen, and only about a screenful of them.
    expect(page.locator(f'#rows .row[data-sid="{sid}"][data-seq="3000"]')).to_be_in_viewport()
    dom = dom_row_seqs(page, sid)
    assert 20 <= len(dom) <= 150, len(dom)
    assert dom == list(range(3001 - len(dom), 3001))
    # Anywhere in the window: the rows there, covering the screen, still few.
    page.locator("#log").hover()
    page.mouse.wheel(0, -200)  # pauses
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
    for fraction in (0.5, 0.0, 0.25, 1.0):
        scroll_to(page, fraction)
        want = 1 + int(fraction * 2960)

        # Rendered at the next frame: poll until the rows there cover the screen.
        def covered(want: int = want) -> Any:
            return (
                (c := cover(page, sid))
                and abs(c["first"] - want) < 120
                and c["coverTop"]
                and c["coverBottom"]
                and c
            )

        state = poll(covered)
        assert state["ordered"] and state["touching"], state
        assert len(dom_row_seqs(page, sid)) <= 150
    assert page.evaluate("document.querySelectorAll('#rows *').length") < 3000


def test_long_wrapped_lines_leave_no_blank_band(page: Page, server: Server) -> None:
    sid = paused_viewer(page, server(), "wrapped", lines(1500, long_every=7))
    # Down from the top in steps of about a screen: rows measured as they come.
    scroll_to(page, 0.0)
    poll(lambda: (c := cover(page, sid)) and c["first"] == 1)
    for _ in range(60):
        before = page.evaluate("document.querySelector('#log').scrollTop")
        page.evaluate("document.querySelector('#log').scrollTop += 650")

        def scrolled(before: Any = before) -> Any:
            return (
                (c := cover(page, sid))
                and page.evaluate("document.querySelector('#log').scrollTop") != before
                and c["first"] > 0
                and c["coverTop"]
                and c["coverBottom"]
                and c
            )

        state = poll(scrolled)
        assert state["ordered"] and state["touching"], state
        if state["first"] > 1400:
            break
    # Jumps to the end and back to the top: the last and the first line on screen.
    scroll_to(page, 1.0)
    expect(page.locator(f'#rows .row[data-sid="{sid}"][data-seq="1500"]')).to_be_in_viewport()
    scroll_to(page, 0.0)
    expect(page.locator(f'#rows .row[data-sid="{sid}"][data-seq="1"]')).to_be_in_viewport()


def test_paused_rows_stay_put_while_lines_come(page: Page, server: Server) -> None:
    srv = server()
    sid = paused_viewer(page, srv, "steady", lines(800, long_every=5))
    scroll_to(page, 0.4)
    first = poll(lambda: (c := cover(page, sid)) and c["first"])
    row = page.locator(f'#rows .row[data-sid="{sid}"][data-seq="{first}"]')
    y0 = row.bounding_box()
    assert y0 is not None
    # More lines (long ones too) arrive below; the line being read does not move.
    srv.publish(sid, [f"later {i}" + " x" * (i % 300) for i in range(600)])
    poll(lambda: len(row_seqs(page, sid)) == 1400)
    expect(page.locator("#more")).to_have_text("600 new lines ↓")
    y1 = row.bounding_box()
    assert y1 is not None and abs(y1["y"] - y0["y"]) <= 1, (y0, y1)


def test_a_selected_line_off_screen_is_rendered_and_shown(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("far")
    texts = lines(2500)
    texts[9] = "error: far back"
    srv.publish(sid, texts)
    open_viewer(page, srv.url)
    wait_rows(page, sid, 2500)
    assert 10 not in dom_row_seqs(page, sid)  # at the bottom, line 10 is not in the page
    page.locator("#find").fill("far back")
    page.locator("#find-only").uncheck()
    page.locator("#find").press("Enter")
    current = page.locator("#rows .row.current")
    expect(current).to_have_attribute("data-seq", "10")
    expect(current).to_be_in_viewport()
    assert len(dom_row_seqs(page, sid)) <= 150
