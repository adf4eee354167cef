// The toolbar's toggles (pause, wrap, timestamps) and Save, and the page
// state they show. Wrap and timestamps are remembered in localStorage.

import { download } from "../util/download.js";
import { remember, setting } from "../util/settings.js";

export class Toolbar {
  /**
   * @param {import("../log/log.js").LogView} view
   * @param {import("../find/find.js").FindBar} find
   * @param {(sel: string) => HTMLElement} $ finds the page's elements
   */
  constructor(view, find, $) {
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
    this.apply();
  }

  apply() {
    const { $, view } = this;
    $("#rows").classList.toggle("nowrap", !this.wrap);
    if (view.times !== this.times) view.setTimes(this.times);
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

  save() {
    const { view } = this;
    const text = view.text({ timestamps: this.times, tags: view.single === null });
    download(text, `tailcast-${view.single ?? "merged"}.txt`);
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
