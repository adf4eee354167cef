// The WebSocket connection, protocol v1: reconnects with backoff and resumes.
//
// - Backoff: the first retry after RETRY_MIN, doubling up to RETRY_MAX; a
//   hello resets it. A little jitter spreads the reconnects of many viewers
//   after a server restart.
// - Resume: the hello handler returns the subscribe frame, built from what the
//   page already holds (`since`), so nothing is shown twice or skipped.
// - Close code CLOSE_NOT_AUTHENTICATED: no retry until a login succeeded.
// - The token is never put in a URL: the browser sends the session cookie.

import { CLOSE_NOT_AUTHENTICATED, SUBPROTOCOL } from "./wire.js";

export const RETRY_MIN = 1000;
export const RETRY_MAX = 30000;

export function wsURL(base = document.baseURI) {
  const url = new URL("ws", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class Connection {
  /**
   * @param {object} handlers
   * @param {(hello: object) => object} handlers.hello returns the subscribe frame
   * @param {(msg: object) => void} handlers.frame every other frame
   * @param {(state: string, detail?: object) => void} handlers.state
   *   "connecting", "live", "retrying" ({delay, code}), "auth"
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.delay = RETRY_MIN;
    this.timer = null;
    this.stopped = true;
    // Back on the network: do not wait out the backoff.
    window.addEventListener("online", () => {
      if (this.timer !== null) this.reconnectNow();
    });
  }

  start() {
    this.stopped = false;
    this.delay = RETRY_MIN;
    this._open();
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.timer = null;
    this._open();
  }

  _open() {
    this.timer = null;
    this.handlers.state("connecting");
    let ws;
    try {
      ws = new WebSocket(wsURL(), [SUBPROTOCOL]);
    } catch {
      this._retry(0);
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not protocol v1: ignore rather than die
      }
      if (msg === null || typeof msg !== "object") return;
      if (msg.type === "hello") {
        this.delay = RETRY_MIN;
        ws.send(JSON.stringify(this.handlers.hello(msg)));
        this.handlers.state("live");
      } else {
        this.handlers.frame(msg);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === CLOSE_NOT_AUTHENTICATED) {
        this.stopped = true;
        this.handlers.state("auth");
        return;
      }
      if (!this.stopped) this._retry(ev.code);
    };
  }

  /** Send a client frame now, if connected (the next hello resubscribes anyway). */
  send(frame) {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  _retry(code) {
    const wait = Math.min(RETRY_MAX, this.delay * (1 + 0.2 * Math.random()));
    this.delay = Math.min(RETRY_MAX, this.delay * 2);
    this.handlers.state("retrying", { delay: wait, code });
    this.timer = setTimeout(() => this._open(), wait);
  }
}
