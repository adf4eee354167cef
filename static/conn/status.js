// The connection's state in the toolbar (#conn): live, connecting, retrying
// (with the wait), or waiting for a login.

import { RETRY_MAX } from "./conn.js";

/**
 * A Connection's `state` handler that shows the state in `el`.
 * @param {HTMLElement} el
 * @param {() => void} onauth called when the server wants a login
 */
export function connStatus(el, onauth) {
  return (state, detail) => {
    el.dataset.state = state;
    if (state === "live") el.textContent = "live";
    else if (state === "connecting") el.textContent = "connecting…";
    else if (state === "auth") {
      el.textContent = "log in to continue";
      onauth();
    } else if (state === "retrying") {
      const s = Math.round(detail.delay / 1000);
      el.textContent = `disconnected — retrying in ${s} s${detail.delay >= RETRY_MAX ? " (max)" : ""}`;
    }
  };
}
