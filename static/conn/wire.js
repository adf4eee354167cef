// Protocol v1 on the wire, the viewer's side: the WebSocket subprotocol and
// the close codes of the contract. The same values as tailcast/protocol/wire.py
// (SUBPROTOCOL, CLOSE_*); tests/viewer/test_wire_constants.py holds them equal.

export const SUBPROTOCOL = "tailcast.v1";

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001; // the server stops
export const CLOSE_POLICY = 1008; // e.g. a client too slow to keep up
export const CLOSE_TOO_BIG = 1009; // a client frame over --max-frame
export const CLOSE_NOT_AUTHENTICATED = 4001; // log in, then connect again
export const CLOSE_UNKNOWN_STREAM = 4004;
