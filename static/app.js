// The viewer's entry point, wiring only: the connection, the store, the log
// view, the streams panel, the find bar, the toolbar, permalinks, the login
// form and the keyboard, each from its own module.
//
// Options in the page's query string: `?cap=N` (lines in the window, default
// and most 3000; older and newer lines are paged in from the server's history).

import { Connection } from "./conn/conn.js";
import { frameHandlers } from "./conn/frames.js";
import { connStatus } from "./conn/status.js";
import { FindBar } from "./find/find.js";
import { FindFurther } from "./find/further.js";
import { fillGap } from "./history/history.js";
import { HistoryWindow } from "./history/window.js";
import { bindKeys } from "./keys/keys.js";
import { Permalinks } from "./links/links.js";
import { onRowClick } from "./log/clicks.js";
import { LogView } from "./log/log.js";
import { Login } from "./login/login.js";
import { takeShareLink } from "./login/share.js";
import { DEFAULT_CAP, MAX_CAP, Store } from "./store/store.js";
import { StreamsPanel } from "./streams/streams.js";
import { Toolbar } from "./toolbar/toolbar.js";
import { Notice } from "./util/notice.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const capParam = Number.parseInt(params.get("cap") ?? "", 10);
const CAP = Number.isFinite(capParam) && capParam >= 10 ? Math.min(capParam, MAX_CAP) : DEFAULT_CAP;
// History a new viewer asks for, per stream (the cap keeps the newest anyway).
const TAIL = CAP;

const store = new Store(CAP);
const view = new LogView({ scroller: $("#log"), rows: $("#rows"), more: $("#more"), store });
const panel = new StreamsPanel($("#streams"), store, (single, hidden) => {
  view.setView(single, hidden);
});
const find = new FindBar($("#findbar"), (m) => view.setMatcher(m), (dir) => view.step(dir));
const notice = new Notice($("#notice"));
const say = (text) => notice.show(text);
const links = new Permalinks(view, say);

// The level filter: shown lines, the server's subscription and its pages.
const levelSelect = $("#levels");
const levelParams = () => {
  const p = new URLSearchParams();
  if (levelSelect.value) p.set("levels", levelSelect.value);
  return p;
};
const win = new HistoryWindow(store, view, (t) => say(t), levelParams);
view.onneed = (dir) => (dir < 0 ? win.older() : win.newer());
view.onresume = () => {
  if (win.atEnd()) return true;
  win.end();
  return false;
};
view.ontargetMissing = (sid, seq) => win.missing(sid, seq);
const further = new FindFurther({ store, view, win, find, say, levelParams });
view.onedge = (dir, kind) => further.edge(dir, kind);

view.ontarget = (sid, seq, held) => {
  say(held ? `line ${sid}:${seq} is hidden by the current view or filter`
    : `line ${sid}:${seq} is no longer held by this page`);
};
store.onstreams = () => panel.render();
panel.onnotice = say;

const levelList = () => (levelSelect.value ? levelSelect.value.split(",") : null);
const conn = new Connection({
  ...frameHandlers(store, { tail: TAIL, notice: say, levels: levelList }),
  state: connStatus($("#conn"), () => login.show()),
});
const login = new Login($("#login"), () => conn.start());

onRowClick($("#rows"), view, {
  gap: (gap) => fillGap(store, gap),
  line: (rec) => {
    view.select(rec, false);
    links.mark(rec);
  },
});
$("#link").addEventListener("click", () => links.copy());

const toolbar = new Toolbar(view, find, $, levelParams, say);
$("#top").addEventListener("click", () => win.start());
$("#bottom").addEventListener("click", () => view.resume());
$("#err-prev").addEventListener("click", () => view.step(-1, "error"));
$("#err-next").addEventListener("click", () => view.step(1, "error"));
levelSelect.addEventListener("change", () => {
  const levels = levelList();
  view.setLevels(levels === null ? null : new Set(levels));
  // The server sends only these levels from now on (protocol 1.1)...
  conn.send({ type: "subscribe", streams: ["*"], since: store.since(),
    ...(levels === null ? { filter: {} } : { filter: { levels } }) });
  // ... and the window is loaded again with them.
  win.reload();
});
view.onupdate = () => toolbar.update();

bindKeys({
  "/": () => find.focus(),
  End: () => view.resume(),
  Home: () => win.start(),
  e: () => view.step(-1, "error"),
  E: () => view.step(1, "error"),
  j: () => toolbar.toggleRaw(),
  l: () => levelSelect.focus(),
  n: () => view.step(1),
  N: () => view.step(-1),
  p: () => toolbar.togglePause(),
  w: () => toolbar.toggleWrap(),
  t: () => toolbar.toggleTimes(),
}, () => {
  if (!$("#login").hidden) return false;
  find.clear();
  $("#log").focus();
  return true;
});

// -- go ------------------------------------------------------------------------------

panel.render();
view.setView(null, panel.hidden);
// A share link (#share=TOKEN) logs in before anything connects or reads the hash.
const shareProblem = await takeShareLink();
if (shareProblem !== null) say(shareProblem);
links.follow();
$("#log").focus();
conn.start();
// For tests and the curious: the parts, from the console.
window.tailcast = { store, view, conn, panel, win, cap: CAP };
