// The log view's rows in the page: building them all (rebuild) or applying
// a frame's change set (apply), in chunks of CHUNK rows, at most
// ROWS_PER_FRAME new ones a frame; the merged view's time bounds. Used by
// LogView (log.js) once per animation frame.

import { compare, insertionIndex } from "../store/order.js";

/**
 * Rows go in chunks of about this many; a chunk out of view is skipped by
 * layout and paint (content-visibility: auto), so a frame's cost does not
 * grow with the number of rows held.
 */
export const CHUNK = 100;
/**
 * Most rows built in one frame. After a stall (a busy machine, a background
 * tab) thousands may be waiting; building them over several frames keeps
 * each frame short. The store's cap drops the oldest before they are built.
 */
export const ROWS_PER_FRAME = 500;

function chunk() {
  const c = document.createElement("div");
  c.className = "chunk";
  return c;
}

/** The first record whose row is on screen, and its offset from the top. */
function anchorOf(view) {
  const top = view.scroller.getBoundingClientRect().top;
  const shown = view.shown;
  let lo = 0;
  let hi = shown.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (shown[mid].row.getBoundingClientRect().bottom <= top) lo = mid + 1;
    else hi = mid;
  }
  if (lo >= shown.length) return null;
  return { rec: shown[lo], offset: shown[lo].row.getBoundingClientRect().top - top };
}

/** The merged view's time bounds: see log.js's module comment. */
export function bounds(view) {
  const firstKey = new Map();
  const lastKey = new Map();
  for (const rec of view.store.records) {
    if (!firstKey.has(rec.sid)) firstKey.set(rec.sid, rec.key);
    lastKey.set(rec.sid, rec.key);
  }
  view.floor = -Infinity;
  view.ceil = Infinity;
  if (view.single !== null) return;
  for (const id of view.streamIds()) {
    const st = view.store.streams.get(id);
    if (!firstKey.has(id)) continue;
    if (st.olderKept()) view.floor = Math.max(view.floor, firstKey.get(id));
    if (!st.attached) view.ceil = Math.min(view.ceil, lastKey.get(id));
  }
}

export function rebuild(view) {
  const anchor = view.following || view.shown.length === 0 ? null : anchorOf(view);
  bounds(view);
  for (const rec of view.shown) rec.row = null;
  view.shown = [];
  view.matches = 0;
  const frag = document.createDocumentFragment();
  let c = null;
  for (const rec of view.store.records) {
    rec.m = view._match(rec);
    if (!view._visible(rec)) continue;
    rec.row = view._rowFor(rec);
    if (rec.m) view.matches++;
    view.shown.push(rec);
    if (c === null || c.childElementCount >= CHUNK) c = frag.appendChild(chunk());
    c.append(rec.row);
  }
  view.rowsEl.replaceChildren(frag);
  if (view.current !== null && view.current.row === null) view.current = null;
  if (anchor !== null && anchor.rec.row !== null) {
    // The line at the top of the screen stays there.
    const top = view.scroller.getBoundingClientRect().top;
    view.scroller.scrollTop += anchor.rec.row.getBoundingClientRect().top - top - anchor.offset;
    view.lastTop = view.scroller.scrollTop;
  } else if (!view.following && view.current !== null) {
    view.current.row.scrollIntoView({ block: "center" });
  }
}

function drop(view, rec) {
  if (rec.row !== null) {
    unlink(view, rec.row);
    rec.row = null;
    if (rec.m) view.matches--;
    return true;
  }
  return false;
}

/** Take a row out of the page; an emptied chunk goes too. */
function unlink(view, row) {
  const parent = row.parentNode;
  row.remove();
  if (parent !== null && parent !== view.rowsEl && parent.firstChild === null) parent.remove();
}

/** Apply a change set; returns how many visible lines were added. */
export function apply(view, { added, updated, removed }) {
  let dropped = false;
  for (const rec of removed) dropped = drop(view, rec) || dropped;
  for (const rec of updated) {
    if (rec.dead) continue;
    if (rec.row === null) {
      added.add(rec); // may have become visible
      continue;
    }
    const old = rec.row;
    if (rec.m) view.matches--;
    rec.m = view._match(rec);
    if (view._visible(rec)) {
      rec.row = view._rowFor(rec);
      if (rec.m) view.matches++;
      old.replaceWith(rec.row);
    } else {
      unlink(view, old);
      rec.row = null;
      dropped = true;
    }
  }
  if (dropped) view.shown = view.shown.filter((r) => r.row !== null);
  // Rows are kept in record order: sort the new ones, then append or insert.
  let fresh = [...added].filter((r) => !r.dead && r.row === null).sort(compare);
  if (fresh.length > ROWS_PER_FRAME) {
    // The oldest now, the rest next frame (they stay in the store's change set).
    for (const rec of fresh.slice(ROWS_PER_FRAME)) view.store.changes.added.add(rec);
    fresh = fresh.slice(0, ROWS_PER_FRAME);
    view.schedule();
  }
  let tail = view.rowsEl.lastElementChild;
  let count = 0;
  for (const rec of fresh) {
    rec.m = view._match(rec);
    if (!view._visible(rec)) continue;
    rec.row = view._rowFor(rec);
    if (rec.m) view.matches++;
    if (rec.type === "line") count++;
    const shown = view.shown;
    const at = insertionIndex(shown, rec);
    if (at === shown.length) {
      shown.push(rec);
      if (tail === null || tail.childElementCount >= CHUNK) {
        tail = view.rowsEl.appendChild(chunk());
      }
      tail.append(rec.row);
    } else {
      shown[at].row.before(rec.row); // into that row's chunk
      shown.splice(at, 0, rec);
    }
  }
  return count;
}
