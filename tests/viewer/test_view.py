"""The viewer in a real Chromium against a real server: lines, streams panel,
ANSI, literal text, follow/pause, find, line cap, base path, permalinks,
saving, the keyboard, Docker stats and the exit banner."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests.helpers import poll, run_tailcast
from tests.viewer.support import ThreadServer, dom_row_seqs, row_seqs, row_texts, wait_rows

Server = Callable[..., ThreadServer]


def open_viewer(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def test_lines_appear_with_streams_panel(page: Page, server: Server) -> None:
    srv = server()
    api = srv.add_stream("api", "process", argv=["api", "--port", "80"])
    srv.publish(api, [f"request {i}" for i in range(1, 6)])
    open_viewer(page, srv.url)
    assert wait_rows(page, api, 5) == [1, 2, 3, 4, 5]
    assert row_texts(page, api) == [f"request {i}" for i in range(1, 6)]
    item = page.locator('#stream-list li[data-sid="api"]')
    expect(item.locator(".kind")).to_have_text("process")
    expect(item.locator(".badge")).to_have_text("live")
    expect(item.locator(".detail")).to_have_text("api --port 80")

    # A stream that appears later shows up by itself, with its state.
    late = srv.call(lambda: srv.server.hub.add_stream("late.log", "file", path="/var/log/late.log"))  # type: ignore[union-attr]
    late_item = page.locator('#stream-list li[data-sid="late.log"]')
    expect(late_item.locator(".badge")).to_have_text("waiting")
    srv.set_state(late.id, "live")
    expect(late_item.locator(".badge")).to_have_text("live")
    srv.publish(late.id, [f"late {i}" for i in range(40)])
    assert wait_rows(page, late.id, 40) == list(range(1, 41))
    # The rate counts what arrived in the last second: it shows for one tick
    # of the panel (1 s), then 0/s again. expect() backs off to a try every
    # 500 ms, which slow tries on a loaded machine stretch past a tick: poll.
    rate = late_item.locator(".rate")
    poll(lambda: rate.text_content() != "0/s")

    srv.set_state(api, "exited", exit_code=3)
    expect(item.locator(".badge")).to_have_text("exited 3")
    srv.set_state(late.id, "error", message="permission denied")
    expect(late_item.locator(".badge")).to_have_text("error: permission denied")
    expect(page.locator('#rows .row.note.error[data-sid="late.log"]')).to_contain_text(
        "permission denied"
    )


def _spans(page: Page) -> list[dict[str, str]]:
    spans: list[dict[str, str]] = page.eval_on_selector_all(
        "#rows .row[data-seq] .tx span",
        """els => els.map(e => { const s = getComputedStyle(e); return {
            text: e.textContent, color: s.color, bg: s.backgroundColor,
            weight: s.fontWeight, deco: s.textDecorationLine }; })""",
    )
    return spans


ANSI_LINE = (
    "\x1b[31mred\x1b[0m \x1b[1;4mbold-under\x1b[0m \x1b[38;5;208morange\x1b[0m "
    "\x1b[38;2;10;20;30mtrue\x1b[0m \x1b[42mgreenbg\x1b[0m \x1b[94mbright\x1b[39m plain"
)


def test_ansi_colours_render_as_styled_spans(
    page_factory: Callable[..., Page], server: Server
) -> None:
    srv = server()
    sid = srv.add_stream("colours")
    srv.publish(sid, [ANSI_LINE])
    page = page_factory(color_scheme="light")
    open_viewer(page, srv.url)
    wait_rows(page, sid, 1)
    # The escape sequences are gone from the text; the styles are on spans.
    assert row_texts(page, sid) == ["red bold-under orange true greenbg bright plain"]
    spans = {s["text"]: s for s in _spans(page)}
    assert set(spans) == {"red", "bold-under", "orange", "true", "greenbg", "bright"}
    assert spans["red"]["color"] == "rgb(196, 18, 47)"  # the light theme's red
    assert spans["bold-under"]["weight"] == "700"
    assert "underline" in spans["bold-under"]["deco"]
    assert spans["orange"]["color"] == "rgb(255, 135, 0)"  # xterm 208
    assert spans["true"]["color"] == "rgb(10, 20, 30)"
    assert spans["greenbg"]["bg"] == "rgb(17, 99, 41)"
    assert spans["bright"]["color"] == "rgb(9, 105, 218)"


def test_a_colour_carries_to_the_next_lines(page: Page, server: Server) -> None:
    # Segments are parsed only when a row shows a line; the SGR state each
    # line ends with is still worked out in order, as a terminal does.
    srv = server()
    sid = srv.add_stream("carry")
    srv.publish(
        sid,
        [
            "\x1b[31mred starts",
            "still red",
            "\x1b[1mbold too\x1b[0m done",
            "plain again",
            "\x1b[0;32mgreen",
            "50%\r\x1b[33m100%",
            "after the bar",
        ],
    )
    open_viewer(page, srv.url)
    wait_rows(page, sid, 7)
    classes = page.eval_on_selector_all(
        "#rows .row[data-seq] .tx",
        "els => els.map(e => [...e.querySelectorAll('span')]"
        ".map(s => [s.className, s.textContent]))",
    )
    assert classes == [
        [["f1", "red starts"]],
        [["f1", "still red"]],
        [["b f1", "bold too"]],
        [],
        [["f2", "green"]],
        [["f3", "100%"]],
        [["f3", "after the bar"]],
    ]
    assert row_texts(page, sid)[2:4] == ["bold too done", "plain again"]


def test_dark_theme_follows_the_system(page_factory: Callable[..., Page], server: Server) -> None:
    srv = server()
    sid = srv.add_stream("colours")
    srv.publish(sid, [ANSI_LINE])
    page = page_factory(color_scheme="dark")
    open_viewer(page, srv.url)
    wait_rows(page, sid, 1)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 17, 21)"
    spans = {s["text"]: s for s in _spans(page)}
    assert spans["red"]["color"] == "rgb(224, 108, 117)"


def test_log_text_is_shown_literally(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("evil")
    evil = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(2)</script>",
        "\x1b[31m<b onmouseover=alert(3)>red</b>\x1b[0m",
        '"><svg onload=alert(4)>',
    ]
    dialogs: list[str] = []

    def on_dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    srv.publish(sid, evil)
    open_viewer(page, srv.url)
    wait_rows(page, sid, 4)
    assert row_texts(page, sid) == [
        "<img src=x onerror=alert(1)>",
        "<script>alert(2)</script>",
        "<b onmouseover=alert(3)>red</b>",
        '"><svg onload=alert(4)>',
    ]
    assert page.locator("#rows img, #rows script, #rows svg, #rows b").count() == 0
    # Find marks go around text too, never through markup.
    page.keyboard.press("/")
    page.keyboard.type("onerror")
    expect(page.locator("#rows mark")).to_have_text(["onerror"])
    assert page.locator("#rows img").count() == 0
    assert dialogs == []


def test_cont_pieces_progress_and_stderr(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("job")
    open_viewer(page, srv.url)
    srv.publish(sid, ["partial "])
    wait_rows(page, sid, 1)
    srv.publish(sid, ["and the rest"], cont=[True])
    srv.publish(sid, ["progress 10%\rprogress 50%\rprogress 100%"])
    srv.publish(sid, ["10%\r"])
    srv.publish(sid, ["20%\r", "done"], cont=[True, True])
    srv.publish(sid, ["oops"], fd="err")
    poll(lambda: row_seqs(page, sid) == [1, 3, 4, 7])
    # The page draws on its next frame: the view's rows may be ahead of the screen.
    poll(lambda: row_texts(page, sid) == ["partial and the rest", "progress 100%", "done", "oops"])
    expect(page.locator(f'#rows .row[data-sid="{sid}"][data-seq="7"]')).to_have_class(
        re.compile(r"\berr\b")
    )
    expect(page.locator("#rows .row.err")).to_have_count(1)


def _scroll_state(page: Page) -> dict[str, float]:
    state: dict[str, float] = page.evaluate(
        """() => { const s = document.querySelector('#log');
        return {top: s.scrollTop, gap: s.scrollHeight - s.scrollTop - s.clientHeight}; }"""
    )
    return state


def test_follow_pause_and_resume(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("busy")
    open_viewer(page, srv.url)
    srv.publish(sid, [f"line {i}" for i in range(1, 201)])
    wait_rows(page, sid, 200)
    poll(lambda: _scroll_state(page)["gap"] <= 1)  # following: at the bottom

    # Scrolling up pauses; new lines are counted, the view stays put.
    page.locator("#log").hover()
    page.mouse.wheel(0, -1500)
    more = page.locator("#more")
    expect(more).to_be_visible()
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
    top = poll(lambda: (s := _scroll_state(page))["gap"] > 200 and s["top"])
    srv.publish(sid, [f"more {i}" for i in range(30)])
    expect(more).to_have_text("30 new lines ↓")
    assert abs(_scroll_state(page)["top"] - top) <= 1

    # End resumes and goes to the bottom.
    page.keyboard.press("End")
    expect(more).to_be_hidden()
    poll(lambda: _scroll_state(page)["gap"] <= 1)
    srv.publish(sid, [f"after {i}" for i in range(50)])
    wait_rows(page, sid, 280)
    poll(lambda: _scroll_state(page)["gap"] <= 1)

    # The pause button pauses at the bottom too; "N new lines" resumes.
    page.locator("#pause").click()
    srv.publish(sid, [f"paused {i}" for i in range(5)])
    expect(more).to_have_text("5 new lines ↓")
    assert _scroll_state(page)["gap"] > 50
    more.click()
    expect(more).to_be_hidden()
    poll(lambda: _scroll_state(page)["gap"] <= 1)


def test_find_filter_highlight_and_navigate(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("web")
    lines = [
        "GET /api/users 200",
        "POST /api/login 401",
        "GET /health 200",
        "error: disk full",
        "ERROR: again",
    ]
    srv.publish(sid, lines)
    open_viewer(page, srv.url)
    wait_rows(page, sid, 5)
    find = page.locator("#find")
    count = page.locator("#find-count")

    page.locator("#log").focus()
    page.keyboard.press("/")
    expect(find).to_be_focused()
    page.keyboard.type("error")
    expect(count).to_have_text("2 matches")
    assert row_texts(page, sid) == ["error: disk full", "ERROR: again"]
    expect(page.locator("#rows mark")).to_have_text(["error", "ERROR"])

    page.locator("#find-case").check()
    expect(count).to_have_text("1 match")
    assert row_texts(page, sid) == ["error: disk full"]
    page.locator("#find-case").uncheck()

    find.fill(r"GET /\w+")
    page.locator("#find-regex").check()
    expect(page.locator("#rows mark")).to_have_text(["GET /api", "GET /health"])

    find.fill("GET")
    page.locator("#find-regex").uncheck()
    page.locator("#find-invert").check()
    expect(count).to_have_text("3 matches")
    assert row_texts(page, sid) == [lines[1], lines[3], lines[4]]
    page.locator("#find-invert").uncheck()

    # Highlight without hiding; next and previous walk the matches.
    page.locator("#find-only").uncheck()
    expect(page.locator(f'#rows .row[data-sid="{sid}"]')).to_have_count(5)
    expect(page.locator("#rows .row.hit")).to_have_count(2)
    find.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#rows .row.current .tx")).to_have_text(lines[0])
    page.keyboard.press("Enter")
    expect(page.locator("#rows .row.current .tx")).to_have_text(lines[2])
    page.keyboard.press("Enter")
    expect(page.locator("#rows .row.current .tx")).to_have_text(lines[0])
    page.locator("#find-prev").click()
    expect(page.locator("#rows .row.current .tx")).to_have_text(lines[2])

    # A bad regex says so and filters nothing.
    page.locator("#find-only").check()
    page.locator("#find-regex").check()
    find.fill("([")
    expect(count).to_have_text("bad regex")
    expect(find).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f'#rows .row[data-sid="{sid}"]')).to_have_count(5)

    # Esc clears.
    find.fill("health")
    expect(count).to_have_text("1 match")
    page.keyboard.press("Escape")
    expect(find).to_have_value("")
    expect(count).to_have_text("")
    expect(page.locator(f'#rows .row[data-sid="{sid}"]')).to_have_count(5)


def test_line_cap_holds_under_a_flood(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("flood")
    page.goto(srv.url + "?cap=300")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    for start in range(0, 6000, 1000):
        srv.publish_many(
            sid, [[f"flood {start + i + j}" for j in range(100)] for i in range(0, 1000, 100)]
        )
    poll(lambda: (s := row_seqs(page, sid)) and s[-1] == 6000)
    seqs = row_seqs(page, sid)
    assert seqs == list(range(5701, 6001))
    assert page.evaluate("window.tailcast.store.records.length") == 300
    # The page holds only the rows on screen: following, the newest.
    dom = poll(lambda: (d := dom_row_seqs(page, sid)) and d[-1] == 6000 and d)
    assert 10 < len(dom) < 100
    assert dom == seqs[-len(dom) :]


def test_merged_view_and_stream_toggles(page: Page, server: Server) -> None:
    srv = server()
    a = srv.add_stream("alpha")
    b = srv.add_stream("beta")
    now = time.time()
    # Published out of time order across streams: the merged view sorts by time.
    srv.publish(b, ["b1", "b2"], ts=now - 5)
    srv.publish(a, ["a1"], ts=now - 10)
    srv.publish(a, ["a2"], ts=now - 1)
    open_viewer(page, srv.url)
    poll(lambda: row_texts(page) == ["a1", "b1", "b2", "a2"])
    tags = page.eval_on_selector_all("#rows .row .tag", "els => els.map(e => e.textContent)")
    assert tags == ["alpha", "beta", "beta", "alpha"]
    colours = page.eval_on_selector_all(
        "#rows .row .tag", "els => els.map(e => getComputedStyle(e).color)"
    )
    assert colours[0] != colours[1]

    # Toggle beta off inside the merged view, then on.
    page.locator('#stream-list li[data-sid="beta"] input[type="checkbox"]').uncheck()
    poll(lambda: row_texts(page) == ["a1", "a2"])
    page.locator('#stream-list li[data-sid="beta"] input[type="checkbox"]').check()
    poll(lambda: row_texts(page) == ["a1", "b1", "b2", "a2"])

    # One stream alone: no tags.
    page.locator('#stream-list li[data-sid="beta"] .name').click()
    poll(lambda: row_texts(page) == ["b1", "b2"])
    expect(page.locator("#rows .row .tag")).to_have_count(0)
    srv.publish(a, ["a3"])
    srv.publish(b, ["b3"])
    poll(lambda: row_texts(page) == ["b1", "b2", "b3"])
    page.locator("#view-all").click()
    poll(lambda: row_texts(page) == ["a1", "b1", "b2", "a2", "a3", "b3"])


def test_works_under_a_base_path(page: Page, server: Server) -> None:
    srv = server(base_path="/logs/")
    sid = srv.add_stream("app")
    srv.publish(sid, ["under a base path"])
    assert srv.url.endswith("/logs/")
    open_viewer(page, srv.url)
    wait_rows(page, sid, 1)
    assert row_texts(page, sid) == ["under a base path"]


def test_permalink_and_save(page: Page, server: Server, tmp_path: Path) -> None:
    srv = server()
    sid = srv.add_stream("app")
    srv.publish(sid, [f"line {i}" for i in range(1, 301)])
    open_viewer(page, srv.url + f"#{sid}:42")
    current = page.locator("#rows .row.current")
    expect(current).to_have_attribute("data-seq", "42")
    expect(current).to_be_in_viewport()
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")

    # Clicking a line makes it the permalink.
    page.locator(f'#rows .row[data-sid="{sid}"][data-seq="45"]').click()
    assert page.evaluate("location.hash") == f"#{sid}:45"
    expect(current).to_have_attribute("data-seq", "45")

    # Save downloads the visible (filtered) lines as text.
    page.locator("#find").fill("line 2")
    expect(page.locator("#find-count")).to_have_text("111 matches")
    with page.expect_download() as info:
        page.locator("#save").click()
    path = tmp_path / "saved.txt"
    info.value.save_as(path)
    expected = [f"line {i}" for i in range(1, 301) if str(i).startswith("2")]
    assert path.read_text(encoding="utf-8").splitlines() == [f"{sid} {t}" for t in expected]


def test_keyboard_alone(page: Page, server: Server) -> None:
    srv = server()
    a = srv.add_stream("alpha")
    b = srv.add_stream("beta")
    srv.publish(a, [f"alpha {i}" for i in range(100)])
    srv.publish(b, ["beta one"])
    open_viewer(page, srv.url)
    wait_rows(page, a, 100)
    kb = page.keyboard
    expect(page.locator("#log")).to_be_focused()
    kb.press("p")
    expect(page.locator("#more")).to_be_visible()
    kb.press("End")
    expect(page.locator("#more")).to_be_hidden()
    kb.press("t")
    expect(page.locator("#rows .row .ts").first).to_be_visible()
    expect(page.locator("#rows .row .ts").first).to_have_text(
        re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$")
    )
    kb.press("w")
    expect(page.locator("#rows")).to_have_class(re.compile(r"\bnowrap\b"))
    kb.press("/")
    kb.type("alpha 5")
    kb.press("Enter")
    expect(page.locator("#rows .row.current .tx")).to_have_text("alpha 5")
    kb.press("Escape")
    expect(page.locator("#log")).to_be_focused()
    # Tab reaches the streams panel; Enter on a stream shows it alone.
    for _ in range(40):
        kb.press("Tab")
        if page.evaluate("document.activeElement.closest('li')?.dataset.sid") == "beta" and (
            page.evaluate("document.activeElement.classList.contains('name')")
        ):
            break
    else:
        raise AssertionError("Tab never reached the beta stream")
    kb.press("Enter")
    poll(lambda: row_texts(page) == ["beta one"])


def test_a_pause_at_the_live_end_outlasts_a_scroll_event_that_moved_nothing(
    page: Page, server: Server
) -> None:
    # Seen on CI: "p" at the live end, then a scroll event (a repaint, a late
    # one of the first layout) found the view at its end and resumed
    # following. The event is sent here on purpose, after the pause.
    srv = server()
    sid = srv.add_stream("job")
    srv.publish(sid, [f"line {i}" for i in range(100)])
    open_viewer(page, srv.url)
    wait_rows(page, sid, 100)
    page.keyboard.press("p")
    expect(page.locator("#more")).to_be_visible()
    page.evaluate("() => document.querySelector('#log').dispatchEvent(new Event('scroll'))")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done(null)))")
    expect(page.locator("#more")).to_be_visible()
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
    # Scrolled down to the end by the reader, it follows again.
    page.evaluate("() => { document.querySelector('#log').scrollTop = 0; }")
    poll(lambda: page.evaluate("window.tailcast.view.lastTop") < 2)  # (its scroll event came)
    page.evaluate(
        "() => { const s = document.querySelector('#log'); s.scrollTop = s.scrollHeight; }"
    )
    expect(page.locator("#more")).to_be_hidden()


def test_timestamps_stay_on_after_a_delayed_find_step(page: Page, server: Server) -> None:
    """Enter in the find field changes the filter and steps: the step waits for
    the frame that rebuilds the rows, and that frame must leave the timestamp
    column as it was (it once turned it off)."""
    srv = server()
    sid = srv.add_stream("app")
    srv.publish(sid, [f"line {i}" for i in range(20)])
    open_viewer(page, srv.url)
    wait_rows(page, sid, 20)
    ts = page.locator("#rows .row[data-seq] .ts")
    kb = page.keyboard
    page.locator("#log").focus()
    kb.press("t")
    expect(ts).to_have_count(20)
    kb.press("/")
    kb.type("line 1")
    kb.press("Enter")  # the filter changes (rows rebuilt next frame), then the step
    expect(page.locator("#rows .row.current .tx")).to_have_text("line 1")
    assert page.evaluate("window.tailcast.view.times") is True
    # Rows made after that frame have their timestamp too: a new line...
    srv.publish(sid, ["line 100"])
    poll(lambda: "line 100" in row_texts(page, sid))
    expect(ts).to_have_count(12)  # line 1, line 10..19, line 100
    # ... and every row of the next rebuild.
    kb.press("Escape")
    expect(page.locator("#rows .row[data-seq]")).to_have_count(21)
    expect(ts).to_have_count(21)
    expect(page.locator("#times")).to_have_attribute("aria-pressed", "true")


def test_docker_stats_shown_for_docker_streams_only(page: Page, server: Server) -> None:
    srv = server()
    srv.add_stream("api", "process")
    web = srv.add_stream("web", "docker", container="web-1")

    async def stats() -> dict[str, float]:
        return {"cpu_percent": 12.5, "memory_bytes": 50 * 2**20, "memory_limit_bytes": 512 * 2**20}

    srv.call(setattr, srv.stream(web), "stats_provider", stats)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_viewer(page, srv.url)
    expect(page.locator('#stream-list li[data-sid="web"] .stats')).to_have_text(
        "cpu 12.5% · mem 50.0 MiB / 512 MiB"
    )
    expect(page.locator('#stream-list li[data-sid="api"] .stats')).to_be_hidden()
    # Asked for at once, then every few seconds (STATS_EVERY): for web only.
    assert {u for u in requests if "/stats" in u} == {srv.url + "api/streams/web/stats"}


EXITING = (
    "import os, sys, time\n"
    "print('\\x1b[33mworking\\x1b[0m', flush=True)\n"
    "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
    "print('bye', flush=True)\n"
    "sys.exit(3)\n"
)


def test_exit_banner_for_a_real_process(page: Page, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(EXITING)
    go = tmp_path / "go"
    with run_tailcast("serve", "--port", "0", f"job=cmd:{sys.executable} {script} {go}") as proc:
        open_viewer(page, proc.url)
        wait_rows(page, "job", 1)
        expect(page.locator('#rows .row[data-sid="job"] .tx span.f3')).to_have_text("working")
        go.write_text("")
        banner = page.locator('#rows .row.note.exit[data-sid="job"] .tx')
        expect(banner).to_have_text(re.compile(r"^process exited with code 3 after \d+(\.\d)? s$"))
        assert row_texts(page, "job") == ["working", "bye"]
        expect(page.locator('#stream-list li[data-sid="job"] .badge')).to_have_text("exited 3")
        # A viewer that comes later shows the banner too, after the lines.
        page.reload()
        expect(banner).to_have_text(re.compile(r"^process exited with code 3"))
        order = page.eval_on_selector_all(
            '#rows .row[data-sid="job"]', "els => els.map(e => e.classList.contains('exit'))"
        )
        assert order == [False, False, True]
