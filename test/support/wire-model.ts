// A reference model of what the plugin's decoders must do with any byte
// sequence (nri-protocol.md §1, ttrpc-protocol.md §1, §2, §5), written from the
// spec rather than from src/, so a fuzz test can tell right from wrong.
import { fromBinary } from "@bufbuild/protobuf";
import { ResponseSchema } from "../../src/gen/ttrpc/request_pb.ts";

/** Largest mux payload: a ttrpc header plus 4 MiB. */
export const MUX_LIMIT = 10 + 4 * 1024 * 1024;
/** Largest ttrpc message body. */
export const TTRPC_LIMIT = 4 * 1024 * 1024;

/** One whole ttrpc message as a decoder sees it (the body is not kept). */
export interface ModelMessage {
  conn: number;
  streamId: number;
  type: number;
  flags: number;
  length: number;
  /** Declared length over 4 MiB: the body is skipped, never stored. */
  oversized: boolean;
}

/** A zero buffer big enough for any one completion step; only views of it are handed out. */
const ZEROS = new Uint8Array(MUX_LIMIT + 16);

/** The header bytes used to finish a partial header: length 0, stream 0xffffffff, type 0. */
const NEUTRAL_HEADER = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0];

/** One direction of one ttrpc connection: a byte stream cut into messages. */
export class TtrpcStreamModel {
  private header: number[] = [];
  private bodyLeft = 0;
  private skipLeft = 0;
  private current: ModelMessage | undefined;

  constructor(
    readonly conn: number,
    private readonly emit: (message: ModelMessage) => void,
  ) {}

  clone(): TtrpcStreamModel {
    const copy = new TtrpcStreamModel(this.conn, () => {});
    copy.header = [...this.header];
    copy.bodyLeft = this.bodyLeft;
    copy.skipLeft = this.skipLeft;
    copy.current = this.current;
    return copy;
  }

  get atBoundary(): boolean {
    return this.header.length === 0 && this.bodyLeft === 0 && this.skipLeft === 0;
  }

  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, bytes.length - at);
        this.skipLeft -= n;
        at += n;
      } else if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, bytes.length - at);
        this.bodyLeft -= n;
        at += n;
        if (this.bodyLeft === 0) this.emit(this.current!);
      } else {
        this.header.push(bytes[at++]!);
        if (this.header.length === 10) this.headerDone();
      }
    }
  }

  /**
   * Up to `max` bytes that move this stream towards a message boundary
   * without starting anything the peer would answer: zeros for a body or a
   * skip, the neutral header for a partial header, and at a boundary a
   * neutral message (type 0, which both ends ignore) that fills `max`.
   */
  completion(max: number): Uint8Array {
    if (this.skipLeft > 0) return ZEROS.subarray(0, Math.min(max, this.skipLeft));
    if (this.bodyLeft > 0) return ZEROS.subarray(0, Math.min(max, this.bodyLeft));
    if (this.header.length > 0) {
      return new Uint8Array(NEUTRAL_HEADER.slice(this.header.length, this.header.length + max));
    }
    const header = new Uint8Array(NEUTRAL_HEADER);
    if (max >= 10) new DataView(header.buffer).setUint32(0, max - 10);
    const out = new Uint8Array(max);
    out.set(header.subarray(0, Math.min(10, max)));
    return out;
  }

  private headerDone(): void {
    const h = this.header;
    this.header = [];
    const length = ((h[0]! << 24) >>> 0) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
    const streamId = ((h[4]! << 24) >>> 0) + (h[5]! << 16) + (h[6]! << 8) + h[7]!;
    const message = { conn: this.conn, streamId, type: h[8]!, flags: h[9]!, length,
      oversized: length > TTRPC_LIMIT };
    if (message.oversized) {
      this.skipLeft = length;
      this.emit(message);
    } else if (length === 0) {
      this.emit(message);
    } else {
      this.current = message;
      this.bodyLeft = length;
    }
  }
}

/** A reply the plugin's server owes (or may send) for what it was sent on conn 1. */
export interface ExpectedReply {
  streamId: number;
  /** The status code, or "any" for a dispatched request. */
  code: number | "any";
  /** May be left out (a data frame while the call may still be running). */
  optional: boolean;
  /** Only sent if the handler finished before the socket closed. */
  async: boolean;
  why: string;
}

/**
 * The whole receiving side: the mux, the ttrpc server on conn 1 (the rules
 * of ttrpc-protocol.md §2 and §5) and the client on conn 2.
 */
export class WireModel {
  closed: string | undefined;
  readonly messages: ModelMessage[] = [];
  readonly expected: ExpectedReply[] = [];
  /** Highest request stream id the server accepted on conn 1. */
  lastStreamId = 0;
  /** Client calls waiting on conn 2, by stream id, and whether a message reached them. */
  readonly clientCalls = new Map<number, "pending" | "settled">();
  readonly streams: Record<1 | 2, TtrpcStreamModel>;
  private header: number[] = [];
  private frameConn = 0;
  private frameLeft = 0;
  private framePayload: Uint8Array[] = [];

  constructor() {
    this.streams = {
      1: new TtrpcStreamModel(1, (message) => this.onMessage(message)),
      2: new TtrpcStreamModel(2, (message) => this.onMessage(message)),
    };
  }

  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && !this.closed) {
      if (this.frameLeft > 0) {
        const n = Math.min(this.frameLeft, bytes.length - at);
        this.framePayload.push(bytes.subarray(at, at + n));
        this.frameLeft -= n;
        at += n;
        if (this.frameLeft === 0) this.frameDone();
        continue;
      }
      this.header.push(bytes[at++]!);
      if (this.header.length < 8) continue;
      const h = this.header;
      this.header = [];
      this.frameConn = ((h[0]! << 24) >>> 0) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
      const length = ((h[4]! << 24) >>> 0) + (h[5]! << 16) + (h[6]! << 8) + h[7]!;
      if (length > MUX_LIMIT) {
        this.closed = `mux frame for conn ${this.frameConn} declares ${length} bytes`;
        return;
      }
      this.frameLeft = length;
    }
  }

  /** True when the mux and both ttrpc streams sit at a message boundary. */
  get atBoundary(): boolean {
    return this.header.length === 0 && this.frameLeft === 0 &&
      this.streams[1].atBoundary && this.streams[2].atBoundary;
  }

  /**
   * The next bytes that bring the wire back to a boundary, so that a fresh
   * request can be told apart from leftovers; undefined once there (or closed).
   */
  resyncStep(): Uint8Array[] | undefined {
    if (this.closed || this.atBoundary) return undefined;
    if (this.header.length > 0) {
      // Finish the header: an id no one opened (low byte 0xff), length 0.
      return [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0].slice(this.header.length))];
    }
    if (this.frameLeft > 0) {
      const conn = this.frameConn;
      if (conn !== 1 && conn !== 2) return [ZEROS.subarray(0, this.frameLeft)];
      // What the stream will need once the buffered part of the frame arrives.
      const ahead = this.streams[conn].clone();
      for (const part of this.framePayload) ahead.push(part);
      return [ahead.completion(this.frameLeft)];
    }
    const conn = this.streams[1].atBoundary ? 2 : 1;
    const payload = this.streams[conn].completion(MUX_LIMIT);
    return [muxHeader(conn, payload.length), payload];
  }

  private frameDone(): void {
    const conn = this.frameConn;
    const parts = this.framePayload;
    this.framePayload = [];
    if (conn === 1 || conn === 2) for (const part of parts) this.streams[conn].push(part);
  }

  private onMessage(message: ModelMessage): void {
    this.messages.push(message);
    if (message.conn === 2) {
      if (this.clientCalls.get(message.streamId) === "pending") {
        this.clientCalls.set(message.streamId, "settled");
      }
      return;
    }
    const { streamId, type } = message;
    const reply = (code: number | "any", why: string, optional = false, async = false) =>
      this.expected.push({ streamId, code, optional, async, why });
    if (message.oversized) reply(8, "oversized message");
    else if (streamId % 2 === 0) reply(3, "even stream id");
    else if (type === 1 && streamId <= this.lastStreamId) reply(3, "stream id re-used");
    else if (type === 1) {
      this.lastStreamId = streamId;
      reply("any", "request", false, true);
    } else if (type === 3) reply(3, "data frame", true);
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A ttrpc message in one mux frame. */
export function frame(conn: number, streamId: number, type: number, body: Uint8Array,
  flags = 0): Uint8Array {
  const out = new Uint8Array(18 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, conn);
  view.setUint32(4, 10 + body.length);
  view.setUint32(8, body.length);
  view.setUint32(12, streamId);
  view.setUint8(16, type);
  view.setUint8(17, flags);
  out.set(body, 18);
  return out;
}

/** Just a mux header. */
export function muxHeader(conn: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, conn);
  view.setUint32(4, length);
  return out;
}

/** Just a ttrpc header. */
export function ttrpcHeader(length: number, streamId: number, type: number, flags = 0) {
  const out = new Uint8Array(10);
  const view = new DataView(out.buffer);
  view.setUint32(0, length);
  view.setUint32(4, streamId);
  view.setUint8(8, type);
  view.setUint8(9, flags);
  return out;
}

/** One decoded response the plugin wrote. */
export interface WrittenResponse {
  streamId: number;
  code: number;
  message: string;
  payload: Uint8Array;
}

/**
 * Checks one write of the plugin against the mux rules for writing to a Go
 * peer (nri-protocol.md §1.1: one message, first frame ≤ 4096 bytes, at most
 * two frames, none crossing into the next message) and the ttrpc rules for a
 * message (≤ 4 MiB). Returns the connection and the message, or throws.
 */
export function parseWrite(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const payloads: Uint8Array[] = [];
  let conn = -1;
  for (let at = 0; at < bytes.length;) {
    if (bytes.length - at < 8) throw new Error(`write ends inside a mux header`);
    const id = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (conn !== -1 && id !== conn) throw new Error(`one write spans conns ${conn} and ${id}`);
    if (payloads.length === 0 && length > 4096) {
      throw new Error(`first frame of a message is ${length} bytes (> 4096)`);
    }
    if (at + 8 + length > bytes.length) throw new Error("write ends inside a mux frame");
    conn = id;
    payloads.push(bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  if (payloads.length === 0 || payloads.length > 2) {
    throw new Error(`a message written as ${payloads.length} frames`);
  }
  const message = concat(payloads);
  const mview = new DataView(message.buffer, message.byteOffset, message.length);
  if (message.length < 10) throw new Error("a message shorter than its header");
  const length = mview.getUint32(0);
  if (length !== message.length - 10) {
    throw new Error(`ttrpc length ${length} but ${message.length - 10} bytes follow`);
  }
  if (length > TTRPC_LIMIT) throw new Error(`a ${length}-byte message (> 4 MiB)`);
  return {
    conn,
    streamId: mview.getUint32(4),
    type: mview.getUint8(8),
    flags: mview.getUint8(9),
    body: message.subarray(10),
  };
}

/** Decodes a conn-1 write as a ttrpc Response, checking its header. */
export function parseResponse(bytes: Uint8Array): WrittenResponse {
  const message = parseWrite(bytes);
  if (message.conn !== 1) throw new Error(`a response on conn ${message.conn}`);
  if (message.type !== 2 || message.flags !== 0) {
    throw new Error(`a response with type ${message.type} flags ${message.flags}`);
  }
  const response = fromBinary(ResponseSchema, message.body);
  return {
    streamId: message.streamId,
    code: response.status?.code ?? 0,
    message: response.status?.message ?? "",
    payload: response.payload,
  };
}
