// The toolbar's toggles (pause, wrap, timestamps, raw JSON) and Save, and the
// page state they show. Wrap, timestamps and raw are remembered in localStorage.

import { visibleText } from "../history/history.js";
import { parseJson } from "../store/structure.js";
import { remember, setting } from "../util/settings.js";
import { save } from "./save.js";

export class Toolbar {
  /**
   * @param {import("../log/log.js").LogView} view
   * @param {import("../find/find.js").FindBar} find
   * @param {(sel: string) => HTMLElement} $ finds the page's elements
   * @param {() => URLSearchParams} filter the server's filter parameters
   * @param {(text: string) => void} say
   */
  constructor(view, find, $, filter, say) {
    this.filter = filter;
    this.say = say;
    this.raw = setting("raw", false);
    this.view = view;
    this.find = find;
    this.$ = $;
    this.wrap = setting("wrap", true);
    this.times = setting("times", false);
    this.shown = { matches: -1, following: null, find: -1 };
    $("#wrap").addEventListener("click", () => this.toggleWrap());
    $("#times").addEventListener("click", () => this.toggleTimes());
    $("#pause").addEventListener("click", () => this.togglePause());
    $("#save").addEventListener("click", () => this.save());
    $("#raw").addEventListener("click", () => this.toggleRaw());
    this.apply();
  }

  apply() {
    const { $, view } = this;
    view.setWrap(this.wrap);
    if (view.times !== this.times) view.setTimes(this.times);
    if (view.raw !== this.raw) view.setRaw(this.raw);
    $("#raw").setAttribute("aria-pressed", String(this.raw));
    $("#wrap").setAttribute("aria-pressed", String(this.wrap));
    $("#times").setAttribute("aria-pressed", String(this.times));
  }

  toggleWrap() {
    this.wrap = !this.wrap;
    remember("wrap", this.wrap);
    this.apply();
  }

  toggleTimes() {
    this.times = !this.times;
    remember("times", this.times);
    this.apply();
  }

  togglePause() {
    if (this.view.following) this.view.pause();
    else this.view.resume();
  }

  /** Save the whole history shown, or its matching lines (toolbar/save.js). */
  async save() {
    const { view } = this;
    const matcher = view.matcher;
    const levels = view.levels;
    let test = null;
    if (matcher !== null || levels !== null) {
      test = (line) => (matcher === null || matcher.test(visibleText(line)) !== matcher.invert)
        && (levels === null || levels.has(line.level ?? parseJson(line.text)?.level));
    }
    const button = this.$("#save");
    button.disabled = true;
    try {
      await save(view.streamIds(), test, this.filter(), {
        timestamps: this.times, tags: view.single === null, name: view.single ?? "merged",
      });
    } catch (err) {
      this.say(`save: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  toggleRaw() {
    this.raw = !this.raw;
    remember("raw", this.raw);
    this.apply();
  }

  /** After each frame of the view: touch the page only when something changed. */
  update() {
    const { view, find } = this;
    if (view.matches !== this.shown.matches || find.version !== this.shown.find) {
      find.showCount(view.matches);
    }
    if (view.following !== this.shown.following) {
      const pause = this.$("#pause");
      pause.setAttribute("aria-pressed", String(!view.following));
      pause.textContent = view.following ? "Pause" : "Follow";
      document.body.classList.toggle("paused", !view.following);
    }
    this.shown = { matches: view.matches, following: view.following, find: find.version };
  }
}
