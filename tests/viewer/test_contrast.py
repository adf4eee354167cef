"""Readable contrast in both themes: page text, muted text, the 16 ANSI
colours, stream tags, stderr rows, find marks and the level markers (on their
own tinted rows) reach WCAG AA (4.5:1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.viewer.support import ThreadServer

# Each probe: a class list to render text with, inside a log row.
PROBES = [
    ("text", "", ""),
    ("muted", "ts", ""),
    *[(f"ansi {n}", "tx", f"f{n}") for n in range(16)],
    *[(f"tag {n}", f"tag c{n}", "") for n in range(8)],
]

CONTRAST = """(probes) => {
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = (rgb) => { const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).map(Number);
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
  const rows = document.querySelector('#rows');
  const out = {};
  for (const [name, outer, inner] of probes) {
    const row = document.createElement('div');
    row.className = 'row';
    const a = document.createElement('span');
    a.className = outer;
    const b = document.createElement('span');
    b.className = inner;
    b.textContent = 'x';
    a.append(b);
    row.append(a);
    rows.append(row);
    out[name] = ratio(getComputedStyle(b).color, getComputedStyle(document.body).backgroundColor);
    row.remove();
  }
  const err = document.createElement('div');
  err.className = 'row err';
  err.textContent = 'x';
  rows.append(err);
  out['stderr row'] = ratio(getComputedStyle(err).color, getComputedStyle(err).backgroundColor);
  const mark = document.createElement('mark');
  mark.textContent = 'x';
  err.append(mark);
  out['mark'] = ratio(getComputedStyle(mark).color, getComputedStyle(mark).backgroundColor);
  err.remove();
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace']) {
    const row = document.createElement('div');
    row.className = `row lv-${level}`;
    row.dataset.level = level;
    const lv = document.createElement('span');
    lv.className = 'lv';
    lv.textContent = level.toUpperCase();
    const tx = document.createElement('span');
    tx.className = 'tx';
    tx.textContent = 'x';
    row.append(lv, tx);
    rows.append(row);
    const bg = getComputedStyle(row).backgroundColor;
    const under = bg === 'rgba(0, 0, 0, 0)' ? getComputedStyle(document.body).backgroundColor : bg;
    out[`level ${level}`] = ratio(getComputedStyle(lv).color, under);
    out[`level ${level} text`] = ratio(getComputedStyle(tx).color, under);
    row.remove();
  }
  return out;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_contrast_is_readable(
    scheme: str, page_factory: Callable[..., Page], server: Callable[..., ThreadServer]
) -> None:
    srv = server()
    page = page_factory(color_scheme=scheme)
    page.goto(srv.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    ratios: dict[str, float] = page.evaluate(CONTRAST, PROBES)
    weak = {k: round(v, 2) for k, v in ratios.items() if v < 4.5}
    assert not weak, f"{scheme}: below 4.5:1: {weak}"
