// The log's virtual list: of the view's rows (view.shown: every record the
// view and its filters let through, at most the store's cap) only those on
// screen, and MARGIN px above and below, exist in the page. The rows
// element's paddings stand for the others, so the scroll height is the
// whole list's and the scrollbar reads as usual. The DOM stays a few
// hundred nodes whatever the window holds: a flood costs the style, layout
// and paint of one screen a frame, not of 3000 rows.
//
// - Heights: a row is measured when it enters the page (the new rows'
//   heights, read together: one layout of one screen); a row never rendered
//   counts ROW_H per estimated wrapped line. Following, new rows are measured
//   at the next paint instead, before it changes anything: the browser has
//   laid them out by then, so reading costs no layout of its own (the
//   bottom is the scroller's, so an estimate moves nothing on screen). A
//   change of wrap, columns or width (a new `gen`) forgets every measure.
// - Position, decided at each paint: following, the bottom; a selected or
//   sought line, centred; the first line on screen otherwise stays where it
//   was while rows come, go or get measured above it (what the browser's
//   scroll anchoring would do, done from the model, with no layout read).
//   Following, the browser's own anchoring (on the anchor after the rows)
//   keeps the bottom: no layout is forced from script in a flood.

/** The log's line height (log.css: font 13px/18px). */
export const ROW_H = 18;
/**
 * Rows are rendered this far (px) beyond each edge of the screen, so that a
 * scroll reuses rows. Following, a flood moves every row off screen within a
 * frame or two: rows beyond the screen would be made for nothing.
 */
export const MARGIN = 540;
export const FOLLOW_MARGIN = 3 * ROW_H;
/** Anchor candidates kept: the first that is still shown after a frame wins. */
const CANDIDATES = 24;

/** The first index i (0..n) with tops[i + 1] > y: the row at offset y. */
function rowAt(tops, n, y) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tops[mid + 1] <= y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class VirtualRows {
  /**
   * @param {HTMLElement} scroller the scrolling element
   * @param {HTMLElement} rowsEl where the rendered rows go
   * @param {(rec: object) => HTMLElement} make a record's new row
   */
  constructor(scroller, rowsEl, make) {
    this.scroller = scroller;
    this.rowsEl = rowsEl;
    this.make = make;
    this.rendered = []; // records with a row in the page, in order
    this.tops = new Float64Array(1); // tops[i]: offset of shown[i]; tops[n]: the total
    this.shown = []; // the list `tops` was computed for
    this.gen = 1; // measures of another gen are stale (records start with hg -1: none)
    this.wrap = true;
    this.cols = 0; // characters per screen line, estimated from the width
    this.anchor = []; // [{rec, off}] from the last paint or scroll
    // The rows start below the scroller's own top padding (a constant: px font).
    this.base = Number.parseFloat(getComputedStyle(scroller).paddingTop) || 0;
    this.padTop = -1;
    this.padBottom = -1;
  }

  /** Forget every row's measure (wrap, columns or width changed). */
  invalidate() {
    this.gen++;
    this.cols = 0;
  }

  /** Drop every rendered row (a rebuild makes them again). */
  clear() {
    for (const rec of this.rendered) rec.row = null;
    this.rendered = [];
    this.rowsEl.replaceChildren();
  }

  _height(rec) {
    // Measured (gen) or estimated (-1 - gen) for this layout already.
    if (rec.hg === this.gen || rec.hg === -1 - this.gen) return rec.h;
    let h = ROW_H;
    if (this.wrap && rec.type === "line") {
      if (this.cols === 0) {
        // A monospace cell is about .6em: 13px * .6 (an estimate; rows get measured).
        this.cols = Math.max(20, Math.floor((this.scroller.clientWidth - 40) / 7.8));
      }
      const len = rec.plain.length;
      if (len > this.cols) h = ROW_H * Math.ceil(len / this.cols);
    }
    rec.h = h;
    rec.hg = -1 - this.gen;
    return h;
  }

  _layout(shown) {
    const n = shown.length;
    if (this.tops.length < n + 1) this.tops = new Float64Array(Math.max(n + 1, 2 * this.tops.length));
    const tops = this.tops;
    tops[0] = 0;
    for (let i = 0; i < n; i++) tops[i + 1] = tops[i] + this._height(shown[i]);
    this.shown = shown;
  }

  /** Note which rows are on screen now: they stay put through the next changes. */
  capture() {
    const shown = this.shown;
    const n = shown.length;
    this.anchor = [];
    // Rows rendered while following have estimated heights until measured.
    if (this._settle()) this._layout(shown);
    if (n === 0 || this.tops.length < n + 1) return;
    const y = this.scroller.scrollTop - this.base;
    for (let i = rowAt(this.tops, n, y); i < n && this.anchor.length < CANDIDATES; i++) {
      this.anchor.push({ rec: shown[i], off: this.tops[i] - y });
    }
  }

  /** Where the screen's top goes (list offset), for this paint's `mode`. */
  _target(shown, mode, viewH) {
    const tops = this.tops;
    const n = shown.length;
    if (mode.kind === "bottom") return tops[n] + ROW_H - viewH;
    if (mode.kind === "top") return -this.base; // the scroller's very top
    if (mode.kind === "center") {
      const i = shown.indexOf(mode.rec);
      if (i >= 0) return (tops[i] + tops[i + 1]) / 2 - viewH / 2;
    }
    for (const { rec, off } of this.anchor) {
      if (rec.dead || !rec.vis) continue;
      const i = shown.indexOf(rec);
      if (i >= 0) return tops[i] - off;
    }
    return this.scroller.scrollTop - this.base;
  }

  /**
   * Render the rows on screen for `mode` ({kind: "bottom" | "top" |
   * "center" (with rec) | "keep"}) and scroll there; returns the new
   * scrollTop, or null at the bottom (left to the browser).
   */
  paint(shown, mode) {
    const viewH = this.scroller.clientHeight;
    this._settle();
    this._layout(shown);
    const n = shown.length;
    // y: the screen's top as an offset in the list (-base: the scroller's top).
    const clamp = (t) => Math.max(-this.base, Math.min(t, this.tops[n] + ROW_H - viewH));
    const margin = mode.kind === "bottom" ? FOLLOW_MARGIN : MARGIN;
    let y;
    let from;
    let to;
    // Rows measured smaller or taller than estimated move the others: until the
    // rendered rows cover the screen (at most a few rounds, the last one holds).
    for (let round = 0; round < 3; round++) {
      y = clamp(this._target(shown, mode, viewH));
      from = rowAt(this.tops, n, y - margin);
      to = Math.min(n, rowAt(this.tops, n, y + viewH + margin) + 1);
      if (round > 0 && this.tops[from] <= Math.max(0, y) && (to === n || this.tops[to] >= y + viewH)) break;
      this._reconcile(shown, from, to);
      if (mode.kind === "bottom" || !this._settle()) break; // following: measured next time
      this._layout(shown);
    }
    y = clamp(this._target(shown, mode, viewH));
    const padTop = this.tops[from];
    const padBottom = this.tops[n] - this.tops[to];
    if (padTop !== this.padTop) this.rowsEl.style.setProperty("padding-top", `${padTop}px`);
    if (padBottom !== this.padBottom) this.rowsEl.style.setProperty("padding-bottom", `${padBottom}px`);
    this.padTop = padTop;
    this.padBottom = padBottom;
    // Following, the browser's scroll anchoring keeps the bottom in view
    // (log.css): touching or reading scrollTop here would force a layout.
    if (mode.kind === "bottom") return null;
    const s = this.scroller;
    // Only a real move: setting scrollTop would cut a smooth scroll short.
    if (Math.abs(s.scrollTop - (y + this.base)) >= 1) s.scrollTop = y + this.base;
    this.capture();
    return s.scrollTop;
  }

  /** Measure the rendered rows not measured yet; whether there were any. */
  _settle() {
    const pending = this.rendered.filter((rec) => rec.row !== null && rec.hg !== this.gen);
    this._measure(pending);
    return pending.length > 0;
  }

  /** Read the rows' heights: one layout for all, every read after every write. */
  _measure(recs) {
    const hs = recs.map((rec) => rec.row.getBoundingClientRect().height);
    recs.forEach((rec, i) => {
      rec.h = hs[i];
      rec.hg = this.gen;
    });
  }

  /** The page holds rows for shown[from..to) only (new rows are not measured yet). */
  _reconcile(shown, from, to) {
    const want = shown.slice(from, to);
    const keep = new Set(want);
    const gone = this.rendered.filter((rec) => rec.row !== null
      && (!keep.has(rec) || rec.row.parentNode !== this.rowsEl));
    if (gone.length > 0 && gone.length === this.rowsEl.childElementCount) {
      this.rowsEl.replaceChildren(); // a flood moved every row off screen: all go at once
    } else {
      for (const rec of gone) rec.row.remove();
    }
    for (const rec of gone) rec.row = null;
    let next = this.rowsEl.firstElementChild;
    let frag = null; // consecutive new rows go in together
    const flush = () => {
      if (frag !== null) this.rowsEl.insertBefore(frag, next);
      frag = null;
    };
    for (const rec of want) {
      if (rec.row !== null && rec.row === next) {
        flush();
        next = next.nextElementSibling;
        continue;
      }
      if (rec.row === null) rec.row = this.make(rec);
      frag ??= document.createDocumentFragment();
      frag.append(rec.row);
    }
    flush();
    this.rendered = want;
  }

  /** A rendered row made again (its record changed); it gets measured at the next paint. */
  replace(rec) {
    const old = rec.row;
    rec.row = this.make(rec);
    rec.hg = -1; // not measured
    if (old !== null) old.replaceWith(rec.row);
  }
}
