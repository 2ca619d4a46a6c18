// Multiplexer rules from nri-protocol.md §1 and ttrpc-protocol.md §8.
import { describe, expect, test } from "bun:test";
import {
  encodeMessageFrames,
  GO_READ_BUFFER,
  MUX_MAX_PAYLOAD,
} from "../../src/mux/frame.ts";
import { Mux } from "../../src/mux/mux.ts";
import { hex, RecordingStream } from "../support/memory-stream.ts";

/** Splits a buffer of mux frames into [connId, payload length] pairs. */
function frames(bytes: Uint8Array): [number, number][] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: [number, number][] = [];
  for (let at = 0; at < bytes.length;) {
    const length = view.getUint32(at + 4);
    out.push([view.getUint32(at), length]);
    at += 8 + length;
  }
  return out;
}

function collect(mux: Mux, connId: number): Uint8Array[] {
  const got: Uint8Array[] = [];
  mux.open(connId).onData = (chunk) => got.push(chunk.slice());
  return got;
}

describe("writing to a Go peer", () => {
  test("a message of up to 4096 bytes goes in one frame", () => {
    expect(frames(encodeMessageFrames(1, new Uint8Array(GO_READ_BUFFER)))).toEqual([
      [1, GO_READ_BUFFER],
    ]);
  });

  test("a larger message goes as the first 4096 bytes, then the rest in one frame", () => {
    const message = new Uint8Array(6024).map((_, i) => i % 251);
    const out = encodeMessageFrames(2, message);
    expect(frames(out)).toEqual([[2, 4096], [2, 1928]]);
    expect(Buffer.concat([out.subarray(8, 8 + 4096), out.subarray(8 + 4096 + 8)]))
      .toEqual(Buffer.from(message));
  });

  test("a 4 MiB message still takes exactly two frames (the peer queues only 256)", () => {
    const out = encodeMessageFrames(1, new Uint8Array(4 * 1024 * 1024 + 10));
    expect(frames(out).length).toBe(2);
  });

  test("each message is framed on its own, never packed with the next", () => {
    const stream = new RecordingStream();
    const mux = new Mux(stream);
    const channel = mux.open(1);
    channel.send(new Uint8Array(10));
    channel.send(new Uint8Array(5000));
    expect(frames(stream.bytes())).toEqual([[1, 10], [1, 4096], [1, 904]]);
  });
});

describe("reading from the runtime", () => {
  test("frames are reassembled per connection as a byte stream", () => {
    const mux = new Mux(new RecordingStream());
    const one = collect(mux, 1);
    const two = collect(mux, 2);
    const wire = hex("00000001 00000002 aabb 00000002 00000001 cc 00000001 00000001 dd");
    for (const byte of wire) mux.data(new Uint8Array([byte])); // one byte at a time
    expect(Buffer.concat(one)).toEqual(Buffer.from(hex("aabbdd")));
    expect(Buffer.concat(two)).toEqual(Buffer.from(hex("cc")));
  });

  test("frames for a connection nobody opened are dropped silently", () => {
    const stream = new RecordingStream();
    const mux = new Mux(stream);
    const one = collect(mux, 1);
    mux.data(hex("00000007 00000003 010203 00000001 00000001 ff"));
    expect(Buffer.concat(one)).toEqual(Buffer.from(hex("ff")));
    expect(stream.closed).toBe(false);
  });

  test("zero-length frames carry nothing and are ignored", () => {
    const mux = new Mux(new RecordingStream());
    const one = collect(mux, 1);
    mux.data(hex("00000001 00000000 00000001 00000001 42"));
    expect(one.map((chunk) => chunk.length)).toEqual([1]);
  });

  test("a declared length over the limit closes the socket before allocating it", async () => {
    const stream = new RecordingStream();
    const mux = new Mux(stream);
    collect(mux, 1);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(MUX_MAX_PAYLOAD + 1, 4);
    mux.data(header);
    expect(stream.closed).toBe(true);
    const error = await mux.done;
    expect(error?.message).toContain(`declares ${MUX_MAX_PAYLOAD + 1} bytes`);
  });

  test("a closed socket is reported to every channel once", () => {
    const mux = new Mux(new RecordingStream());
    const seen: string[] = [];
    mux.open(1).onClose = () => seen.push("one");
    mux.open(2).onClose = () => seen.push("two");
    mux.closed();
    mux.closed();
    expect(seen).toEqual(["one", "two"]);
  });
});
