// Moves the store's window over a stream's whole history: older pages when
// the view scrolls up to the window's top (`before=`), newer pages when it
// scrolls down to the bottom of a window that is not at the live end
// (`since=`), a fresh window at the start, at the end, or around one line
// (a permalink, a search hit). One request per stream at a time.

import { addNewer, addOlder, clearWindow } from "../store/pages.js";
import { getPage } from "./history.js";

/** Lines one page asks for per stream, at most (the window holds cap lines). */
export const MAX_PAGE = 1000;

export class HistoryWindow {
  /**
   * @param {import("../store/store.js").Store} store
   * @param {import("../log/log.js").LogView} view
   * @param {(text: string) => void} say
   * @param {() => URLSearchParams} filter the server-side filter (levels) for pages
   */
  constructor(store, view, say, filter = () => new URLSearchParams()) {
    this.store = store;
    this.view = view;
    this.say = say;
    this.filter = filter;
    this.busy = false;
    this.pending = null;
  }

  _page(ids) {
    return Math.max(50, Math.min(MAX_PAGE, Math.floor(this.store.cap / (2 * Math.max(1, ids.length)))));
  }

  async _run(what, fn) {
    if (this.busy) {
      if (what !== "older" && what !== "newer") this.pending = fn; // a jump waits its turn
      return false;
    }
    this.busy = true;
    document.body.classList.add("loading");
    try {
      await fn();
      return true;
    } catch (err) {
      this.say(`history: ${err.message}`);
      return false;
    } finally {
      this.busy = false;
      document.body.classList.remove("loading");
      const next = this.pending;
      this.pending = null;
      if (next !== null) this._run("jump", next);
    }
  }

  _stream(id) {
    return this.store.streams.get(id);
  }

  older() {
    const ids = this.view.streamIds().filter((id) => this._stream(id).olderKept());
    if (ids.length === 0) return Promise.resolve(false);
    return this._run("older", async () => {
      const limit = this._page(ids);
      const pages = await Promise.all(ids.map((id) => getPage(id,
        { before: this._stream(id).lo, limit }, this.filter())));
      ids.forEach((id, i) => addOlder(this.store, id, pages[i].lines, pages[i]));
    });
  }

  newer() {
    const ids = this.view.streamIds().filter((id) => {
      const st = this._stream(id);
      return !st.attached && st.hi >= 0;
    });
    if (ids.length === 0) return Promise.resolve(false);
    return this._run("newer", async () => {
      const limit = this._page(ids);
      const pages = await Promise.all(ids.map((id) => getPage(id,
        { since: this._stream(id).hi, limit }, this.filter())));
      ids.forEach((id, i) => addNewer(this.store, id, pages[i].lines, pages[i]));
    });
  }

  /** A fresh window: each stream's first lines (`start`) or newest (`end`). */
  async _fresh(ids, at) {
    const limit = this._page(ids);
    const pages = await Promise.all(ids.map((id) => getPage(id,
      at === "start" ? { since: 0, limit } : { limit }, this.filter())));
    clearWindow(this.store, ids);
    ids.forEach((id, i) => addNewer(this.store, id, pages[i].lines, pages[i]));
  }

  start() {
    const ids = this.view.streamIds();
    this.view.pause();
    return this._run("start", async () => {
      await this._fresh(ids, "start");
      this.view.toTop();
    });
  }

  /** Whether the view may follow as it is (every stream at its live end). */
  atEnd() {
    return this.view.attached();
  }

  end() {
    const ids = this.view.streamIds().filter((id) => !this._stream(id).attached);
    return this._run("end", async () => {
      if (ids.length) await this._fresh(ids, "end");
      this.view.resume(true);
    });
  }

  /** The window loaded again (the level filter changed): the newest lines, following. */
  reload() {
    const ids = this.view.streamIds();
    return this._run("reload", async () => {
      await this._fresh(ids, "end");
      this.view.resume(true);
    });
  }

  /** A window around one line of one stream (the other streams load as it scrolls). */
  around(sid, seq) {
    const st = this._stream(sid);
    if (st === undefined) return Promise.resolve(false);
    return this._run("around", async () => {
      const ids = this.view.streamIds();
      const limit = this._page([sid]) * 2;
      const body = await getPage(sid, { since: Math.max(0, seq - Math.floor(limit / 2)), limit },
        this.filter());
      this.view.pause();
      clearWindow(this.store, ids.includes(sid) ? ids : [...ids, sid]);
      addNewer(this.store, sid, body.lines, body);
      this.view.seek(sid, seq);
    });
  }

  /** For the view: whether a permalink's line is elsewhere in the history (then load it). */
  missing(sid, seq) {
    const st = this._stream(sid);
    if (st === undefined || st.lo === null) return false;
    const before = seq < st.lo && seq >= st.first;
    const after = !st.attached && seq > st.hi && seq <= Math.max(st.pos, st.info.last_seq ?? 0);
    if (!before && !after) return false;
    this.around(sid, seq);
    return true;
  }
}
