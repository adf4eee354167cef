// One row of the log as DOM: a line, a gap marker or a note.
//
// Log text only ever becomes text nodes (textContent / createTextNode); ANSI
// styles become classes, and colours outside the theme's 16 become CSSOM
// properties (el.style.setProperty, which the page's CSP allows, unlike
// style="" attributes).

import { isPlain, paletteColour } from "../ansi/ansi.js";
import { segments } from "../store/render.js";
import { effectiveLevel } from "../store/structure.js";

/** The level marker's text: readable without its colour. */
export const LEVEL_MARKS = {
  fatal: "FATAL", error: "ERROR", warn: "WARN", info: "INFO", debug: "DEBUG", trace: "TRACE",
};

function foldButton(isFolded, what) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "fold";
  b.setAttribute("aria-expanded", String(!isFolded));
  b.textContent = `${isFolded ? "▸" : "▾"} ${what}`;
  return b;
}

function seconds(s) {
  if (!(s >= 0)) return "";
  return s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** A build section's header: its name, its length and time once ended, a fold button. */
function sectionHeader(row, tx, rec) {
  const g = rec.group;
  row.classList.add("section");
  if (g.folded) row.classList.add("folded");
  const b = foldButton(g.folded, g.name);
  b.classList.add("section-name");
  tx.append(b);
  const info = [];
  if (g.lines !== undefined) info.push(`${g.lines} line${g.lines === 1 ? "" : "s"}`);
  if (g.end !== null && g.end !== undefined) info.push(seconds(g.end - g.start));
  if (info.length) {
    const span = document.createElement("span");
    span.className = "meta";
    span.textContent = info.join(" · ");
    tx.append(span);
  }
}

/** A JSON line as its message and key=value fields. */
function jsonText(tx, json) {
  if (json.message !== null) {
    const m = document.createElement("span");
    m.className = "msg";
    m.textContent = json.message;
    tx.append(m);
  }
  for (const [k, v] of json.fields) {
    const f = document.createElement("span");
    f.className = "kv";
    const key = document.createElement("span");
    key.className = "k";
    key.textContent = `${k}=`;
    const val = document.createElement("span");
    val.className = "v";
    val.textContent = v;
    f.append(key, val);
    tx.append(" ", f);
  }
}

const pad2 = (n) => String(n).padStart(2, "0");

/** Local wall-clock time of a line, HH:MM:SS.mmm. */
export function clock(ts) {
  const d = new Date(ts * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${
    String(d.getMilliseconds()).padStart(3, "0")}`;
}

function colourOf(c) {
  return typeof c === "string" ? c : paletteColour(c);
}

function styledSpan(style) {
  const span = document.createElement("span");
  let { fg, bg } = style;
  const cls = [];
  if (style.inverse) {
    [fg, bg] = [bg, fg];
    // The default colours swap too: the theme's background as text colour.
    if (fg === null) cls.push("fi");
    if (bg === null) cls.push("gi");
  }
  if (style.bold) cls.push("b");
  if (style.dim) cls.push("d");
  if (style.italic) cls.push("i");
  if (style.underline) cls.push("u");
  if (style.strike) cls.push("s");
  if (typeof fg === "number" && fg < 16) cls.push(`f${fg}`);
  else if (fg !== null) span.style.setProperty("color", colourOf(fg));
  if (typeof bg === "number" && bg < 16) cls.push(`g${bg}`);
  else if (bg !== null) span.style.setProperty("background-color", colourOf(bg));
  if (cls.length) span.className = cls.join(" ");
  return span;
}

/** Append `text` to `parent`, the parts inside `ranges` (sorted) wrapped in <mark>. */
function appendMarked(parent, text, offset, ranges, state) {
  let pos = 0;
  while (pos < text.length) {
    // Skip ranges that ended before this piece.
    while (state.i < ranges.length && ranges[state.i][1] <= offset + pos) state.i++;
    const r = ranges[state.i];
    if (r === undefined || r[0] >= offset + text.length) {
      parent.append(text.slice(pos));
      return;
    }
    const start = Math.max(r[0] - offset, pos);
    if (start > pos) parent.append(text.slice(pos, start));
    const end = Math.min(r[1] - offset, text.length);
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    parent.append(mark);
    pos = end;
  }
}

/** Fill a line's text element from its segments, with matches marked. */
export function fillText(el, rec, ranges) {
  const segs = segments(rec);
  if (!ranges || ranges.length === 0) {
    if (segs.length === 0) return;
    if (segs.length === 1 && isPlain(segs[0].style)) {
      el.textContent = segs[0].text;
      return;
    }
  }
  const state = { i: 0 };
  let offset = 0;
  for (const seg of segs) {
    const target = isPlain(seg.style) ? el : el.appendChild(styledSpan(seg.style));
    if (ranges && ranges.length) appendMarked(target, seg.text, offset, ranges, state);
    else target.append(seg.text);
    offset += seg.text.length;
  }
}

function gapLabel(rec) {
  const n = rec.to - rec.from + 1;
  const what = `${n} line${n === 1 ? "" : "s"} skipped`;
  if (rec.state === "loading") return `${what} — loading…`;
  if (rec.state === "lost") {
    return rec.lost >= n ? `${what} — no longer in the server's history`
      : `${what} — ${rec.lost} no longer in the server's history`;
  }
  if (rec.state === "failed") return `${what} — could not load them`;
  return what;
}

/** A gap's or a note's text (what its row says). */
export function rowLabel(rec) {
  return rec.type === "gap" ? gapLabel(rec) : rec.text;
}

/**
 * A new row element for a record.
 * @param {object} rec a store record
 * @param {string} name the stream's tag text
 * @param {number} colour the stream's tag colour index
 * @param {Array|null} ranges match ranges in the line's plain text
 * @param {{times: boolean, tags: boolean}} columns which columns to make
 *   (fewer elements per row: a flood costs less style and layout)
 */
export function makeRow(rec, name, colour, ranges, columns) {
  const row = document.createElement("div");
  row.dataset.sid = rec.sid;
  const lead = [];
  let ts = null;
  if (columns.times) {
    ts = document.createElement("span");
    ts.className = "ts";
    lead.push(ts);
  }
  if (columns.tags) {
    const tag = document.createElement("span");
    tag.className = `tag c${colour}`;
    tag.textContent = name;
    lead.push(tag);
  }
  const tx = document.createElement("span");
  tx.className = "tx";
  if (rec.type === "line") {
    row.className = rec.fd === "err" ? "row err" : "row";
    if (rec.contd) row.classList.add("contd");
    row.dataset.seq = String(rec.seq);
    if (ts !== null) ts.textContent = clock(rec.ts);
    const level = effectiveLevel(rec);
    if (level !== undefined) {
      // Colour and a word: the level reads without colour too.
      row.classList.add(`lv-${level}`);
      row.dataset.level = level;
      const lv = document.createElement("span");
      lv.className = "lv";
      lv.textContent = LEVEL_MARKS[level];
      lv.title = level;
      lead.push(lv);
    }
    if (rec.group !== null) {
      sectionHeader(row, tx, rec);
    } else if (rec.json !== null && !columns.raw && !(ranges && ranges.length)) {
      jsonText(tx, rec.json);
      row.classList.add("json");
    } else {
      fillText(tx, rec, ranges);
    }
    if (rec.follows) row.classList.add("follows");
    row.append(...lead, tx);
    if (rec.nfollow > 0) row.append(foldButton(rec.folded, `${rec.nfollow} more line${rec.nfollow === 1 ? "" : "s"}`));
    if (rec.fd === "err") row.title = "standard error";
  } else if (rec.type === "gap") {
    row.className = "row gap";
    row.dataset.from = String(rec.from);
    row.dataset.to = String(rec.to);
    tx.textContent = gapLabel(rec);
    row.append(...lead, tx);
    if (rec.state === "idle" || rec.state === "failed") {
      const load = document.createElement("button");
      load.type = "button";
      load.className = "load";
      load.textContent = "load them";
      row.append(load);
    }
  } else {
    row.className = `row note ${rec.cls}`;
    tx.textContent = rec.text;
    row.append(...lead, tx);
  }
  return row;
}
