/**
 * NRI's multiplexer frame: an 8-byte header, then the payload.
 *   bytes 0-3  connection id, u32 big-endian (0 is reserved)
 *   bytes 4-7  payload length, u32 big-endian (payload only, not the header)
 */
export const MUX_HEADER_SIZE = 8;

/**
 * Largest payload accepted: a ttrpc header plus the ttrpc 4 MiB message
 * limit, which is also the size Go's writer splits at (NRI v0.7+).
 */
export const MUX_MAX_PAYLOAD = 10 + 4 * 1024 * 1024;

/**
 * The first frame of every ttrpc message written to a Go peer must fit Go's
 * 4096-byte bufio buffer, or its read fails with ENOMEM.
 */
export const GO_READ_BUFFER = 4096;

/** Connection ids that NRI opens on every socket. */
export const PLUGIN_SERVICE_CONN = 1; // runtime calls the plugin
export const RUNTIME_SERVICE_CONN = 2; // plugin calls the runtime

/** Encodes one frame. */
export function encodeMuxFrame(connId: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(MUX_HEADER_SIZE + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, connId);
  view.setUint32(4, payload.length);
  frame.set(payload, MUX_HEADER_SIZE);
  return frame;
}

/**
 * Encodes one whole upper-layer message the way Go's own writer does: the
 * first min(total, 4096) bytes in one frame, the rest (if any) in a second.
 * Never more frames, so the peer's 256-frame queue cannot overflow, and never
 * a frame that crosses into the next message.
 */
export function encodeMessageFrames(connId: number, message: Uint8Array): Uint8Array {
  if (message.length <= GO_READ_BUFFER) return encodeMuxFrame(connId, message);
  const rest = message.length - GO_READ_BUFFER;
  if (rest > MUX_MAX_PAYLOAD) {
    throw new RangeError(`message of ${message.length} bytes is over the mux limit`);
  }
  const out = new Uint8Array(2 * MUX_HEADER_SIZE + message.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, connId);
  view.setUint32(4, GO_READ_BUFFER);
  out.set(message.subarray(0, GO_READ_BUFFER), MUX_HEADER_SIZE);
  const second = MUX_HEADER_SIZE + GO_READ_BUFFER;
  view.setUint32(second, connId);
  view.setUint32(second + 4, rest);
  out.set(message.subarray(GO_READ_BUFFER), second + MUX_HEADER_SIZE);
  return out;
}
