// One stream as the viewer knows it: position, epoch, the window it holds
// (seqs lo..hi), its exit state. Kept by the store (store.js).

import { PLAIN } from "../ansi/ansi.js";
import { newContext } from "./structure.js";

export class StreamState {
  constructor(info, colour) {
    this.id = info.id;
    this.info = info;
    this.epoch = info.epoch;
    this.colour = colour;
    this.pos = 0; // the last seq received (or skipped by a gap)
    this.subscribed = false; // true once the server replays it to us: resume with `since`
    this.gone = false;
    this.last = null; // the newest line record, for cont pieces
    this.key = -Infinity;
    this.ansi = PLAIN; // SGR state carried from line to line, as a terminal does
    this.count = 0; // lines received live (not replayed history), for the rate
    this.replayUntil = 0; // lines up to this seq are history replayed at subscribe
    this.liveAt = null; // client time the stream was seen going live
    this.exitNoted = false;
    this.exitAfter = null; // seq after which a pending exit banner goes
    this.exitAt = null; // client time the exit was seen (null: it exited before we came)
    this.exitNote = null; // the banner, kept below the stream's last line
    this.first = info.first_seq ?? 1; // the oldest seq the server keeps
    this.windowReset();
  }

  /** The window holds nothing of this stream; live lines append to it. */
  windowReset() {
    this.lo = null; // the oldest seq held
    this.hi = 0; // every seq up to here is held, or older than lo, or gone
    this.attached = true; // live lines append
    this.ctx = newContext();
    this.last = null;
    this.key = -Infinity;
    this.ansi = PLAIN;
  }

  /** Whether the server keeps lines older than the window's. */
  olderKept() {
    return this.lo !== null && this.lo > Math.max(1, this.first);
  }

  nextKey() {
    return this.key === -Infinity ? Date.now() / 1000 : this.key;
  }
}
