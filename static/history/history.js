// History requests (GET api/streams/ID/lines): pages of a stream's history,
// a search through the whole of it, and the lines a gap skipped.
//
// - A server with a smaller history answers 400 to a big page: halve and retry.
// - Lines that left the server's ring before they were asked for are counted
//   as lost; a new epoch (the numbering started over) loses the rest.

import { stripAnsi } from "../ansi/ansi.js";
import { lastSegment } from "../store/render.js";

/** Most lines one request asks for. */
export const FILL_PAGE = 1000;
/** Lines one search request reads (the server's most is 10 000). */
export const SEARCH_PAGE = 5000;

function linesURL(sid) {
  return new URL(`api/streams/${encodeURIComponent(sid)}/lines`, document.baseURI);
}

// Whether the server takes the filter parameters (1.1): null until asked.
let serverFilters = null;

/**
 * One page of a stream's history: {since}, {before} or the newest, `limit`
 * lines, with the filter parameters in `filter` (URLSearchParams). A server
 * without filters answers 400 to them: asked again without (the caller
 * filters the lines itself anyway).
 */
export async function getPage(sid, { since, before, limit: asked }, filter = new URLSearchParams()) {
  let limit = asked;
  for (;;) {
    const url = linesURL(sid);
    if (since !== undefined) url.searchParams.set("since", String(since));
    if (before !== undefined) url.searchParams.set("before", String(before));
    if (limit !== undefined) url.searchParams.set("limit", String(limit));
    const filtered = serverFilters !== false && [...filter.keys()].length > 0;
    if (filtered) for (const [k, v] of filter) url.searchParams.set(k, v);
    const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (res.status === 400 && filtered) {
      serverFilters = false;
      continue;
    }
    if (res.status === 400 && limit !== undefined && limit > 10) {
      limit = Math.floor(limit / 2); // a server with a smaller history
      continue;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${sid}`);
    if (filtered) serverFilters = true;
    const body = await res.json();
    body.lines = Array.isArray(body.lines) ? body.lines : [];
    // Fewer lines than asked for: the page reached the end in its direction.
    body.complete = since === undefined && before === undefined
      ? true : limit !== undefined && body.lines.length < limit;
    return body;
  }
}

/** What the find bar's matcher sees of a line: its visible text, no escapes. */
export function visibleText(line) {
  return stripAnsi(lastSegment(line.text));
}

/**
 * Search a stream's history from `seq` towards older (dir -1: before=) or
 * newer lines (dir 1: since=) for the nearest line that `test` accepts. The
 * server is asked to filter (`filter`); every line is tested here too, so a
 * server that ignores the filter costs only time. Returns the line or null.
 */
export async function searchHistory(sid, seq, dir, test, filter, { signal } = {}) {
  let at = seq;
  for (;;) {
    if (signal?.aborted) return null;
    const body = await getPage(sid, dir < 0 ? { before: at, limit: SEARCH_PAGE }
      : { since: at, limit: SEARCH_PAGE }, filter);
    const lines = body.lines;
    if (lines.length === 0) return null;
    if (dir < 0) {
      for (let i = lines.length - 1; i >= 0; i--) if (test(lines[i])) return lines[i];
      at = lines[0].seq;
      if (at <= (body.first_seq ?? 1)) return null;
    } else {
      for (const line of lines) if (test(line)) return line;
      at = lines[lines.length - 1].seq;
      if (at >= body.last_seq) return null;
    }
  }
}

async function page(sid, after, limit) {
  const url = linesURL(sid);
  url.searchParams.set("since", String(after));
  url.searchParams.set("limit", String(limit));
  return fetch(url, { credentials: "same-origin", cache: "no-store" });
}

/**
 * Fill a gap record of the store; its state shows "loading", then the lines
 * (and how many are lost), or "failed".
 * @param {import("../store/store.js").Store} store
 * @param {object} gap a gap record: {sid, from, to, state}
 */
export async function fillGap(store, gap) {
  const st = store.streams.get(gap.sid);
  if (st === undefined || gap.state === "loading") return;
  const epoch = st.epoch;
  store.gapState(gap, "loading");
  const got = [];
  let after = gap.from - 1;
  let limit = FILL_PAGE;
  let lost = 0;
  try {
    while (after < gap.to) {
      const res = await page(gap.sid, after, Math.min(limit, gap.to - after));
      if (res.status === 400 && limit > 1) {
        limit = Math.max(1, Math.floor(limit / 2)); // a server with a smaller history
        continue;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await res.json();
      if (body.epoch !== epoch || st.epoch !== epoch) {
        lost = gap.to - after; // numbering started over: these are gone
        break;
      }
      const lines = body.lines.filter((l) => l.seq > after && l.seq <= gap.to);
      if (lines.length === 0) {
        lost += gap.to - after;
        break;
      }
      // Lines that left the ring before we asked are gone for good.
      lost += lines[0].seq - after - 1;
      got.push(...lines);
      after = lines[lines.length - 1].seq;
    }
  } catch {
    store.gapState(gap, "failed");
    return;
  }
  store.fillGap(gap, got, lost);
}
