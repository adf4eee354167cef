// The structure of log lines, computed once per record (no DOM): the level
// (the server's `level`, else a JSON line's own level field), JSON fields,
// `follows` lines grouped under their message, and build sections —
// GitHub Actions `::group::NAME` … `::endgroup::` and GitLab
// `section_start:TS:NAME[opts]` … `section_end:TS:NAME`.
//
// A context ({head, sect}) carries the open message and section from line to
// line of one stream, in seq order; pages loaded backwards get a context of
// their own, so a section begun before such a page is not known inside it.

import { stripAnsi } from "../ansi/ansi.js";

export const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];
const LEVEL_WORDS = {
  fatal: "fatal", critical: "fatal", crit: "fatal", alert: "fatal", emerg: "fatal", panic: "fatal",
  f: "fatal", c: "fatal", error: "error", err: "error", e: "error", warn: "warn", warning: "warn",
  w: "warn", info: "info", information: "info", notice: "info", i: "info", debug: "debug",
  d: "debug", trace: "trace", t: "trace",
};
const MESSAGE_KEYS = ["message", "msg", "@message", "log", "text"];
const LEVEL_KEYS = ["level", "lvl", "severity", "log.level", "loglevel"];
const GH_START = /^::group::(.*)$/;
const GH_END = /^::endgroup::\s*$/;
const GL_START = /section_start:(\d+):([A-Za-z0-9_.-]+)(\[[^\]]*\])?\r?(.*)$/s;
const GL_END = /section_end:(\d+):([A-Za-z0-9_.-]+)/;

/** A level name from a word (any case), or undefined. */
export function levelOf(word) {
  if (typeof word === "number") {
    // Syslog/journal priority numbers.
    return word <= 2 ? "fatal" : word === 3 ? "error" : word === 4 ? "warn" : word <= 6 ? "info" : "debug";
  }
  if (typeof word !== "string") return undefined;
  return LEVEL_WORDS[word.toLowerCase()];
}

/** A JSON object line: {message, fields: [[key, value]...], level}, or null. */
export function parseJson(plain) {
  const s = plain.trimStart();
  if (s[0] !== "{" || s.length > 64 * 1024) return null;
  let obj;
  try {
    obj = JSON.parse(s);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return null;
  let message = null;
  let level;
  const fields = [];
  for (const [k, v] of Object.entries(obj)) {
    if (message === null && MESSAGE_KEYS.includes(k) && typeof v === "string") message = v;
    else if (level === undefined && LEVEL_KEYS.includes(k.toLowerCase()) && levelOf(v)) level = levelOf(v);
    else fields.push([k, typeof v === "string" ? v : JSON.stringify(v)]);
  }
  if (level === undefined && obj.log && typeof obj.log === "object") level = levelOf(obj.log.level);
  return { message, fields, level };
}

export function newContext() {
  return { head: null, sect: null };
}

/**
 * Fill a new line record's structure: level, json, follows head, section.
 * Returns the records whose rows must be redrawn (a head whose count grew).
 */
export function structure(rec, line, ctx) {
  const plain = stripAnsi(rec.raw);
  rec.json = parseJson(plain);
  rec.level = LEVELS.includes(line.level) ? line.level : rec.json?.level;
  rec.follows = line.follows === true && ctx.head !== null;
  rec.sect = ctx.sect;
  rec.head = null;
  rec.nfollow = 0;
  rec.folded = false;
  rec.group = null; // a section header: {name, folded, start, end, kind}
  rec.endMark = false;
  let touched = null;
  if (rec.follows) {
    rec.head = ctx.head;
    ctx.head.nfollow++;
    touched = ctx.head;
    if (rec.level === undefined) rec.level = ctx.head.level;
  } else {
    ctx.head = rec;
  }
  let m = GH_START.exec(plain);
  if (m !== null) {
    rec.group = { name: m[1].trim() || "group", folded: false, kind: "gh", start: rec.ts, end: null };
  } else if ((m = GL_START.exec(plain)) !== null) {
    const title = stripAnsi(m[4]).trim();
    rec.group = { name: title || m[2], id: m[2], folded: /collapsed=true/.test(m[3] ?? ""),
      kind: "gl", start: Number(m[1]), end: null };
  }
  if (rec.group !== null) {
    rec.follows = false;
    rec.head = null;
    rec.sect = ctx.sect;
    rec.group.parent = ctx.sect;
    ctx.sect = rec;
    ctx.head = null;
    return touched;
  }
  if (GH_END.test(plain) || ((m = GL_END.exec(plain)) !== null && ctx.sect !== null)) {
    rec.endMark = true;
    const open = ctx.sect;
    if (open !== null) {
      open.group.end = m !== null && open.group.kind === "gl" ? Number(m[1]) : rec.ts;
      open.group.lines = open.group.lines ?? 0;
      ctx.sect = open.group.parent ?? null;
      rec.sect = open;
      touched = open;
    }
    ctx.head = null;
  }
  if (rec.sect !== null && !rec.endMark) rec.sect.group.lines = (rec.sect.group.lines ?? 0) + 1;
  return touched;
}

/** Whether a folded section or message hides this record. */
export function folded(rec) {
  if (rec.follows && rec.head !== null && rec.head.folded) return true;
  for (let s = rec.sect; s !== null && s !== undefined; s = s.group.parent) {
    if (s.group.folded) return true;
  }
  return false;
}

/** The level a filter sees: a follows line shares its message's. */
export function effectiveLevel(rec) {
  return rec.follows && rec.head !== null ? rec.head.level : rec.level;
}
