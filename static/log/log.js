// The log view: turns the store's records into rows, once per animation frame.
//
// - Batched: the store collects changes; one requestAnimationFrame applies
//   them to the list of rows (rows.js), then renders what is on screen, so a
//   flood of lines costs one small layout per frame, not one per line.
// - Virtual: the list holds a row for each record of the store's window (at
//   most its cap, 3000) that the view shows, but only the rows on screen and
//   a margin are in the page (virtual.js). Scrolling near the window's top
//   or bottom asks for more history (`onneed`): the window moves over the
//   whole history and the rows on screen stay put.
// - Merged views stay in time order at the window's edges: records older
//   than the oldest held of a stream with older history (`floor`), or newer
//   than the newest held of a stream detached from its live end (`ceil`),
//   wait until that stream's page is there.
// - Smart follow: within FOLLOW_SLACK px of the bottom the view follows; a
//   scroll up (wheel, keys, scrollbar) pauses it and counts new lines; the
//   pause button, the "N new lines" button and End resume.
// - Views and find: which streams show (one, or several merged) and the find
//   filter decide which records get a row; matches are marked.

import { effectiveLevel, folded } from "../store/structure.js";
import { seekTarget, step } from "./navigate.js";
import { clock, makeRow, rowLabel } from "./row.js";
import { apply, rebuild } from "./rows.js";
import { VirtualRows } from "./virtual.js";

export const FOLLOW_SLACK = 50;
/** Ask for more history when the window's edge is this many screens away. */
export const NEED_SCREENS = 2;

export class LogView {
  /**
   * @param {object} opts
   * @param {HTMLElement} opts.scroller the scrolling element
   * @param {HTMLElement} opts.rows the element rows go into
   * @param {HTMLElement} opts.more the "N new lines" button
   * @param {import("../store/store.js").Store} opts.store
   */
  constructor({ scroller, rows, more, store }) {
    this.scroller = scroller;
    this.rowsEl = rows;
    this.more = more;
    this.store = store;
    this.shown = []; // records with a row in the list (rendered or not), in order
    this.vrows = new VirtualRows(scroller, rows, (rec) => this._rowFor(rec));
    this.recOf = new WeakMap(); // a rendered row's record
    this.center = null; // a record to scroll to the middle of the screen at the next paint
    this.single = null; // the one stream shown, or null: merged view
    this.hidden = new Set(); // streams toggled off in the merged view
    this.matcher = null;
    this.following = true;
    this.newCount = 0;
    this.matches = 0;
    this.current = null; // the selected record (find next/previous, permalink)
    this.target = null; // a permalink {sid, seq} waiting for its line
    this.pendingStep = null;
    this.wantTop = false;
    this.times = false; // the timestamp column
    this.scheduled = false;
    this.full = true;
    this.lastTop = 0;
    this.levels = null; // a Set of levels shown, or null: every line
    this.raw = false; // JSON lines as they came, not as message + fields
    this.floor = -Infinity;
    this.ceil = Infinity;
    this.onneed = () => {}; // (dir): -1 older history, 1 newer history
    this.onedge = (dir, kind) => this.step(dir, kind, true); // no hit further in the window
    this.onresume = () => true; // false: the view is not at the live end (jump there first)
    this.onupdate = () => {}; // after each frame: counts, pause state
    this.ontarget = () => {}; // a permalink target that cannot be found
    this.ontargetMissing = () => false; // true: it is being loaded from the history

    store.onchange = () => this.schedule();
    scroller.addEventListener("scroll", () => this._onScroll(), { passive: true });
    // Intent to read back: pause at once, before the first frame of a smooth
    // scroll could be undone by the next follow.
    scroller.addEventListener("wheel", (ev) => {
      if (ev.deltaY < 0) {
        this.pause();
        if (scroller.scrollTop <= 0) this.onneed(-1); // nothing to scroll: the top already
      }
    }, { passive: true });
    scroller.addEventListener("keydown", (ev) => {
      if (["ArrowUp", "PageUp", "Home"].includes(ev.key)) this.pause();
    });
    more.addEventListener("click", () => this.resume());
    scroller.classList.add("following");
    // Following, scroll anchoring keeps the bottom in view (log.css); should it
    // ever lose it (the first overflow, a rebuild), this puts it back.
    const anchor = scroller.querySelector(".anchor");
    new IntersectionObserver((entries) => {
      const visible = entries[entries.length - 1].isIntersecting;
      if (!visible && this.following) this._toBottom();
    }, { root: scroller }).observe(anchor);
    // A new width wraps lines anew: every row is measured again.
    let width = scroller.clientWidth;
    new ResizeObserver(() => {
      if (scroller.clientWidth !== width) this.vrows.invalidate();
      width = scroller.clientWidth;
      this.schedule();
    }).observe(scroller);
  }

  schedule() {
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.frame());
    }
  }

  // -- what is shown -----------------------------------------------------------

  inView(rec) {
    return this.single !== null ? rec.sid === this.single : !this.hidden.has(rec.sid);
  }

  _match(rec) {
    if (rec.type !== "line" || this.matcher === null) return false;
    return this.matcher.test(rec.plain) !== this.matcher.invert;
  }

  _visible(rec) {
    if (!this.inView(rec)) return false;
    if (rec.key < this.floor || rec.key > this.ceil) return false;
    if (rec.type === "line") {
      if (rec.endMark || folded(rec)) return false;
      if (this.levels !== null && !this.levels.has(effectiveLevel(rec))) return false;
    }
    if (this.matcher !== null && this.matcher.only && rec.type === "line") return rec.m;
    return true;
  }

  setView(single, hidden) {
    if ((single === null) !== (this.single === null)) this.vrows.invalidate(); // the tag column
    this.single = single;
    this.hidden = hidden;
    this.rowsEl.classList.toggle("merged", single === null);
    this.refresh();
  }

  setTimes(on) {
    this.times = on;
    this.vrows.invalidate();
    this.rowsEl.classList.toggle("times", on);
    this.refresh();
  }

  setLevels(levels) {
    this.levels = levels;
    this.refresh();
  }

  setRaw(on) {
    this.raw = on;
    this.vrows.invalidate();
    this.refresh();
  }

  /** Long lines wrapped (on) or scrolled sideways. */
  setWrap(on) {
    if (this.vrows.wrap === on) return;
    this.vrows.wrap = on;
    this.vrows.invalidate();
    this.rowsEl.classList.toggle("nowrap", !on);
    this.schedule();
  }

  /** The streams this view shows. */
  streamIds() {
    return [...this.store.streams.keys()].filter((id) => this.inView({ sid: id }));
  }

  setMatcher(matcher) {
    this.matcher = matcher;
    this.refresh();
  }

  /** Rebuild every row at the next frame (view, filter or display change). */
  refresh() {
    this.full = true;
    this.schedule();
  }

  _rowFor(rec) {
    const st = this.store.streams.get(rec.sid);
    const ranges = rec.type === "line" && rec.m && this.matcher && !this.matcher.invert
      ? this.matcher.ranges(rec.plain) : null;
    const row = makeRow(rec, st ? st.info.name ?? rec.sid : rec.sid, st ? st.colour : 0, ranges,
      { times: this.times, tags: this.single === null, raw: this.raw });
    if (rec === this.current) row.classList.add("current");
    if (rec.m) row.classList.add("hit");
    this.recOf.set(row, rec);
    return row;
  }

  // -- the frame ---------------------------------------------------------------

  frame() {
    this.scheduled = false;
    if (!this.following) this.vrows.capture(); // the rows on screen stay put
    const changes = this.store.take();
    let added = 0;
    if (changes.reset) this.full = true;
    if (this.store.dropped > 0) {
      if (!this.following) this.newCount += this.store.dropped;
      this.store.dropped = 0;
    }
    if (this.full) {
      this.full = false;
      rebuild(this);
      // The line at the top of the screen stays there; gone (filtered out), the selected one shows.
      const top = this.vrows.anchor[0];
      if (!this.following && this.current !== null && !(top !== undefined && top.rec.vis)) {
        this.center ??= this.current;
      }
    } else {
      added = apply(this, changes);
    }
    this._paint();
    if (!this.following && added > 0) this.newCount += added;
    this._showMore();
    if (this.target !== null) seekTarget(this);
    if (this.pendingStep !== null) {
      const { dir, kind } = this.pendingStep;
      this.pendingStep = null;
      this.step(dir, kind);
    }
    this.onupdate();
  }

  // -- follow ------------------------------------------------------------------

  _atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= FOLLOW_SLACK;
  }

  /** Scroll to the window's top once the next frame has built its rows (paused). */
  toTop() {
    // Paused again: a scroll event while the first page was loading may have
    // found the old window at its live end and resumed following, which then
    // took precedence and left the view at the new window's bottom.
    this.pause();
    this.wantTop = true;
    this.schedule();
  }

  _toBottom() {
    const s = this.scroller;
    s.scrollTop = s.scrollHeight;
    this.lastTop = s.scrollTop;
  }

  /** Render the rows on screen: at the bottom, the top, a line centred, or where they were. */
  _paint() {
    let mode = { kind: "keep" };
    if (this.following) mode = { kind: "bottom" };
    else if (this.wantTop) mode = { kind: "top" };
    else if (this.center !== null) mode = { kind: "center", rec: this.center };
    this.wantTop = false;
    this.center = null;
    const top = this.vrows.paint(this.shown, mode);
    if (top !== null) this.lastTop = top;
  }

  _onScroll() {
    const top = this.scroller.scrollTop;
    const movedUp = top < this.lastTop - 1;
    const movedDown = top > this.lastTop + 1;
    this.lastTop = top;
    if (this.following && movedUp && !this._atBottom()) this.pause();
    // Following again only when scrolled *down* to the end: a scroll event
    // that moved nothing (a repaint, a late one of the page's first layout)
    // must not undo a pause (seen on CI: "p" at the live end, then resumed).
    else if (!this.following && movedDown && this._atBottom() && this.attached()) this.resume();
    if (this.following) return;
    const s = this.scroller;
    this.schedule(); // the rows now on screen
    const room = s.clientHeight * NEED_SCREENS;
    if (top < room) this.onneed(-1);
    if (s.scrollHeight - top - s.clientHeight < room && !this.attached()) this.onneed(1);
  }

  /** Whether every stream in view is at its live end. */
  attached() {
    return this.streamIds().every((id) => this.store.streams.get(id).attached);
  }

  pause() {
    if (!this.following) return;
    this.following = false;
    this.store.pinned = true;
    this.scroller.classList.remove("following");
    this.newCount = 0;
    this._showMore();
    this.onupdate();
  }

  /** Follow the live end again; `force`: the window is there already. */
  resume(force = false) {
    if (!force && !this.onresume()) return; // the loader jumps there, then resumes
    this.following = true;
    this.store.pinned = false;
    this.scroller.classList.add("following");
    this.newCount = 0;
    this._toBottom();
    this._showMore();
    this.onupdate();
    this.schedule();
  }

  _showMore() {
    const n = this.newCount;
    const text = n > 0 ? `${n} new line${n === 1 ? "" : "s"} ↓` : "paused — follow ↓";
    // Each frame: touch the page only for a change.
    if (this.more.hidden !== this.following) this.more.hidden = this.following;
    if (this.more.textContent !== text) this.more.textContent = text;
  }

  // -- selection, find navigation, permalinks ------------------------------------

  select(rec, scroll = true) {
    if (this.current !== null && this.current.row !== null) {
      this.current.row.classList.remove("current");
    }
    this.current = rec;
    if (rec === null) return;
    if (rec.row !== null) rec.row.classList.add("current");
    if (scroll && rec.vis) {
      this.pause();
      // Rendered and scrolled to now: callers look at it right away.
      this.center = rec;
      this._paint();
    }
  }

  recordOf(row) {
    return this.recOf.get(row) ?? null;
  }

  /**
   * Move to the next (dir 1) or previous (dir -1) hit (`kind`: "find" or
   * "error"); see navigate.js.
   */
  step(dir, kind = "find", wrap = false) {
    step(this, dir, kind, wrap);
  }

  /** Show a line by stream and seq (a permalink) as soon as it is here. */
  seek(sid, seq) {
    this.target = { sid, seq };
    this.schedule();
  }

  /** The visible lines as plain text (what "save" downloads). */
  text({ timestamps, tags }) {
    const out = [];
    for (const rec of this.shown) {
      const parts = [];
      if (timestamps && rec.ts !== undefined) parts.push(clock(rec.ts));
      if (tags) parts.push(rec.sid);
      if (rec.type === "line") parts.push(rec.plain);
      else parts.push(`[${rowLabel(rec)}]`);
      out.push(parts.join(" "));
    }
    return out.length ? `${out.join("\n")}\n` : "";
  }
}
