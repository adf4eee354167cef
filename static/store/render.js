// A line record's visible text: what a terminal would leave of `\r`
// progress output, parsed into styled segments (ANSI SGR).

import { endState, parse, stripAnsi } from "../ansi/ansi.js";

/** The text a terminal would leave visible: after `\r`, the last non-empty segment. */
export function lastSegment(text) {
  if (!text.includes("\r")) return text;
  const parts = text.split("\r");
  for (let i = parts.length - 1; i >= 0; i--) if (parts[i] !== "") return parts[i];
  return "";
}

/**
 * (Re)compute a line record's visible text; returns the SGR state after it.
 * Its styled segments wait until a row shows it (segments()): in a flood
 * most lines are never on screen.
 */
export function render(rec) {
  // A `\r` progress line keeps only what is still visible (bounded as it grows).
  const cut = rec.raw.lastIndexOf("\r", rec.raw.length - 2);
  if (cut >= 0) {
    const shown = lastSegment(rec.raw);
    const at = rec.raw.lastIndexOf(shown, rec.raw.length - 1);
    if (at > 0) {
      rec.ansiIn = endState(rec.raw.slice(0, at), rec.ansiIn);
      rec.raw = rec.raw.slice(at);
    }
  }
  const shown = lastSegment(rec.raw);
  rec.segs = null;
  rec.plain = stripAnsi(shown);
  return endState(rec.raw, rec.ansiIn);
}

/** A line record's styled segments (ANSI SGR), parsed the first time they are asked for. */
export function segments(rec) {
  rec.segs ??= parse(lastSegment(rec.raw), rec.ansiIn).segs;
  return rec.segs;
}
