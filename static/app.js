// The minimal viewer: connects to /ws, follows every stream ("*"), shows lines.
// Log text only ever enters the page through textContent (never as HTML).
const MAX_LINES = 10000;
const logEl = document.getElementById("log");
const connEl = document.getElementById("conn");
const navEl = document.getElementById("streams");
const positions = new Map(); // stream id -> last seq shown
const epochs = new Map();
let pending = [];
let scheduled = false;
let delay = 1000;

function wsURL() {
  const url = new URL("ws", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function showStreams(streams) {
  navEl.replaceChildren(...streams.map((s) => {
    const el = document.createElement("span");
    el.textContent = `${s.id} (${s.state})`;
    return el;
  }));
}

function render() {
  scheduled = false;
  const follow = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 50;
  const frag = document.createDocumentFragment();
  for (const node of pending) frag.append(node);
  pending = [];
  logEl.append(frag);
  while (logEl.childElementCount > MAX_LINES) logEl.firstElementChild.remove();
  if (follow) logEl.scrollTop = logEl.scrollHeight;
}

function queue(node) {
  pending.push(node);
  if (!scheduled) { scheduled = true; requestAnimationFrame(render); }
}

function addLines(sid, lines) {
  let last = positions.get(sid) ?? 0;
  for (const line of lines) {
    if (line.seq <= last) continue; // never show a line twice
    last = line.seq;
    const el = document.createElement("span");
    el.className = line.fd === "err" ? "line err" : "line";
    el.dataset.stream = sid;
    el.dataset.seq = String(line.seq);
    const tag = document.createElement("span");
    tag.className = "sid";
    tag.textContent = sid;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = line.text;
    el.append(tag, text);
    queue(el);
  }
  positions.set(sid, last);
}

function connect() {
  const ws = new WebSocket(wsURL(), ["tailcast.v1"]);
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "hello") {
      connEl.textContent = "live";
      delay = 1000;
      const since = {};
      for (const s of msg.streams) {
        if (epochs.has(s.id) && epochs.get(s.id) !== s.epoch) positions.delete(s.id);
        epochs.set(s.id, s.epoch);
        if (positions.has(s.id)) since[s.id] = positions.get(s.id);
      }
      showStreams(msg.streams);
      ws.send(JSON.stringify({ type: "subscribe", streams: ["*"], tail: 1000, since }));
    } else if (msg.type === "lines") {
      addLines(msg.stream, msg.lines);
    } else if (msg.type === "gap") {
      const el = document.createElement("span");
      el.className = "gap";
      el.textContent = `${msg.stream}: ${msg.to - msg.from + 1} lines skipped`;
      queue(el);
      positions.set(msg.stream, Math.max(positions.get(msg.stream) ?? 0, msg.to));
    } else if (msg.type === "streams") {
      showStreams(msg.streams);
    }
  };
  ws.onclose = (ev) => {
    if (ev.code === 4001) { connEl.textContent = "log in to continue"; showLogin(); return; }
    connEl.textContent = `disconnected; retrying in ${delay / 1000}s`;
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  };
}

function showLogin() {
  const form = document.getElementById("login");
  form.hidden = false;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const token = document.getElementById("token").value;
    const res = await fetch(new URL("api/login", document.baseURI), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }), credentials: "same-origin",
    });
    if (res.status === 204) { form.hidden = true; connect(); }
    else document.getElementById("login-error").textContent = "wrong token";
  };
}

connect();
