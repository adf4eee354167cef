// The streams panel: every stream with its kind, state badge, line rate (and
// CPU/memory for Docker streams); choose one stream or the merged view, and
// toggle streams inside the merged view; restart and stop a controllable
// process stream.

import { bytes, el, rate } from "../util/format.js";

/** How often the line rates are recomputed and Docker stats are polled (ms). */
export const RATE_EVERY = 1000;
export const STATS_EVERY = 5000;

function badge(info) {
  const state = info.state ?? "?";
  if (state === "exited") {
    let text = "exited";
    if (info.exit_code !== undefined && info.exit_code !== null) text += ` ${info.exit_code}`;
    if (info.signal) text += ` (${info.signal})`;
    return [text, "exited"];
  }
  if (state === "error") return [`error: ${info.message ?? "unknown"}`, "error"];
  return [state, state];
}

function detail(info) {
  if (info.path) return info.path;
  if (Array.isArray(info.argv)) return info.argv.join(" ");
  if (info.container) return info.container;
  return "";
}

export class StreamsPanel {
  /**
   * @param {HTMLElement} root the panel
   * @param {import("../store/store.js").Store} store
   * @param {(single: string|null, hidden: Set<string>) => void} onview
   */
  constructor(root, store, onview) {
    this.root = root;
    this.list = root.querySelector("#stream-list");
    this.allButton = root.querySelector("#view-all");
    this.store = store;
    this.onview = onview;
    this.onnotice = () => {};
    this.single = null;
    this.hidden = new Set();
    this.items = new Map(); // stream id -> {li, badge, rate, stats, last count, rate value}
    this.lastTick = performance.now();
    this.stats = new Map();
    this.noStats = new Set(); // answered 404: this server has no stats for them
    this.allButton.addEventListener("click", () => this.choose(null));
    setInterval(() => this.tick(), RATE_EVERY);
    setInterval(() => this.pollStats(), STATS_EVERY);
  }

  choose(single) {
    this.single = single;
    this.render();
    this.onview(single, this.hidden);
  }

  toggle(id, on) {
    if (on) this.hidden.delete(id);
    else this.hidden.add(id);
    this.onview(this.single, this.hidden);
  }

  /** Rebuild the list (streams added or removed, or a state changed). */
  render() {
    const fresh = new Map();
    const rows = [];
    for (const st of this.store.streams.values()) {
      const old = this.items.get(st.id);
      const item = old ?? this._item(st);
      fresh.set(st.id, item);
      this._fill(item, st);
      rows.push(item.li);
    }
    for (const [id, item] of this.items) {
      if (!fresh.has(id)) item.li.remove();
    }
    this.items = fresh;
    this.list.replaceChildren(...rows);
    // The merged view's tag column fits the longest name (within reason).
    const longest = Math.max(4, ...[...this.store.streams.values()].map(
      (st) => String(st.info.name ?? st.id).length));
    document.querySelector("#rows").style.setProperty("--tagw", `${Math.min(longest, 18)}ch`);
    this.allButton.setAttribute("aria-pressed", String(this.single === null));
    this.root.classList.toggle("single", this.single !== null);
    // Docker streams show their numbers at once, not after the first interval.
    for (const st of this.store.streams.values()) {
      if (st.info.kind === "docker" && !this.stats.has(st.id)) this._stats(st.id);
    }
  }

  _item(st) {
    const li = el("li", "stream");
    li.dataset.sid = st.id;
    const toggle = el("input", `swatch c${st.colour}`);
    toggle.type = "checkbox";
    toggle.checked = !this.hidden.has(st.id);
    toggle.title = "show in the merged view";
    toggle.setAttribute("aria-label", `show ${st.info.name ?? st.id} in the merged view`);
    toggle.addEventListener("change", () => this.toggle(st.id, toggle.checked));
    const name = el("button", "name", st.info.name ?? st.id);
    name.type = "button";
    name.title = "show only this stream";
    name.addEventListener("click", () => this.choose(this.single === st.id ? null : st.id));
    const kind = el("span", "kind");
    const state = el("span", "badge");
    const lineRate = el("span", "rate", "0/s");
    lineRate.title = "lines per second";
    const info = el("div", "detail");
    const stats = el("div", "stats");
    stats.hidden = true;
    const control = el("div", "control");
    for (const action of ["restart", "stop"]) {
      const b = el("button", action, action === "restart" ? "Restart" : "Stop");
      b.type = "button";
      b.title = `${action} the command (the server runs with --allow-control)`;
      b.addEventListener("click", () => this._control(st.id, action, b));
      control.append(b);
    }
    control.hidden = true;
    li.append(toggle, name, kind, state, lineRate, info, stats, control);
    return { li, toggle, name, kind, state, rate: lineRate, info, stats, control, count: st.count };
  }

  _fill(item, st) {
    const [text, cls] = badge(st.info);
    item.kind.textContent = st.info.kind ?? "?";
    item.state.textContent = text;
    item.state.className = `badge ${cls}`;
    item.info.textContent = detail(st.info);
    item.info.title = detail(st.info);
    item.li.classList.toggle("gone", st.gone);
    // Restart and stop: only where the server says it may (`controllable`).
    item.control.hidden = st.info.controllable !== true || st.gone;
    item.state.title = st.info.started ? `started ${new Date(st.info.started * 1000).toLocaleString()}` : "";
    item.name.setAttribute("aria-pressed", String(this.single === st.id));
    item.li.classList.toggle("chosen", this.single === st.id);
  }

  async _control(id, action, button) {
    button.disabled = true;
    try {
      const res = await fetch(new URL(`api/streams/${encodeURIComponent(id)}/${action}`,
        document.baseURI), { method: "POST", credentials: "same-origin" });
      if (!res.ok) {
        let why = `HTTP ${res.status}`;
        try {
          why = (await res.json()).error ?? why;
        } catch { /* not JSON */ }
        this.onnotice(`${action} ${id}: ${why}`);
      }
    } catch (err) {
      this.onnotice(`${action} ${id}: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  /** Update line rates (every RATE_EVERY ms). */
  tick() {
    const now = performance.now();
    const dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    for (const st of this.store.streams.values()) {
      const item = this.items.get(st.id);
      if (item === undefined || dt <= 0) continue;
      const n = Math.max(0, st.count - item.count);
      item.count = st.count;
      item.rate.textContent = rate(n / dt);
    }
  }

  pollStats() {
    if (document.hidden) return;
    for (const st of this.store.streams.values()) {
      if (st.info.kind === "docker" && !st.gone && !this.noStats.has(st.id)) this._stats(st.id);
    }
  }

  async _stats(id) {
    this.stats.set(id, null);
    let data = null;
    try {
      const res = await fetch(new URL(`api/streams/${encodeURIComponent(id)}/stats`,
        document.baseURI), { credentials: "same-origin", cache: "no-store" });
      if (res.ok) data = await res.json();
      else if (res.status === 404) this.noStats.add(id);
    } catch {
      data = null;
    }
    this.stats.set(id, data);
    const item = this.items.get(id);
    if (item === undefined) return;
    if (data === null || typeof data !== "object") {
      item.stats.hidden = true;
      return;
    }
    const cpu = Number(data.cpu_percent);
    let text = `cpu ${Number.isFinite(cpu) ? cpu.toFixed(1) : "?"}% · mem ${bytes(data.memory_bytes)}`;
    if (data.memory_limit_bytes) text += ` / ${bytes(data.memory_limit_bytes)}`;
    item.stats.textContent = text;
    item.stats.hidden = false;
  }
}
