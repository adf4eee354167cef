// The viewer's data: streams (epoch, resume position, state) and the records
// shown in the log, with the line cap. No DOM here.
//
// Records are kept in one array ordered by (key, sub): `key` is the line's
// timestamp, never less than the previous key of the same stream (so a
// stream's own order is its seq order even if its clock steps back), and
// `sub` breaks ties in arrival order. A merged view is then the array itself;
// a single-stream view is a filter of it.
//
// Bounded: at most `cap` records (all streams together), a window onto the
// server's history. Following, the oldest go first; paused (`pinned`), the
// newest do, and their streams are no longer `attached`: live lines are then
// only counted, and the window moves on over the history (store/pages.js,
// history/history.js). Per stream, the window holds seqs lo..hi.
// A row's joined text is bounded too (MAX_ROW_CHARS).
//
// The view does not get callbacks per line: it takes a change set
// (added/updated/removed) once per animation frame.

import { PLAIN } from "../ansi/ansi.js";
import { exitText } from "./exit.js";
import { insertionIndex } from "./order.js";
import { render } from "./render.js";
import { StreamState } from "./stream.js";
import { newContext, structure } from "./structure.js";

/** A joined line (cont pieces) longer than this continues on a new row. */
export const MAX_ROW_CHARS = 256 * 1024;
export const DEFAULT_CAP = 3000;
/** The window never holds more (the DOM has at most one row per record). */
export const MAX_CAP = 3000;
/** Distinct tag colours for streams in the merged view (classes c0..c7). */
export const TAG_COLOURS = 8;

let nextId = 1;

function emptyChanges() {
  return { added: new Set(), updated: new Set(), removed: new Set(), reset: false };
}

export class Store {
  constructor(cap = DEFAULT_CAP) {
    this.cap = cap;
    this.records = [];
    this.streams = new Map();
    this.sub = 0;
    this.changes = emptyChanges();
    this.pinned = false; // paused: a full window drops new lines, not old
    this.dropped = 0; // live lines not held since the last take()
    this.lowSub = 0; // subs for lines loaded before the window (decreasing)
    this.onchange = () => {};
    this.onstreams = () => {};
  }

  /** The changes since the last call (the view calls this once per frame). */
  take() {
    const c = this.changes;
    this.changes = emptyChanges();
    return c;
  }

  _changed() {
    this.onchange();
  }

  // -- streams -----------------------------------------------------------------

  /**
   * The server's stream list (hello or streams frame). A stream whose epoch
   * changed is cleared: its numbering started over.
   * @param {object[]} infos
   * @param {boolean} attached whether the server attaches these streams to us now
   */
  setStreams(infos, attached) {
    const seen = new Set();
    for (const info of infos) {
      seen.add(info.id);
      let st = this.streams.get(info.id);
      if (st === undefined) {
        st = new StreamState(info, this.streams.size % TAG_COLOURS);
        this.streams.set(info.id, st);
        // A stream that appears while connected is attached by the wildcard.
        st.subscribed = attached;
      } else if (st.epoch !== info.epoch) {
        this.resetStream(st);
        st.epoch = info.epoch;
        st.subscribed = attached;
      }
      st.info = info;
      st.first = info.first_seq ?? st.first;
      st.gone = false;
      // Replayed history is not part of the live line rate.
      if (!attached) st.replayUntil = info.last_seq ?? 0;
    }
    for (const st of this.streams.values()) if (!seen.has(st.id)) st.gone = true;
    this.onstreams();
  }

  /** Before subscribing: what to resume from (streams we already follow, same epoch). */
  since() {
    const since = {};
    for (const st of this.streams.values()) {
      if (st.subscribed && !st.gone) since[st.id] = st.pos;
    }
    return since;
  }

  /** After the hello's subscribe: every listed stream is ours now. */
  subscribedAll() {
    for (const st of this.streams.values()) {
      if (!st.gone) st.subscribed = true;
      // Exited before we connected: the banner goes after the replayed lines.
      if (st.info.state === "exited" && !st.exitNoted) {
        st.exitAfter = st.info.last_seq;
        st.exitAt = null;
        this._maybeExitBanner(st);
      }
    }
  }

  _stream(id) {
    let st = this.streams.get(id);
    if (st === undefined) {
      // Lines for a stream no hello or streams frame named: keep them anyway.
      st = new StreamState({ id, name: id, kind: "?", state: "live", epoch: "" },
        this.streams.size % TAG_COLOURS);
      this.streams.set(id, st);
      this.onstreams();
    }
    return st;
  }

  /** Drop every record of a stream and start its numbering over. */
  resetStream(st) {
    const kept = [];
    for (const rec of this.records) {
      if (rec.sid === st.id) this._kill(rec);
      else kept.push(rec);
    }
    this.records = kept;
    st.pos = 0;
    st.windowReset();
    st.liveAt = null;
    st.exitNoted = false;
    st.exitAfter = null;
    st.exitAt = null;
    st.exitNote = null;
    this._changed();
  }

  // -- records -----------------------------------------------------------------

  _insert(rec) {
    this.records.splice(insertionIndex(this.records, rec), 0, rec);
    this.changes.added.add(rec);
  }


  _kill(rec) {
    rec.dead = true;
    // Never rendered: forget it (a hidden tab must not pile up records).
    if (this.changes.added.has(rec)) this.changes.added.delete(rec);
    else this.changes.removed.add(rec);
    this.changes.updated.delete(rec);
  }

  _trim() {
    if (this.pinned) this.trimNew();
    else this.trimOld();
  }

  /** Drop the oldest records beyond the cap (the window's start moves on). */
  trimOld() {
    const excess = this.records.length - this.cap;
    if (excess <= 0) return;
    for (const rec of this.records.splice(0, excess)) {
      this._kill(rec);
      const st = this.streams.get(rec.sid);
      if (st === undefined) continue;
      if (rec.type === "line") st.lo = rec.last + 1;
      else if (rec.type === "gap") st.lo = rec.to + 1;
    }
  }

  /** Drop the newest records beyond the cap: their streams leave the live end. */
  trimNew() {
    const excess = this.records.length - this.cap;
    if (excess <= 0) return;
    const gone = this.records.splice(this.records.length - excess, excess);
    for (let i = gone.length - 1; i >= 0; i--) {
      const rec = gone[i];
      this._kill(rec);
      const st = this.streams.get(rec.sid);
      if (st === undefined || (rec.type !== "line" && rec.type !== "gap")) continue;
      st.hi = (rec.type === "line" ? rec.seq : rec.from) - 1;
      st.attached = false;
      st.last = null;
    }
    this._rekey();
  }

  /** After newest records went: each stream's key and context restart at its newest held. */
  _rekey() {
    const seen = new Set();
    for (let i = this.records.length - 1; i >= 0 && seen.size < this.streams.size; i--) {
      const rec = this.records[i];
      if (seen.has(rec.sid)) continue;
      seen.add(rec.sid);
      const st = this.streams.get(rec.sid);
      if (st !== undefined && !st.attached) st.key = rec.key;
    }
    for (const st of this.streams.values()) if (!st.attached) st.ctx = newContext();
  }

  _newLine(st, line, key, sub, ansi, ctx = st.ctx) {
    const rec = {
      id: nextId++, type: "line", sid: st.id, seq: line.seq, last: line.seq, ts: line.ts,
      key, sub, fd: line.fd, raw: line.text, contd: !!line.cont, ansiIn: ansi,
      segs: null, plain: "", dead: false, row: null, m: false, vis: false, h: 0, hg: -1,
    };
    const touched = structure(rec, line, ctx);
    if (touched !== null && !touched.dead && !this.changes.added.has(touched)) {
      this.changes.updated.add(touched);
    }
    return rec;
  }

  /** A `lines` frame. Lines already seen (seq <= position) are ignored. */
  addLines(sid, lines) {
    const st = this._stream(sid);
    for (const line of lines) {
      if (line.seq <= st.pos) continue; // never a line twice
      st.pos = line.seq;
      if (line.seq > st.replayUntil) st.count++;
      if (!st.attached) {
        this.dropped++; // the window is elsewhere in the history: counted only
        continue;
      }
      if (line.seq <= st.hi) continue; // already loaded by a page
      if (this.pinned && this.records.length >= this.cap) {
        st.attached = false; // paused with a full window: hold what is being read
        this.dropped++;
        continue;
      }
      st.hi = line.seq;
      if (st.lo === null) st.lo = line.seq;
      const prev = st.last;
      if (line.cont && prev !== null && !prev.dead && prev.last === line.seq - 1
          && prev.raw.length + line.text.length <= MAX_ROW_CHARS) {
        prev.raw += line.text;
        prev.last = line.seq;
        st.ansi = render(prev);
        if (!this.changes.added.has(prev)) this.changes.updated.add(prev);
        continue;
      }
      const key = Math.max(line.ts, st.key);
      st.key = key;
      const rec = this._newLine(st, line, key, ++this.sub, st.ansi);
      st.ansi = render(rec);
      st.last = rec;
      this._insert(rec);
    }
    const note = st.exitNote;
    if (note !== null && !note.dead && note.key < st.key) {
      // Output drained after the exit status: the banner stays below it.
      this.records.splice(this.records.indexOf(note), 1);
      this._kill(note);
      st.exitNote = this.addNote(st.id, exitText(st, this.records), "exit");
    }
    this._maybeExitBanner(st);
    this._trim();
    this._changed();
  }

  /** A `gap` frame: lines from..to will not come on this connection. */
  addGap(sid, from, to) {
    const st = this._stream(sid);
    if (to <= st.pos && from <= st.pos) return; // nothing we miss
    from = Math.max(from, st.pos + 1);
    st.pos = Math.max(st.pos, to);
    st.last = null;
    if (!st.attached) return null;
    st.hi = Math.max(st.hi, to);
    if (st.lo === null) st.lo = from;
    const rec = {
      id: nextId++, type: "gap", sid, from, to, key: st.nextKey(), sub: ++this.sub,
      state: "idle", lost: 0, dead: false, row: null, m: false, vis: false, h: 0, hg: -1,
    };
    this._insert(rec);
    this._trim();
    this._changed();
    return rec;
  }

  /** A note row in a stream: exit banner, file events, errors. */
  addNote(sid, text, cls) {
    const st = this._stream(sid);
    const rec = {
      id: nextId++, type: "note", sid, text, cls, key: st.nextKey(), sub: ++this.sub,
      dead: false, row: null, m: false, vis: false, h: 0, hg: -1,
    };
    this._insert(rec);
    this._trim();
    this._changed();
    return rec;
  }

  /**
   * Lines fetched for a gap: they go where the marker is, in seq order. The
   * marker stays for what could not be fetched (`lost`) or goes.
   */
  fillGap(gap, lines, lost) {
    if (gap.dead) return;
    const st = this.streams.get(gap.sid);
    let prev = null;
    const n = lines.length;
    const ctx = newContext();
    lines.forEach((line, i) => {
      if (line.cont && prev !== null && prev.raw.length + line.text.length <= MAX_ROW_CHARS) {
        prev.raw += line.text;
        prev.last = line.seq;
        render(prev);
        return;
      }
      // Just before the marker: subs strictly between the one before and its own.
      const rec = this._newLine(st, line, gap.key, gap.sub - 1 + (i + 1) / (n + 2), PLAIN, ctx);
      render(rec);
      prev = rec;
      this._insert(rec);
    });
    if (lost > 0) {
      gap.lost = lost;
      gap.state = "lost";
      this.changes.updated.add(gap);
    } else {
      this.records.splice(this.records.indexOf(gap), 1);
      this._kill(gap);
    }
    this._trim();
    this._changed();
  }

  gapState(gap, state) {
    gap.state = state;
    if (!gap.dead && !this.changes.added.has(gap)) this.changes.updated.add(gap);
    this._changed();
  }

  // -- status ------------------------------------------------------------------

  /** A `status` frame: state changes and file events. */
  setStatus(msg) {
    const st = this._stream(msg.stream);
    const info = { ...st.info, state: msg.state };
    // A run's start: from the hello/streams info until a status says otherwise.
    if (!("started" in msg) && msg.state !== "live") msg = { ...msg, started: st.info.started };
    for (const k of ["exit_code", "signal", "message", "started"]) {
      if (k in msg) info[k] = msg[k];
      else delete info[k];
    }
    st.info = info;
    if (msg.event) {
      const what = { truncated: "file truncated: reading from its start",
        rotated: "file rotated", reattached: "file reattached" }[msg.event];
      this.addNote(st.id, what ?? msg.event, "event");
    } else if (msg.state === "live") {
      st.liveAt = Date.now() / 1000;
      st.exitNoted = false;
      st.exitNote = null;
    } else if (msg.state === "exited") {
      st.exitAfter = st.pos;
      st.exitAt = Date.now() / 1000;
      this._maybeExitBanner(st);
    } else if (msg.state === "error") {
      this.addNote(st.id, `error: ${msg.message ?? "unknown"}`, "error");
    }
    this.onstreams();
  }

  _maybeExitBanner(st) {
    if (st.exitAfter === null || st.pos < st.exitAfter) return;
    st.exitAfter = null;
    st.exitNoted = true;
    st.exitNote = this.addNote(st.id, exitText(st, this.records), "exit");
  }

  /** The newest `count` per second over all records, for tests and the panel. */
  statistics() {
    return { records: this.records.length, cap: this.cap };
  }
}
