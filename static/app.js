// The viewer's entry point, wiring only: the connection, the store, the log
// view, the streams panel, the find bar, the toolbar, permalinks, the login
// form and the keyboard, each from its own module.
//
// Options in the page's query string: `?cap=N` (lines kept, default 10000).

import { Connection } from "./conn/conn.js";
import { frameHandlers } from "./conn/frames.js";
import { connStatus } from "./conn/status.js";
import { FindBar } from "./find/find.js";
import { fillGap } from "./history/history.js";
import { bindKeys } from "./keys/keys.js";
import { Permalinks } from "./links/links.js";
import { onRowClick } from "./log/clicks.js";
import { LogView } from "./log/log.js";
import { Login } from "./login/login.js";
import { takeShareLink } from "./login/share.js";
import { DEFAULT_CAP, Store } from "./store/store.js";
import { StreamsPanel } from "./streams/streams.js";
import { Toolbar } from "./toolbar/toolbar.js";
import { Notice } from "./util/notice.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const capParam = Number.parseInt(params.get("cap") ?? "", 10);
const CAP = Number.isFinite(capParam) && capParam >= 10 ? Math.min(capParam, 1_000_000) : DEFAULT_CAP;
// History a new viewer asks for, per stream (the cap keeps the newest anyway).
const TAIL = Math.min(CAP, 10000);

const store = new Store(CAP);
const view = new LogView({ scroller: $("#log"), rows: $("#rows"), more: $("#more"), store });
const panel = new StreamsPanel($("#streams"), store, (single, hidden) => {
  view.setView(single, hidden);
});
const find = new FindBar($("#findbar"), (m) => view.setMatcher(m), (dir) => view.step(dir));
const notice = new Notice($("#notice"));
const say = (text) => notice.show(text);
const links = new Permalinks(view, say);

view.ontarget = (sid, seq, held) => {
  say(held ? `line ${sid}:${seq} is hidden by the current view or filter`
    : `line ${sid}:${seq} is no longer held by this page`);
};
store.onstreams = () => panel.render();

const conn = new Connection({
  ...frameHandlers(store, { tail: TAIL, notice: say }),
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

const toolbar = new Toolbar(view, find, $);
view.onupdate = () => toolbar.update();

bindKeys({
  "/": () => find.focus(),
  End: () => view.resume(),
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
window.tailcast = { store, view, conn, panel, cap: CAP };
