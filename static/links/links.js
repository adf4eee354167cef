// Permalinks: `#STREAM:SEQ` in the address names one line. Opening such a link
// (or changing the hash) seeks the line; selecting a line puts its link in the
// address bar; the Link button copies it.

const HASH_RE = /^#([a-z0-9][a-z0-9._-]*):(\d+)$/;

export class Permalinks {
  /**
   * @param {import("../log/log.js").LogView} view
   * @param {(text: string) => void} notice
   */
  constructor(view, notice) {
    this.view = view;
    this.notice = notice;
    window.addEventListener("hashchange", () => this.follow());
  }

  /** Seek the line the address names, if it names one. */
  follow() {
    const m = HASH_RE.exec(location.hash);
    if (m !== null) this.view.seek(m[1], Number(m[2]));
  }

  /** The record's link in the address bar (no history entry, no seek). */
  mark(rec) {
    history.replaceState(null, "", `#${rec.sid}:${rec.seq}`);
  }

  /** Copy the selected line's link, or say why there is none. */
  async copy() {
    const rec = this.view.current;
    if (rec === null || rec.dead) {
      this.notice("select a line first (click it, or find it)");
      return;
    }
    this.mark(rec);
    try {
      await navigator.clipboard.writeText(location.href);
      this.notice("link copied");
    } catch {
      this.notice(`link: ${location.href}`);
    }
  }
}
