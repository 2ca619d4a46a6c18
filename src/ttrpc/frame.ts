import { ByteQueue } from "../socket/byte-queue.ts";

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
 * Reassembles ttrpc messages from a connection's byte stream. A declared
 * length over the limit is never allocated: its bytes are skipped as they
 * arrive and the message is reported as oversized, so the connection can go
 * on (as Go does, answering RESOURCE_EXHAUSTED on that stream).
 */
export class MessageReader {
  private readonly queue = new ByteQueue();
  private skipping = 0;

  constructor(
    private readonly onMessage: (message: TtrpcMessage) => void,
    private readonly onOversized: (message: OversizedMessage) => void,
  ) {}

  push(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.skipping -= this.queue.skip(this.skipping);
    while (this.skipping === 0 && this.queue.length >= TTRPC_HEADER_SIZE) {
      const length = this.queue.peekUint32(0);
      if (length > TTRPC_MAX_DATA) {
        this.beginSkip(length);
        continue;
      }
      if (this.queue.length < TTRPC_HEADER_SIZE + length) return;
      const header = this.queue.read(TTRPC_HEADER_SIZE);
      this.onMessage({ ...parseHeader(header), data: this.queue.read(length) });
    }
  }

  private beginSkip(length: number): void {
    const { streamId, type } = parseHeader(this.queue.read(TTRPC_HEADER_SIZE));
    this.skipping = length - this.queue.skip(length);
    this.onOversized({ streamId, type, length });
  }
}

function parseHeader(header: Uint8Array) {
  const view = new DataView(header.buffer, header.byteOffset, TTRPC_HEADER_SIZE);
  return { streamId: view.getUint32(4), type: view.getUint8(8), flags: view.getUint8(9) };
}
