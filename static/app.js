// The viewer's entry point: wires the connection, the store, the log view,
// the streams panel, the find bar and the login form, and the keyboard.
//
// Options in the page's query string: `?cap=N` (lines kept, default 10000).
// Wrap and timestamps are remembered in localStorage.

import { Connection, RETRY_MAX } from "./conn/conn.js";
import { FindBar } from "./find/find.js";
import { LogView } from "./log/log.js";
import { Login } from "./login/login.js";
import { DEFAULT_CAP, Store } from "./store/store.js";
import { StreamsPanel } from "./streams/streams.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const capParam = Number.parseInt(params.get("cap") ?? "", 10);
const CAP = Number.isFinite(capParam) && capParam >= 10 ? Math.min(capParam, 1_000_000) : DEFAULT_CAP;
// History a new viewer asks for, per stream (the cap keeps the newest anyway).
const TAIL = Math.min(CAP, 10000);
// Most lines one gap-fill request asks for.
const FILL_PAGE = 1000;

const store = new Store(CAP);
const view = new LogView({ scroller: $("#log"), rows: $("#rows"), more: $("#more"), store });
const panel = new StreamsPanel($("#streams"), store, (single, hidden) => {
  view.setView(single, hidden);
});
const find = new FindBar($("#findbar"), (m) => view.setMatcher(m), (dir) => view.step(dir));

// -- notices and status ---------------------------------------------------------

let noticeTimer = null;
function notice(text) {
  const n = $("#notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 5000);
}

function connState(state, detail) {
  const c = $("#conn");
  c.dataset.state = state;
  if (state === "live") c.textContent = "live";
  else if (state === "connecting") c.textContent = "connecting…";
  else if (state === "auth") {
    c.textContent = "log in to continue";
    login.show();
  } else if (state === "retrying") {
    const s = Math.round(detail.delay / 1000);
    c.textContent = `disconnected — retrying in ${s} s${detail.delay >= RETRY_MAX ? " (max)" : ""}`;
  }
}

// Called every frame: touch the page only when something changed.
let shown = { matches: -1, following: null, find: -1 };
view.onupdate = () => {
  if (view.matches !== shown.matches || find.version !== shown.find) {
    find.showCount(view.matches);
  }
  if (view.following !== shown.following) {
    const pause = $("#pause");
    pause.setAttribute("aria-pressed", String(!view.following));
    pause.textContent = view.following ? "Pause" : "Follow";
    document.body.classList.toggle("paused", !view.following);
  }
  shown = { matches: view.matches, following: view.following, find: find.version };
};
view.ontarget = (sid, seq, held) => {
  notice(held ? `line ${sid}:${seq} is hidden by the current view or filter`
    : `line ${sid}:${seq} is no longer held by this page`);
};
store.onstreams = () => panel.render();

// -- connection -----------------------------------------------------------------

const conn = new Connection({
  hello(msg) {
    store.setStreams(Array.isArray(msg.streams) ? msg.streams : [], false);
    const since = store.since();
    store.subscribedAll();
    return { type: "subscribe", streams: ["*"], tail: TAIL, since };
  },
  frame(msg) {
    switch (msg.type) {
      case "lines":
        if (Array.isArray(msg.lines)) store.addLines(msg.stream, msg.lines);
        break;
      case "gap":
        store.addGap(msg.stream, msg.from, msg.to);
        break;
      case "status":
        store.setStatus(msg);
        break;
      case "streams":
        store.setStreams(Array.isArray(msg.streams) ? msg.streams : [], true);
        break;
      case "error":
        notice(`server: ${msg.message}`);
        break;
      default:
        break; // a newer server's frame: not ours to understand
    }
  },
  state: connState,
});
const login = new Login($("#login"), () => conn.start());

// -- gaps: fetch the skipped lines while the server still has them -------------------

async function fillGap(gap) {
  const st = store.streams.get(gap.sid);
  if (st === undefined || gap.state === "loading") return;
  const epoch = st.epoch;
  store.gapState(gap, "loading");
  const got = [];
  let after = gap.from - 1;
  let limit = FILL_PAGE;
  let lost = 0;
  try {
    while (after < gap.to) {
      const want = Math.min(limit, gap.to - after);
      const url = new URL(`api/streams/${encodeURIComponent(gap.sid)}/lines`, document.baseURI);
      url.searchParams.set("since", String(after));
      url.searchParams.set("limit", String(want));
      const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (res.status === 400 && limit > 1) {
        limit = Math.max(1, Math.floor(limit / 2)); // a server with a smaller history
        continue;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const page = await res.json();
      if (page.epoch !== epoch || st.epoch !== epoch) {
        lost = gap.to - after; // numbering started over: these are gone
        break;
      }
      const lines = page.lines.filter((l) => l.seq > after && l.seq <= gap.to);
      if (lines.length === 0) {
        lost += gap.to - after;
        break;
      }
      // Lines that left the ring before we asked are gone for good.
      lost += lines[0].seq - after - 1;
      got.push(...lines);
      after = lines[lines.length - 1].seq;
    }
  } catch {
    store.gapState(gap, "failed");
    return;
  }
  store.fillGap(gap, got, lost);
}

$("#rows").addEventListener("click", (ev) => {
  const button = ev.target.closest("button.load");
  const row = ev.target.closest(".row");
  if (row === null) return;
  const rec = view.recordOf(row);
  if (rec === null) return;
  if (button !== null && rec.type === "gap") {
    fillGap(rec);
    return;
  }
  // A click (not a text selection) selects the line and makes it the permalink.
  if (rec.type === "line" && document.getSelection().isCollapsed) {
    view.select(rec, false);
    history.replaceState(null, "", `#${rec.sid}:${rec.seq}`);
  }
});

// -- permalinks --------------------------------------------------------------------

function followHash() {
  const m = /^#([a-z0-9][a-z0-9._-]*):(\d+)$/.exec(location.hash);
  if (m !== null) view.seek(m[1], Number(m[2]));
}
window.addEventListener("hashchange", followHash);

$("#link").addEventListener("click", async () => {
  const rec = view.current;
  if (rec === null || rec.dead) {
    notice("select a line first (click it, or find it)");
    return;
  }
  history.replaceState(null, "", `#${rec.sid}:${rec.seq}`);
  try {
    await navigator.clipboard.writeText(location.href);
    notice("link copied");
  } catch {
    notice(`link: ${location.href}`);
  }
});

// -- toolbar -----------------------------------------------------------------------

function setting(name, initial) {
  const stored = localStorage.getItem(`tailcast.${name}`);
  return stored === null ? initial : stored === "1";
}

function applyToggles() {
  const rows = $("#rows");
  rows.classList.toggle("nowrap", !wrap);
  if (view.times !== times) view.setTimes(times);
  $("#wrap").setAttribute("aria-pressed", String(wrap));
  $("#times").setAttribute("aria-pressed", String(times));
}

let wrap = setting("wrap", true);
let times = setting("times", false);
applyToggles();

function toggleWrap() {
  wrap = !wrap;
  localStorage.setItem("tailcast.wrap", wrap ? "1" : "0");
  applyToggles();
}

function toggleTimes() {
  times = !times;
  localStorage.setItem("tailcast.times", times ? "1" : "0");
  applyToggles();
}

function togglePause() {
  if (view.following) view.pause();
  else view.resume();
}

$("#wrap").addEventListener("click", toggleWrap);
$("#times").addEventListener("click", toggleTimes);
$("#pause").addEventListener("click", togglePause);
$("#save").addEventListener("click", () => {
  const text = view.text({ timestamps: times, tags: view.single === null });
  const blob = new Blob([text], { type: "text/plain;charset=utf-8" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `tailcast-${view.single ?? "merged"}.txt`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
});

// -- keyboard ------------------------------------------------------------------------

const TEXT_INPUTS = new Set(["text", "search", "password", "number", "email", "url"]);

// Keys typed into a text field are text, not shortcuts (a checkbox is not one).
function typing(target) {
  return (target instanceof HTMLInputElement && TEXT_INPUTS.has(target.type))
    || target instanceof HTMLTextAreaElement || target?.isContentEditable;
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "Escape") {
    if (!$("#login").hidden) return;
    find.clear();
    $("#log").focus();
    ev.preventDefault();
    return;
  }
  if (typing(ev.target)) return;
  const keys = {
    "/": () => find.focus(),
    End: () => view.resume(),
    n: () => view.step(1),
    N: () => view.step(-1),
    p: togglePause,
    w: toggleWrap,
    t: toggleTimes,
  };
  const action = keys[ev.key];
  if (action !== undefined) {
    ev.preventDefault();
    action();
  }
});

// -- go ------------------------------------------------------------------------------

panel.render();
view.setView(null, panel.hidden);
followHash();
$("#log").focus();
conn.start();
// For tests and the curious: the parts, from the console.
window.tailcast = { store, view, conn, panel, cap: CAP };
