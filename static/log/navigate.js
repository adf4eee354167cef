// Stepping through the view's hits (find matches, errors) and seeking a
// permalink's line: over the view's list of rows, rendered or not; the
// selected record is scrolled to (LogView.select). Used by LogView (log.js).

import { compare } from "../store/order.js";
import { effectiveLevel } from "../store/structure.js";

/** Whether a record is a hit for stepping: a find match, or an error line. */
function isHit(rec, kind) {
  if (kind === "find") return rec.m;
  const level = rec.type === "line" ? effectiveLevel(rec) : undefined;
  return (level === "error" || level === "fatal") && !rec.follows;
}

/**
 * Move to the next (dir 1) or previous (dir -1) hit (`kind`: "find" or
 * "error"). Past the window's last hit `onedge` decides (search the
 * history); with `wrap` it goes round to the other end of the window.
 */
export function step(view, dir, kind, wrap) {
  if (view.full) {
    // The filter just changed: step once the rows are rebuilt.
    view.pendingStep = { dir, kind };
    view.schedule();
    return;
  }
  const hits = view.shown.filter((r) => isHit(r, kind));
  let i;
  if (view.current !== null && !view.current.dead) {
    const pos = hits.findIndex((r) => compare(r, view.current) >= 0);
    if (dir > 0) {
      i = pos === -1 ? hits.length : hits[pos] === view.current ? pos + 1 : pos;
    } else {
      i = (pos === -1 ? hits.length : pos) - 1;
    }
  } else {
    i = dir > 0 ? 0 : hits.length - 1;
  }
  if (i < 0 || i >= hits.length) {
    if (!wrap) {
      view.onedge(dir, kind);
      return;
    }
    if (hits.length === 0) return;
    i = (i + hits.length) % hits.length;
  }
  view.select(hits[i]);
}

/** A permalink's line: selected once it is in the view's list, else loaded or reported. */
export function seekTarget(view) {
  const { sid, seq } = view.target;
  const rec = view.shown.find((r) => r.sid === sid && r.type === "line"
    && r.seq <= seq && seq <= r.last);
  if (rec !== undefined) {
    view.target = null;
    view.select(rec);
    return;
  }
  if (view.ontargetMissing(sid, seq)) {
    view.target = null;
    return;
  }
  const st = view.store.streams.get(sid);
  if (st !== undefined && st.pos >= seq) {
    // Arrived and is not shown: left the cap, filtered out or another view.
    const held = view.store.records.some((r) => r.sid === sid && r.type === "line"
      && r.seq <= seq && seq <= r.last);
    view.target = null;
    view.ontarget(sid, seq, held);
  }
}
