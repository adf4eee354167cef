// History paging: fetch the lines a gap skipped, page by page, from
// GET api/streams/ID/lines while the server still has them.
//
// - A server with a smaller history answers 400 to a big page: halve and retry.
// - Lines that left the server's ring before they were asked for are counted
//   as lost; a new epoch (the numbering started over) loses the rest.

/** Most lines one request asks for. */
export const FILL_PAGE = 1000;

async function page(sid, after, limit) {
  const url = new URL(`api/streams/${encodeURIComponent(sid)}/lines`, document.baseURI);
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
