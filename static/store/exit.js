// The exit banner's text: how a stream ended and how long it ran.

function duration(seconds) {
  if (!(seconds >= 0)) return "";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The exit banner: code (or signal) and how long it ran, as far as we know.
 * Start: when we saw it go live, else its first line (seq 1) if we hold it.
 * End: when we saw the exit, else (it exited before we came) its last line,
 * which makes the duration a lower bound. Line times are the server's clock.
 */
export function exitText(st, records) {
  const info = st.info;
  const who = info.kind === "docker" ? "container" : "process";
  let what = `${who} exited`;
  if (info.signal) what += ` on ${info.signal}`;
  if (info.exit_code !== undefined && info.exit_code !== null) what += ` with code ${info.exit_code}`;
  let first = null;
  let last = null;
  for (const rec of records) {
    if (rec.sid !== st.id || rec.type !== "line") continue;
    if (first === null) first = rec;
    last = rec;
  }
  // The run's real start (STREAM_INFO `started`), else what we saw.
  const start = info.started ?? st.liveAt ?? (first !== null && first.seq === 1 ? first.ts : null);
  if (start === null) return what;
  if (st.exitAt !== null) return `${what} after ${duration(st.exitAt - start)}`;
  return last === null ? what : `${what} after at least ${duration(last.ts - start)}`;
}
