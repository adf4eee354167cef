// ANSI SGR parsing: text with escape sequences -> styled segments.
//
// Pure (no DOM): parse(text, state) returns the segments to show and the SGR
// state at the end of the text, so that a colour set on one line carries to
// the next one of the same stream, as in a terminal. Every escape sequence is
// removed from the text; only SGR (`ESC [ ... m`) changes the style. Colours
// are numbers 0-255 (the xterm palette) or "#rrggbb" strings (true colour).
// The DOM side (log/row.js) turns styles into classes and CSSOM properties,
// never into markup, so log text stays text.

/** @typedef {{fg: (number|string|null), bg: (number|string|null), bold: boolean, dim: boolean,
 *   italic: boolean, underline: boolean, inverse: boolean, strike: boolean}} Style */

/** The default style (also the reset state). Styles are never mutated once made. */
export const PLAIN = Object.freeze({
  fg: null, bg: null, bold: false, dim: false, italic: false,
  underline: false, inverse: false, strike: false,
});

// CSI (any final byte), OSC (ended by BEL or ST), charset selection (`ESC ( B`),
// other two-byte escapes, a lone ESC at the end.
const ESCAPE = /\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()*+#%][ -~]|[ -~]|$)/g;

/** Whether a text holds any escape sequence (the fast path skips parsing). */
export function hasEscapes(text) {
  return text.includes("\x1b");
}

/** Text with every escape sequence removed. */
export function stripAnsi(text) {
  return hasEscapes(text) ? text.replace(ESCAPE, "") : text;
}

function hex(r, g, b) {
  const c = (v) => Math.max(0, Math.min(255, v | 0)).toString(16).padStart(2, "0");
  return `#${c(r)}${c(g)}${c(b)}`;
}

// Extended colour after 38/48: `5;N` (palette) or `2;R;G;B` (true colour).
// Returns [colour or undefined, parameters consumed].
function extended(params, i) {
  const mode = params[i + 1];
  if (mode === 5 && params.length > i + 2) {
    const n = params[i + 2];
    return [n >= 0 && n <= 255 ? n : undefined, 3];
  }
  if (mode === 2 && params.length > i + 4) {
    return [hex(params[i + 2], params[i + 3], params[i + 4]), 5];
  }
  return [undefined, params.length - i]; // malformed: ignore the rest
}

/** Apply one SGR parameter list to a style; returns a new style. */
export function applySgr(style, raw) {
  // "38:2::255:0:0" (colon form) is read like the semicolon form.
  const params = raw === "" ? [0] : raw.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  const s = { ...style };
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) Object.assign(s, PLAIN);
    else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 9) s.strike = true;
    else if (p === 21) s.underline = true; // doubly underlined: shown as underline
    else if (p === 22) { s.bold = false; s.dim = false; }
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if (p === 27) s.inverse = false;
    else if (p === 29) s.strike = false;
    else if (p >= 30 && p <= 37) s.fg = p - 30;
    else if (p === 38 || p === 48) {
      const [colour, used] = extended(params, i);
      if (colour !== undefined) s[p === 38 ? "fg" : "bg"] = colour;
      i += used - 1;
    } else if (p === 39) s.fg = null;
    else if (p >= 40 && p <= 47) s.bg = p - 40;
    else if (p === 49) s.bg = null;
    else if (p >= 90 && p <= 97) s.fg = p - 90 + 8;
    else if (p >= 100 && p <= 107) s.bg = p - 100 + 8;
    // Anything else (blink, fonts, ...) is ignored.
  }
  return Object.freeze(s);
}

export function isPlain(style) {
  return style === PLAIN || (style.fg === null && style.bg === null && !style.bold && !style.dim
    && !style.italic && !style.underline && !style.inverse && !style.strike);
}

/**
 * Split a text into styled segments.
 * @param {string} text
 * @param {Style} state the style in force when the text starts
 * @returns {{segs: {text: string, style: Style}[], end: Style, plain: string}}
 */
export function parse(text, state = PLAIN) {
  let style = state;
  if (!hasEscapes(text)) {
    return { segs: text ? [{ text, style }] : [], end: style, plain: text };
  }
  const segs = [];
  let last = 0;
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(text); m !== null; m = ESCAPE.exec(text)) {
    if (m.index > last) segs.push({ text: text.slice(last, m.index), style });
    if (m[2] === "m") style = applySgr(style, m[1]);
    last = ESCAPE.lastIndex;
  }
  if (last < text.length) segs.push({ text: text.slice(last), style });
  // Adjacent segments with the same style are merged (fewer spans).
  const merged = [];
  for (const seg of segs) {
    const prev = merged[merged.length - 1];
    if (prev && prev.style === seg.style) prev.text += seg.text;
    else merged.push({ ...seg });
  }
  return { segs: merged, end: style, plain: merged.map((s) => s.text).join("") };
}

/**
 * The SGR state at the end of a text, without its segments: what the next
 * line starts with. Only the SGR sequences from the last reset on count.
 * @param {string} text
 * @param {Style} state the style in force when the text starts
 * @returns {Style}
 */
export function endState(text, state = PLAIN) {
  if (!hasEscapes(text)) return state;
  const sgrs = [];
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(text); m !== null; m = ESCAPE.exec(text)) {
    if (m[2] === "m") sgrs.push(m[1]);
  }
  let from = 0;
  for (let i = sgrs.length - 1; i >= 0; i--) {
    const p = sgrs[i];
    if (p === "" || p === "0" || p.startsWith("0;")) {
      from = i;
      state = PLAIN;
      break;
    }
  }
  for (let i = from; i < sgrs.length; i++) state = applySgr(state, sgrs[i]);
  return state;
}

const CUBE = [0, 95, 135, 175, 215, 255];

/** An xterm palette entry 16-255 as "#rrggbb" (0-15 come from the theme's CSS). */
export function paletteColour(n) {
  if (n >= 232) {
    const v = 8 + 10 * (n - 232);
    return hex(v, v, v);
  }
  const i = n - 16;
  return hex(CUBE[Math.floor(i / 36)], CUBE[Math.floor(i / 6) % 6], CUBE[i % 6]);
}
