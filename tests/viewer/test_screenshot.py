"""The README's screenshot scene renders: several streams merged, ANSI
colours, Docker stats, an exit banner; saved as a PNG (to a temporary path)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.viewer.screenshot import SIZE, build_scene, build_structure_scene, take, take_structure
from tests.viewer.support import ThreadServer


def test_screenshot_scene(
    page_factory: Callable[..., Page], server: Callable[..., ThreadServer], tmp_path: Path
) -> None:
    srv = server()
    build_scene(srv)
    page = page_factory(viewport=SIZE, color_scheme="dark")
    path = tmp_path / "viewer.png"
    take(page, srv, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (SIZE["width"], SIZE["height"])
    expect(page.locator("#stream-list li")).to_have_count(4)
    expect(page.locator("#rows .row.note.exit .tx")).to_have_text(
        "process exited with code 0 after at least 1.2 s"
    )
    expect(page.locator('#stream-list li[data-sid="worker"] .stats')).to_have_text(
        "cpu 37.4% · mem 183 MiB / 1.0 GiB"
    )
    assert page.locator("#rows .tx span.f2").count() > 10


def test_structure_screenshot_scene(
    page_factory: Callable[..., Page], server: Callable[..., ThreadServer], tmp_path: Path
) -> None:
    """The second picture: levels, JSON fields, a folded build section, a stack trace."""
    srv = server()
    build_structure_scene(srv)
    page = page_factory(viewport=SIZE, color_scheme="light")
    path = tmp_path / "structure.png"
    take_structure(page, srv, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    expect(page.locator("#rows .row.section.folded .section-name")).to_have_text(
        "▸ Install dependencies"
    )
    expect(page.locator("#rows .row.json .msg").first).to_have_text("server listening")
    expect(page.locator("#rows .row.follows")).to_have_count(3)
    expect(page.locator("#rows .row.lv-fatal .lv")).to_have_text("FATAL")
