// What the viewer does with protocol v1 frames: the handlers a Connection
// calls, feeding the store.
//
// The hello handler returns the subscribe frame, built from what the store
// already holds (`since`), so a reconnect resumes: nothing shown twice or skipped.

/**
 * @param {import("../store/store.js").Store} store
 * @param {object} opts
 * @param {number} opts.tail history a new viewer asks for, per stream
 * @param {(text: string) => void} opts.notice shows the server's error frames
 * @param {() => string[]|null} opts.levels the level filter, or null
 */
export function frameHandlers(store, { tail, notice, levels = () => null }) {
  return {
    hello(msg) {
      store.setStreams(Array.isArray(msg.streams) ? msg.streams : [], false);
      const since = store.since();
      store.subscribedAll();
      const only = levels();
      const frame = { type: "subscribe", streams: ["*"], tail, since };
      // The level filter, server side (1.1; a 1.0 server ignores it).
      if (only !== null) frame.filter = { levels: only };
      return frame;
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
  };
}
