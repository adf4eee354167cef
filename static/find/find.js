// The find bar: substring or regular expression, case, invert, "only
// matching lines"; builds the matcher the log view filters and marks with.

/** At most this many marks in one line (a pathological regex stays cheap). */
export const MAX_MARKS = 200;

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A matcher, or null for an empty query. Throws SyntaxError for a bad regex.
 * @returns {{test: (s: string) => boolean, ranges: (s: string) => number[][],
 *   invert: boolean, only: boolean} | null}
 */
export function makeMatcher({ query, regex, caseSensitive, invert, only }) {
  if (!query) return null;
  const source = regex ? query : escapeRegExp(query);
  const flags = caseSensitive ? "" : "i";
  const once = new RegExp(source, flags);
  const all = new RegExp(source, `g${flags}`);
  return {
    invert,
    only,
    test: (s) => once.test(s),
    ranges(s) {
      const out = [];
      all.lastIndex = 0;
      for (let m = all.exec(s); m !== null && out.length < MAX_MARKS; m = all.exec(s)) {
        if (m[0] === "") {
          all.lastIndex++; // an empty match marks nothing; move on
          continue;
        }
        out.push([m.index, m.index + m[0].length]);
      }
      return out;
    },
  };
}

export class FindBar {
  /**
   * @param {HTMLFormElement} form holds #find, #find-regex, #find-case,
   *   #find-invert, #find-only, #find-count, #find-prev, #find-next
   * @param {(matcher: object|null) => void} onchange
   * @param {(dir: number) => void} onstep
   */
  constructor(form, onchange, onstep) {
    this.form = form;
    this.input = form.querySelector("#find");
    this.count = form.querySelector("#find-count");
    this.onchange = onchange;
    this.timer = null;
    this.matcher = null;
    this.version = 0; // bumped on every change of the query or options
    form.addEventListener("submit", (ev) => ev.preventDefault());
    this.input.addEventListener("input", () => this._soon());
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        this._now();
        onstep(ev.shiftKey ? -1 : 1);
      }
    });
    for (const id of ["#find-regex", "#find-case", "#find-invert", "#find-only"]) {
      form.querySelector(id).addEventListener("change", () => this._now());
    }
    form.querySelector("#find-prev").addEventListener("click", () => onstep(-1));
    form.querySelector("#find-next").addEventListener("click", () => onstep(1));
  }

  options() {
    const f = this.form;
    return {
      query: this.input.value,
      regex: f.querySelector("#find-regex").checked,
      caseSensitive: f.querySelector("#find-case").checked,
      invert: f.querySelector("#find-invert").checked,
      only: f.querySelector("#find-only").checked,
    };
  }

  // Typing rebuilds the view: wait for a pause in typing first.
  _soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._now(), 120);
  }

  _now() {
    clearTimeout(this.timer);
    let matcher = null;
    try {
      matcher = makeMatcher(this.options());
      this.input.removeAttribute("aria-invalid");
      this.input.setCustomValidity("");
    } catch (err) {
      this.input.setAttribute("aria-invalid", "true");
      this.input.setCustomValidity(`not a valid regular expression: ${err.message}`);
    }
    this.matcher = matcher;
    this.version++;
    this.onchange(matcher);
  }

  focus() {
    this.input.focus();
    this.input.select();
  }

  clear() {
    this.input.value = "";
    this._now();
  }

  showCount(n) {
    if (this.matcher === null) {
      this.count.textContent = this.input.getAttribute("aria-invalid") ? "bad regex" : "";
    } else {
      this.count.textContent = `${n} match${n === 1 ? "" : "es"}`;
    }
  }
}
