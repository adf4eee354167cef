"""Structure in Chromium: levels (a word and a colour), the level filter and
next/previous error, JSON lines as message + fields with a raw toggle,
follows lines folded under their message, GitHub Actions and GitLab build
sections, and restart/stop for a controllable process with its real start.

Lines are published with ``level``/``follows`` already in their encoded
JSON (protocol 1.1), so these tests do not depend on the server's detection."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.helpers import poll, run_tailcast
from tests.viewer.history_support import fill, publish_structured
from tests.viewer.support import ThreadServer, row_texts, wait_rows

Server = Callable[..., ThreadServer]


def open_viewer(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def reloaded(page: Page, seq: int) -> bool:
    """No history load running or waiting, and the row of ``seq`` shows a record held now."""
    done: bool = page.evaluate(
        """seq => { const t = window.tailcast;
          const row = document.querySelector(`#rows .row[data-seq="${seq}"]`);
          const rec = row === null ? null : t.view.recordOf(row);
          return !t.win.busy && rec !== null && !rec.dead; }""",
        seq,
    )
    return done


LEVELLED = [
    {"text": "starting", "level": "info"},
    {"text": "disk almost full", "level": "warn"},
    {"text": "cannot write", "level": "error"},
    {"text": "details follow", "level": "debug"},
    {"text": "out of memory", "level": "fatal"},
    {"text": "no level here"},
]


def test_levels_marker_filter_and_error_steps(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("app")
    publish_structured(srv, sid, LEVELLED)
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(str(f))))
    open_viewer(page, srv.url)
    wait_rows(page, sid, 6)
    marks = page.eval_on_selector_all(
        "#rows .row[data-seq]", "els => els.map(e => e.querySelector('.lv')?.textContent ?? '')"
    )
    assert marks == ["INFO", "WARN", "ERROR", "DEBUG", "FATAL", ""]
    error_row = page.locator('#rows .row[data-seq="3"]')
    expect(error_row).to_have_class(re.compile(r"\blv-error\b"))
    colours = page.eval_on_selector_all(
        "#rows .row[data-seq] .lv", "els => els.map(e => getComputedStyle(e).color)"
    )
    assert len(set(colours)) == 5

    # Next / previous error walk error and fatal lines.
    page.locator("#log").focus()
    page.keyboard.press("E")
    expect(page.locator("#rows .row.current .tx")).to_have_text("cannot write")
    page.locator("#err-next").click()
    expect(page.locator("#rows .row.current .tx")).to_have_text("out of memory")
    page.locator("#err-prev").click()
    expect(page.locator("#rows .row.current .tx")).to_have_text("cannot write")

    # The level filter: the subscription asks the server for these levels.
    page.locator("#levels").select_option("fatal,error")
    expect(page.locator("#rows .row[data-seq]")).to_have_count(2)
    assert any('"filter":{"levels":["fatal","error"]}' in f for f in frames), frames
    assert row_texts(page, sid) == ["cannot write", "out of memory"]
    page.locator("#levels").select_option("")
    expect(page.locator("#rows .row[data-seq]")).to_have_count(6)


def test_next_error_far_back_in_the_history(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("build")
    fill(srv, sid, 50)
    publish_structured(srv, sid, [{"text": "compile failed", "level": "error"}])
    fill(srv, sid, 6000)
    open_viewer(page, srv.url)
    wait_rows(page, sid, 3000)
    page.locator("#err-prev").click()
    current = page.locator("#rows .row.current")
    expect(current).to_have_attribute("data-seq", "51")
    expect(current.locator(".tx")).to_have_text("compile failed")
    expect(current).to_be_in_viewport()


def test_json_lines_as_fields_with_a_raw_toggle(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("api")
    raw = '{"level":"warn","msg":"slow request","path":"/api/orders","ms":812,"user":{"id":7}}'
    srv.publish(sid, [raw, "plain text line"])
    open_viewer(page, srv.url)
    wait_rows(page, sid, 2)
    row = page.locator('#rows .row[data-seq="1"]')
    expect(row.locator(".msg")).to_have_text("slow request")
    keys = row.locator(".kv .k").all_text_contents()
    values = row.locator(".kv .v").all_text_contents()
    assert keys == ["path=", "ms=", "user="]
    assert values == ["/api/orders", "812", '{"id":7}']
    # The level comes from the JSON when the server sends none.
    expect(row.locator(".lv")).to_have_text("WARN")
    page.locator("#raw").click()
    expect(row.locator(".tx")).to_have_text(raw)
    expect(page.locator("#raw")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("j")
    expect(row.locator(".msg")).to_have_text("slow request")


TRACE: list[dict[str, Any]] = [
    {"text": "Traceback (most recent call last):", "level": "error"},
    {"text": '  File "app.py", line 3, in <module>', "follows": True},
    {"text": "    main()", "follows": True},
    {"text": "ZeroDivisionError: division by zero", "follows": True},
    {"text": "next message", "level": "info"},
]


def test_follows_lines_fold_under_their_message(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("app")
    publish_structured(srv, sid, TRACE)
    open_viewer(page, srv.url)
    wait_rows(page, sid, 5)
    expect(page.locator("#rows .row.follows")).to_have_count(3)
    head = page.locator('#rows .row[data-seq="1"]')
    fold = head.locator("button.fold")
    expect(fold).to_have_text("▾ 3 more lines")
    # A follows line shares its message's level (for filters) and shows no marker.
    page.locator("#levels").select_option("fatal,error")
    expect(page.locator("#rows .row[data-seq]")).to_have_count(4)
    page.locator("#levels").select_option("")
    # A new level filter loads the window again: new records, unfolded. Fold
    # once they are in and on screen, or the fold goes with the old record.
    poll(lambda: reloaded(page, 1))
    fold.click()
    expect(page.locator("#rows .row[data-seq]")).to_have_count(2)
    expect(head.locator("button.fold")).to_have_attribute("aria-expanded", "false")
    head.locator("button.fold").click()
    expect(page.locator("#rows .row[data-seq]")).to_have_count(5)


BUILD = [
    "::group::Install dependencies",
    "npm ci",
    "added 812 packages",
    "::endgroup::",
    "\x1b[0Ksection_start:1700000000:unit_tests[collapsed=true]\r\x1b[0KRun the unit tests",
    "PASS src/app.test.js",
    "PASS src/util.test.js",
    "\x1b[0Ksection_end:1700000042:unit_tests\r\x1b[0K",
    "Job succeeded",
]


def test_build_sections_fold_by_name(page: Page, server: Server) -> None:
    srv = server()
    sid = srv.add_stream("ci")
    srv.publish(sid, BUILD)
    open_viewer(page, srv.url)
    headers = page.locator("#rows .row.section")
    expect(headers).to_have_count(2)
    expect(headers.nth(0).locator(".section-name")).to_have_text("▾ Install dependencies")
    expect(headers.nth(1).locator(".section-name")).to_have_text("▸ Run the unit tests")
    expect(headers.nth(1).locator(".meta")).to_have_text("2 lines · 42 s")
    # No raw markers; the GitLab section starts folded (collapsed=true).
    texts = row_texts(page, sid)
    assert not any("::group::" in t or "section_" in t for t in texts)
    assert "PASS src/app.test.js" not in texts
    assert "npm ci" in texts and "Job succeeded" in texts
    headers.nth(0).locator("button.fold").click()
    expect(page.locator('#rows .row[data-seq="2"]')).to_have_count(0)
    headers.nth(1).locator("button.fold").click()
    expect(page.locator('#rows .row[data-seq="6"] .tx')).to_have_text("PASS src/app.test.js")


WAITING = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"


def test_restart_and_stop_a_controllable_process(page: Page, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(WAITING)
    with run_tailcast(
        "serve", "--port", "0", "--allow-control", f"job=cmd:{sys.executable} {script}"
    ) as proc:
        open_viewer(page, proc.url)
        wait_rows(page, "job", 1)
        item = page.locator('#stream-list li[data-sid="job"]')
        expect(item.locator(".control")).to_be_visible()
        item.locator("button.stop").click()
        expect(item.locator(".badge")).to_have_text(re.compile(r"^exited"))
        # The banner's duration is the run's, from its real start (`started`).
        banner = page.locator('#rows .row.note.exit[data-sid="job"] .tx')
        expect(banner).to_have_text(re.compile(r"^process exited .* after \d+(\.\d)? s$"))
        item.locator("button.restart").click()
        expect(item.locator(".badge")).to_have_text("live")
        wait_rows(page, "job", 2)


def test_no_control_buttons_without_allow_control(page: Page, server: Server) -> None:
    srv = server()
    srv.add_stream("job", "process", argv=["job"])
    open_viewer(page, srv.url)
    expect(page.locator('#stream-list li[data-sid="job"]')).to_be_visible()
    expect(page.locator('#stream-list li[data-sid="job"] .control')).to_be_hidden()
