// Pages of history put into the store's window: older lines before it,
// newer lines after it, or a fresh window somewhere in the history (jump to
// the start, to the end, to a permalink). No fetching here (history/history.js).

import { PLAIN } from "../ansi/ansi.js";
import { render } from "./render.js";
import { MAX_ROW_CHARS } from "./store.js";
import { newContext } from "./structure.js";

/** Forget every record of these streams; their windows start empty and detached. */
export function clearWindow(store, ids) {
  const drop = new Set(ids);
  const kept = [];
  for (const rec of store.records) {
    if (drop.has(rec.sid)) store._kill(rec);
    else kept.push(rec);
  }
  store.records = kept;
  for (const id of ids) {
    const st = store.streams.get(id);
    if (st === undefined) continue;
    st.windowReset();
    st.attached = false;
    st.hi = -1; // nothing known: no live line appends until a page says where we are
  }
  store.changes.reset = true;
  store._changed();
}

function joinable(prev, line) {
  return line.cont && prev !== null && prev.last === line.seq - 1
    && prev.raw.length + line.text.length <= MAX_ROW_CHARS;
}

/** Whether a page's end is the stream's live end (then live lines append again). */
function reattach(st, body) {
  if (st.hi >= (body.last_seq ?? Infinity) && st.hi >= st.pos) {
    st.attached = true;
    st.last = null;
  }
}

/**
 * Lines after the window of a stream (oldest first), from a page answer. The
 * oldest records beyond the cap go.
 */
export function addNewer(store, sid, lines, body) {
  const st = store.streams.get(sid);
  if (st === undefined) return;
  st.first = body.first_seq ?? st.first;
  let prev = st.last;
  for (const line of lines) {
    if (line.seq <= st.hi) continue;
    if (st.hi >= 0 && st.lo !== null && line.seq > st.hi + 1) {
      prev = null; // a hole in the history between
    }
    st.hi = line.seq;
    if (st.lo === null) st.lo = line.seq;
    if (joinable(prev, line)) {
      prev.raw += line.text;
      prev.last = line.seq;
      st.ansi = render(prev);
      continue;
    }
    st.key = Math.max(line.ts, st.key);
    const rec = store._newLine(st, line, st.key, ++store.sub, st.ansi);
    st.ansi = render(rec);
    prev = rec;
    store._insert(rec);
  }
  st.last = prev;
  // A short page (a filtered one too) reached the stream's end.
  if (body.complete || (lines.length === 0 && st.hi < 0)) st.hi = Math.max(st.hi, body.last_seq ?? 0);
  reattach(st, body);
  store.trimOld();
  store.changes.reset = true;
  store._changed();
}

/**
 * Lines before the window of a stream (oldest first). Their keys never pass
 * the window's oldest of that stream; the newest records beyond the cap go.
 */
export function addOlder(store, sid, lines, body) {
  const st = store.streams.get(sid);
  if (st === undefined) return;
  st.first = body.first_seq ?? st.first;
  const lo = st.lo ?? Infinity;
  const fresh = lines.filter((l) => l.seq < lo);
  if (fresh.length === 0) {
    if (body.complete && st.lo !== null) st.lo = Math.max(1, st.first); // nothing older
    store._changed();
    return;
  }
  // The oldest held record's key bounds the page's keys from above.
  let bound = Infinity;
  for (const rec of store.records) {
    if (rec.sid === sid) {
      bound = rec.key;
      break;
    }
  }
  const ctx = newContext();
  const made = [];
  let prev = null;
  for (const line of fresh) {
    if (joinable(prev, line)) {
      prev.raw += line.text;
      prev.last = line.seq;
      render(prev);
      continue;
    }
    const rec = store._newLine(st, line, line.ts, 0, PLAIN, ctx);
    render(rec);
    made.push(rec);
    prev = rec;
  }
  // Newest first: each key at most the next one's, subs decreasing.
  for (let i = made.length - 1; i >= 0; i--) {
    const rec = made[i];
    bound = Math.min(rec.key, bound);
    rec.key = bound;
    rec.sub = --store.lowSub;
    store._insert(rec);
  }
  // A short page: nothing older is kept (or matches the filter).
  st.lo = body.complete ? Math.max(1, st.first) : fresh[0].seq;
  if (st.hi < 0) st.hi = fresh[fresh.length - 1].seq;
  if (st.key === -Infinity) st.key = made.length ? made[made.length - 1].key : st.key;
  store.trimNew();
  store.changes.reset = true;
  store._changed();
}
