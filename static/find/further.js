// Find (and "next error") beyond the window: when the view has no further
// hit in the window, the server's history is searched (backwards with
// before=, forwards with since=, with the filter as query parameters), the
// window moves to the nearest hit and it is selected.

import { searchHistory, visibleText } from "../history/history.js";
import { parseJson } from "../store/structure.js";

/** The server's filter parameters for a find matcher (protocol 1.1). */
export function findParams(opts) {
  const p = new URLSearchParams();
  if (!opts.query) return p;
  p.set("q", opts.query);
  if (opts.regex) p.set("regex", "1");
  if (opts.caseSensitive) p.set("case", "1");
  if (opts.invert) p.set("invert", "1");
  return p;
}

const ERRORS = new Set(["error", "fatal"]);

function lineLevel(line) {
  return line.level ?? parseJson(line.text)?.level;
}

export class FindFurther {
  /**
   * @param {object} parts
   * @param {import("../store/store.js").Store} parts.store
   * @param {import("../log/log.js").LogView} parts.view
   * @param {import("../history/window.js").HistoryWindow} parts.win
   * @param {import("./find.js").FindBar} parts.find
   * @param {(text: string) => void} parts.say
   * @param {() => URLSearchParams} parts.levelParams the level filter's parameters
   */
  constructor({ store, view, win, find, say, levelParams }) {
    Object.assign(this, { store, view, win, find, say, levelParams });
    this.busy = false;
  }

  _query(kind) {
    const view = this.view;
    if (kind === "error") {
      const p = new URLSearchParams({ levels: "error,fatal" });
      return { test: (line) => ERRORS.has(lineLevel(line)) && !line.follows, params: p };
    }
    const m = view.matcher;
    if (m === null) return null;
    const params = findParams(this.find.options());
    for (const [k, v] of this.levelParams()) params.set(k, v);
    const levels = view.levels;
    return {
      test: (line) => m.test(visibleText(line)) !== m.invert
        && (levels === null || levels.has(lineLevel(line))),
      params,
    };
  }

  /** The view's onedge: search the history past the window in `dir`. */
  async edge(dir, kind) {
    const q = this._query(kind);
    if (q === null || this.busy) return;
    const ids = this.view.streamIds().filter((id) => {
      const st = this.store.streams.get(id);
      return dir < 0 ? st.olderKept() : !st.attached && st.hi >= 0;
    });
    if (ids.length === 0) {
      const whole = this.view.streamIds().every((id) => {
        const st = this.store.streams.get(id);
        return st.attached && !st.olderKept();
      });
      // The whole history is in the window: go round; else there is no more.
      if (whole) this.view.step(dir, kind, true);
      else this.say(`no ${kind === "error" ? "error" : "match"} ${dir < 0 ? "before" : "after"} these lines`);
      return;
    }
    this.busy = true;
    this.say(kind === "error" ? "looking for errors in the history…" : "searching the history…");
    try {
      const found = await Promise.all(ids.map((id) => {
        const st = this.store.streams.get(id);
        return searchHistory(id, dir < 0 ? st.lo : st.hi, dir, q.test, q.params)
          .then((line) => (line === null ? null : { id, line }));
      }));
      const hits = found.filter((f) => f !== null);
      if (hits.length === 0) {
        this.say(`no ${kind === "error" ? "error" : "match"} ${dir < 0 ? "before" : "after"} these lines`);
        return;
      }
      // The nearest: the newest of the older hits, the oldest of the newer.
      hits.sort((a, b) => (a.line.ts - b.line.ts) * dir);
      const { id, line } = hits[0];
      this.say(`${kind === "error" ? "error" : "match"} at ${id}:${line.seq}`);
      await this.win.around(id, line.seq);
    } catch (err) {
      this.say(`search: ${err.message}`);
    } finally {
      this.busy = false;
    }
  }
}

