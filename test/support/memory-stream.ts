import type { ByteStream } from "../../src/socket/stream.ts";

/** A ByteStream that records what is written, for byte-exact wire tests. */
export class RecordingStream implements ByteStream {
  readonly writes: Uint8Array[] = [];
  closed = false;

  write(bytes: Uint8Array): void {
    this.writes.push(bytes.slice());
  }

  close(): void {
    this.closed = true;
  }

  /** Everything written so far, as one buffer. */
  bytes(): Uint8Array {
    return Buffer.concat(this.writes);
  }

  /** Waits until at least `n` bytes were written. */
  async waitFor(n: number, timeoutMs = 2000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.bytes().length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.bytes().length} of ${n} bytes`);
      await Bun.sleep(1);
    }
    return this.bytes();
  }
}

/** Bytes from a hex string with spaces and line breaks. */
export function hex(text: string): Uint8Array {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

/** A hex string of bytes, for readable failures. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** Encodes a string as hex bytes, for building expected frames. */
export function ascii(text: string): string {
  return Buffer.from(text, "latin1").toString("hex");
}

/** A mux frame holding one ttrpc message, built by hand from its parts. */
export function muxFrame(connId: number, streamId: number, type: number, body: Uint8Array) {
  const out = Buffer.alloc(18 + body.length);
  out.writeUInt32BE(connId, 0);
  out.writeUInt32BE(10 + body.length, 4);
  out.writeUInt32BE(body.length, 8);
  out.writeUInt32BE(streamId, 12);
  out.writeUInt8(type, 16);
  out.set(body, 18);
  return new Uint8Array(out);
}
