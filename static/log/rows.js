// The log view's list of rows (view.shown, the records that get a row):
// building it all (rebuild) or applying a frame's change set (apply); the
// merged view's time bounds. No DOM here but for rendered rows that change:
// which rows are in the page is the virtual list's business (virtual.js).
// Used by LogView (log.js) once per animation frame.

import { compare, insertionIndex } from "../store/order.js";

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

/** Every record's match and visibility again; the rows are made again as they show. */
export function rebuild(view) {
  bounds(view);
  view.vrows.clear();
  for (const rec of view.shown) rec.vis = false;
  const shown = [];
  let matches = 0;
  for (const rec of view.store.records) {
    rec.m = view._match(rec);
    if (!view._visible(rec)) continue;
    rec.vis = true;
    if (rec.m) matches++;
    shown.push(rec);
  }
  view.shown = shown;
  view.matches = matches;
  if (view.current !== null && !view.current.vis) view.current = null;
}

function hide(view, rec) {
  rec.vis = false;
  if (rec.row !== null) {
    rec.row.remove();
    rec.row = null;
  }
  if (rec.m) view.matches--;
}

/** Apply a change set; returns how many visible lines were added. */
export function apply(view, { added, updated, removed }) {
  let dropped = false;
  for (const rec of removed) {
    if (rec.vis) {
      hide(view, rec);
      dropped = true;
    }
  }
  for (const rec of updated) {
    if (rec.dead) continue;
    if (!rec.vis) {
      added.add(rec); // may have become visible
      continue;
    }
    if (rec.m) view.matches--;
    rec.m = view._match(rec);
    if (view._visible(rec)) {
      if (rec.m) view.matches++;
      if (rec.row !== null) view.vrows.replace(rec);
    } else {
      rec.m = false;
      hide(view, rec);
      dropped = true;
    }
  }
  if (dropped) view.shown = view.shown.filter((r) => r.vis);
  // The list is kept in record order: sort the new ones, then append or insert.
  const fresh = [...added].filter((r) => !r.dead && !r.vis).sort(compare);
  const shown = view.shown;
  let count = 0;
  for (const rec of fresh) {
    rec.m = view._match(rec);
    if (!view._visible(rec)) continue;
    rec.vis = true;
    if (rec.m) view.matches++;
    if (rec.type === "line") count++;
    const at = insertionIndex(shown, rec);
    if (at === shown.length) shown.push(rec);
    else shown.splice(at, 0, rec);
  }
  return count;
}
