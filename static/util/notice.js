// A short message at the bottom of the page (#notice), gone after a while.

export const NOTICE_MS = 5000;

export class Notice {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    this.timer = null;
  }

  show(text) {
    this.el.textContent = text;
    this.el.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.el.hidden = true; }, NOTICE_MS);
  }
}
