// Share links: https://HOST/BASE#share=TOKEN. The token sits in the fragment,
// which a browser never sends to a server (nor in a Referer). Before the page
// connects, this takes it out of the address bar (history.replaceState, so it
// is not in the history either) and trades it at POST /api/login for the
// HttpOnly session cookie; the page keeps nothing. A reload then works by the
// cookie alone, until the share expires or is revoked.

const SHARE_RE = /(^#|&)share=([^&]*)/;

/**
 * Take a share token from the fragment and log in with it.
 * @returns {Promise<string | null>} null: no share link, or logged in; else why not
 */
export async function takeShareLink() {
  const m = SHARE_RE.exec(location.hash);
  if (m === null) return null;
  let token;
  try {
    token = decodeURIComponent(m[2]);
  } catch {
    token = m[2];
  }
  // Out of the address bar first, whatever happens next; other fragment parts stay.
  const rest = location.hash.slice(1).split("&").filter((p) => !p.startsWith("share=")).join("&");
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  let res;
  try {
    res = await fetch(new URL("api/login", document.baseURI), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
  } catch {
    return "the server cannot be reached";
  }
  if (res.status === 204) return null;
  if (res.status === 429) return "too many failed attempts: wait a minute";
  return "this share link has expired or was revoked";
}
