/**
 * The ttrpc message header, 10 bytes, big-endian:
 *   bytes 0-3  data length (u32, bytes after the header)
 *   bytes 4-7  stream id (u32; odd for client-started streams)
 *   byte  8    message type
 *   byte  9    flags (0 on unary requests and on responses)
 */
export const TTRPC_HEADER_SIZE = 10;

/** Largest message body either side accepts (the check is "length > 4 MiB"). */
export const TTRPC_MAX_DATA = 4 * 1024 * 1024;

export const MessageType = { Request: 1, Response: 2, Data: 3 } as const;

export interface TtrpcMessage {
  streamId: number;
  type: number;
  flags: number;
  data: Uint8Array;
}

/** A message whose declared length was over the limit; its bytes were skipped. */
export interface OversizedMessage {
  streamId: number;
  type: number;
  length: number;
}

export function encodeTtrpcMessage(
  streamId: number,
  type: number,
  data: Uint8Array,
  flags = 0,
): Uint8Array {
  const out = new Uint8Array(TTRPC_HEADER_SIZE + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  view.setUint32(4, streamId);
  view.setUint8(8, type);
  view.setUint8(9, flags);
  out.set(data, TTRPC_HEADER_SIZE);
  return out;
}

/**
 * Reassembles ttrpc messages from a connection's byte stream. Once a header
 * is read, the body is copied into one buffer of exactly the declared length,
 * so a message costs its own size however finely the peer splits it. A
 * declared length over the limit is never allocated: its bytes are skipped as
 * they arrive and the message is reported as oversized, so the connection can
 * go on (as Go does, answering RESOURCE_EXHAUSTED on that stream).
 */
export class MessageReader {
  private readonly header = new Uint8Array(TTRPC_HEADER_SIZE);
  private headerFilled = 0;
  private body: { message: TtrpcMessage; filled: number } | undefined;
  private skipping = 0;

  constructor(
    private readonly onMessage: (message: TtrpcMessage) => void,
    private readonly onOversized: (message: OversizedMessage) => void,
  ) {}

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const rest = chunk.subarray(at);
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, rest.length);
        this.skipping -= n;
        at += n;
      } else if (this.body) {
        at += this.fillBody(this.body, rest);
      } else {
        at += this.fillHeader(rest);
      }
    }
  }

  private fillHeader(bytes: Uint8Array): number {
    const n = Math.min(TTRPC_HEADER_SIZE - this.headerFilled, bytes.length);
    this.header.set(bytes.subarray(0, n), this.headerFilled);
    this.headerFilled += n;
    if (this.headerFilled === TTRPC_HEADER_SIZE) this.startBody();
    return n;
  }

  private startBody(): void {
    this.headerFilled = 0;
    const { length, ...header } = parseHeader(this.header);
    if (length > TTRPC_MAX_DATA) {
      this.skipping = length;
      this.onOversized({ streamId: header.streamId, type: header.type, length });
      return;
    }
    const message = { ...header, data: new Uint8Array(length) };
    if (length === 0) this.onMessage(message);
    else this.body = { message, filled: 0 };
  }

  private fillBody(body: { message: TtrpcMessage; filled: number }, bytes: Uint8Array): number {
    const n = Math.min(body.message.data.length - body.filled, bytes.length);
    body.message.data.set(bytes.subarray(0, n), body.filled);
    body.filled += n;
    if (body.filled === body.message.data.length) {
      this.body = undefined;
      this.onMessage(body.message);
    }
    return n;
  }
}

function parseHeader(header: Uint8Array) {
  const view = new DataView(header.buffer, header.byteOffset, TTRPC_HEADER_SIZE);
  return {
    length: view.getUint32(0),
    streamId: view.getUint32(4),
    type: view.getUint8(8),
    flags: view.getUint8(9),
  };
}
