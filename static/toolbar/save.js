// Save: the stream's whole kept history from the server (`format=text`), one
// file per stream shown; with a filter on (find or levels), the matching lines
// of the whole history, read page by page and filtered here too (a server
// without filters then costs only time).

import { getPage, visibleText } from "../history/history.js";
import { clock } from "../log/row.js";
import { download } from "../util/download.js";

/** Lines one page of a filtered save reads. */
export const SAVE_PAGE = 10000;

function wholeHistory(sid) {
  const a = document.createElement("a");
  const url = new URL(`api/streams/${encodeURIComponent(sid)}/lines`, document.baseURI);
  url.searchParams.set("format", "text");
  a.href = url.href;
  a.download = `${sid}.log`;
  document.body.append(a);
  a.click();
  a.remove();
}

async function matching(sid, test, filter) {
  const out = [];
  let before;
  for (;;) {
    const body = await getPage(sid, before === undefined ? { limit: SAVE_PAGE }
      : { before, limit: SAVE_PAGE }, filter);
    const lines = body.lines;
    if (lines.length === 0) break;
    // Joined cont pieces: a piece continues the line before it.
    const page = [];
    for (const line of lines) {
      if (line.cont && page.length) page[page.length - 1].text += line.text;
      else page.push({ ...line });
    }
    out.unshift(...page.filter(test));
    before = lines[0].seq;
    if (before <= (body.first_seq ?? 1)) break;
  }
  return out.map((line) => ({ ...line, sid }));
}

/**
 * @param {string[]} ids the streams shown
 * @param {null | ((line: object) => boolean)} test the filter, or null
 * @param {URLSearchParams} filter its server parameters
 * @param {{timestamps: boolean, tags: boolean, name: string}} opts
 */
export async function save(ids, test, filter, { timestamps, tags, name }) {
  if (test === null) {
    for (const sid of ids) wholeHistory(sid);
    return;
  }
  const all = (await Promise.all(ids.map((sid) => matching(sid, test, filter)))).flat();
  if (ids.length > 1) all.sort((a, b) => a.ts - b.ts);
  const text = all.map((line) => {
    const parts = [];
    if (timestamps) parts.push(clock(line.ts));
    if (tags) parts.push(line.sid);
    parts.push(visibleText(line));
    return parts.join(" ");
  });
  download(text.length ? `${text.join("\n")}\n` : "", `tailcast-${name}.txt`);
}
