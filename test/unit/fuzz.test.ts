// Hostile bytes on the NRI socket, in process: random byte soup, mutated
// frames and the named edge cases of nri-protocol.md §1 and ttrpc-protocol.md
// §1, §2, §5, fed in random chunks to a Mux with the Plugin service's ttrpc
// server on conn 1 and a ttrpc client on conn 2. Every case is checked against
// the reference model in test/support/wire-model.ts.
//
// The seed is random unless FUZZ_SEED is set; it is in the test name and in
// every failure. Replay with FUZZ_SEED=<seed> (and FUZZ_CASE=<n> for one case).
// FUZZ_BUDGET_MS and FUZZ_CASES bound the random part (2.5 s, 5000 cases).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  Plugin,
  RegisterPluginRequestSchema,
  SynchronizeResponseSchema,
} from "../../src/gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { RequestSchema, ResponseSchema } from "../../src/gen/ttrpc/request_pb.ts";
import { Logger } from "../../src/log/logger.ts";
import { Mux, MuxProtocolError } from "../../src/mux/mux.ts";
import type { PluginHandler } from "../../src/nri/handler.ts";
import { PluginService } from "../../src/nri/plugin-service.ts";
import { ByteQueue } from "../../src/socket/byte-queue.ts";
import { TtrpcClient } from "../../src/ttrpc/client.ts";
import { TtrpcServer } from "../../src/ttrpc/server.ts";
import { RecordingStream, toHex } from "../support/memory-stream.ts";
import {
  concat,
  frame,
  MUX_LIMIT,
  muxHeader,
  parseResponse,
  parseWrite,
  TTRPC_LIMIT,
  ttrpcHeader,
  WireModel,
  type WrittenResponse,
} from "../support/wire-model.ts";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0
  : (Math.random() * 2 ** 32) >>> 0;
const ONLY_CASE = process.env.FUZZ_CASE ? Number(process.env.FUZZ_CASE) : undefined;
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 2500);
const MAX_CASES = Number(process.env.FUZZ_CASES ?? 5000);
/** Run at least this many even on a slow machine. */
const MIN_CASES = Math.min(20, MAX_CASES);

const PLUGIN = "nri.pkg.api.v1alpha1.Plugin";
const RUNTIME = "nri.pkg.api.v1alpha1.Runtime";
const REQUEST = 1;
const RESPONSE = 2;
const DATA = 3;
const INT64_MAX = 0x7fffffffffffffffn;

// ---------------------------------------------------------------- randomness

/** A small seeded generator (mulberry32); the same seed gives the same cases. */
class Rng {
  constructor(private state: number) {}

  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

function caseSeed(index: number): number {
  return new Rng((SEED ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0).u32();
}

// ------------------------------------------------------ what is on the wire

/** Bytes plus where their fields are, so mutations can aim at them. */
interface Wire {
  bytes: Uint8Array;
  muxLengths: number[];
  ttrpcLengths: number[];
  streamIds: number[];
  types: number[];
  /** Start of each mux frame. */
  frames: number[];
}

class WireBuilder {
  private parts: Uint8Array[] = [];
  private size = 0;
  readonly wire: Omit<Wire, "bytes"> = {
    muxLengths: [], ttrpcLengths: [], streamIds: [], types: [], frames: [],
  };

  /** A mux frame with raw payload. */
  raw(conn: number, payload: Uint8Array): this {
    this.wire.frames.push(this.size);
    this.wire.muxLengths.push(this.size + 4);
    return this.add(concat([muxHeader(conn, payload.length), payload]));
  }

  /** A ttrpc message on `conn`, cut into `pieces` mux frames at random places. */
  message(rng: Rng, conn: number, streamId: number, type: number, body: Uint8Array,
    pieces = 1, flags = 0): this {
    const message = concat([ttrpcHeader(body.length, streamId, type, flags), body]);
    const cuts = new Set<number>();
    for (let i = 1; i < pieces; i++) cuts.add(rng.range(1, message.length - 1));
    let start = 0;
    for (const cut of [...[...cuts].sort((a, b) => a - b), message.length]) {
      if (start === 0) {
        const headerAt = this.size + 8;
        this.wire.ttrpcLengths.push(headerAt);
        this.wire.streamIds.push(headerAt + 4);
        this.wire.types.push(headerAt + 8);
      }
      this.raw(conn, message.subarray(start, cut));
      start = cut;
    }
    return this;
  }

  add(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.size += bytes.length;
    return this;
  }

  build(): Wire {
    return { bytes: concat(this.parts), ...this.wire };
  }
}

function requestBody(method: string, payload: Uint8Array, timeoutNano = 0n): Uint8Array {
  return toBinary(RequestSchema, create(RequestSchema, {
    service: PLUGIN, method, payload, timeoutNano,
  }));
}

/** A well-formed request for a random Plugin method with a random (valid) input. */
function randomRequest(rng: Rng): Uint8Array {
  const method = rng.pick(Plugin.methods);
  const input = create(method.input);
  const fields = input as unknown as Record<string, unknown>;
  if ("config" in fields) fields.config = rng.pick(["", "log_level = \"debug\"\n", "%%%"]);
  if ("more" in fields) fields.more = rng.chance(0.5);
  if ("pod" in fields) {
    fields.pod = { id: "p", name: "fuzz", namespace: "default",
      annotations: rng.chance(0.3) ? { "containerd.io/nydus-prefetch": "[]" } : {} };
  }
  const timeout = rng.pick([0n, 2_000_000_000n, -1n, BigInt(rng.u32()) * 1000n, INT64_MAX,
    -(2n ** 63n)]);
  return requestBody(method.name, toBinary(method.input, input), timeout);
}

/** A plausible conversation: requests, responses, data frames, noise frames. */
function validWire(rng: Rng): Wire {
  const builder = new WireBuilder();
  let stream = rng.pick([1, 1, 3, 101, 0x7fff_fff1]);
  for (let i = rng.range(1, 6); i > 0; i--) {
    const pieces = rng.pick([1, 1, 2, 3]);
    switch (rng.int(7)) {
      case 0:
      case 1:
      case 2:
        builder.message(rng, 1, stream, REQUEST, randomRequest(rng), pieces);
        stream += 2 * rng.range(1, 3);
        break;
      case 3: {
        const body = toBinary(ResponseSchema, create(ResponseSchema, rng.chance(0.5)
          ? { payload: rng.bytes(rng.int(8)) }
          : { status: { code: rng.range(1, 16), message: "no" } }));
        builder.message(rng, 2, rng.pick([1, 3, 5, 7]), RESPONSE, body, pieces);
        break;
      }
      case 4:
        builder.message(rng, rng.pick([1, 2]), rng.pick([stream - 2, stream, 9]), DATA,
          rng.bytes(rng.int(6)), pieces, rng.pick([0, 1, 5]));
        break;
      case 5:
        builder.raw(rng.pick([0, 1, 2, 3, 0xffffffff]), new Uint8Array(0));
        break;
      default:
        builder.raw(rng.pick([0, 3, 7, 0xffffffff]), rng.bytes(rng.int(40)));
    }
  }
  return builder.build();
}

/** ttrpc-level byte soup in valid mux frames. */
function soupInFrames(rng: Rng): Wire {
  const builder = new WireBuilder();
  for (let i = rng.range(1, 5); i > 0; i--) {
    const soup = rng.bytes(rng.int(64));
    // A header-sized prefix with a small length, so the soup is not all skipping.
    if (soup.length >= 4 && rng.chance(0.6)) soup.set([0, 0, 0, rng.int(60)], 0);
    builder.raw(rng.pick([1, 1, 2, 4]), soup);
  }
  return builder.build();
}

const LENGTHS = [0, 1, 7, 8, 9, 10, 11, 4095, 4096, 4097, TTRPC_LIMIT - 1, TTRPC_LIMIT,
  TTRPC_LIMIT + 1, MUX_LIMIT - 1, MUX_LIMIT, MUX_LIMIT + 1, 0x7fffffff, 0x80000000,
  0xfffffffe, 0xffffffff];

function setU32(bytes: Uint8Array, at: number, value: number): void {
  if (at + 4 <= bytes.length) new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value);
}

/** One to four mutations of a valid conversation. */
function mutated(rng: Rng): { wire: Uint8Array; how: string[] } {
  const base = validWire(rng);
  let bytes: Uint8Array = base.bytes.slice();
  const how: string[] = [];
  for (let n = rng.range(1, 4); n > 0; n--) {
    const at = rng.int(Math.max(bytes.length, 1));
    switch (rng.int(11)) {
      case 0:
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << rng.int(8));
        how.push(`flip bit at ${at}`);
        break;
      case 1: {
        const field = rng.pick(base.muxLengths);
        const value = rng.chance(0.7) ? rng.pick(LENGTHS) : rng.u32();
        setU32(bytes, field, value);
        how.push(`mux length at ${field} = ${value}`);
        break;
      }
      case 2: {
        if (base.ttrpcLengths.length === 0) break;
        const field = rng.pick(base.ttrpcLengths);
        const value = rng.chance(0.7) ? rng.pick(LENGTHS) : rng.u32();
        setU32(bytes, field, value);
        how.push(`ttrpc length at ${field} = ${value}`);
        break;
      }
      case 3: {
        if (base.streamIds.length === 0) break;
        const field = rng.pick(base.streamIds);
        const value = rng.pick([0, 1, 2, 3, 4, 0xfffffffe, 0xffffffff, rng.u32()]);
        setU32(bytes, field, value);
        how.push(`stream id at ${field} = ${value}`);
        break;
      }
      case 4: {
        if (base.types.length === 0) break;
        const field = rng.pick(base.types);
        const value = rng.pick([0, 1, 2, 3, 4, 0x7f, 0xff]);
        if (field < bytes.length) bytes[field] = value;
        how.push(`type at ${field} = ${value}`);
        break;
      }
      case 5:
        bytes = bytes.slice(0, at);
        how.push(`truncate at ${at}`);
        break;
      case 6: {
        const start = rng.pick(base.frames);
        const end = Math.min(bytes.length, start + rng.range(1, 200));
        bytes = concat([bytes.subarray(0, end), bytes.subarray(start, end), bytes.subarray(end)]);
        how.push(`duplicate ${start}..${end}`);
        break;
      }
      case 7: {
        const end = Math.min(bytes.length, at + rng.range(1, 32));
        bytes = concat([bytes.subarray(0, at), bytes.subarray(end)]);
        how.push(`delete ${at}..${end}`);
        break;
      }
      case 8: {
        const other = validWire(rng).bytes;
        const cut = rng.int(other.length + 1);
        bytes = concat([bytes.subarray(0, at), other.subarray(cut)]);
        how.push(`splice at ${at} with another from ${cut}`);
        break;
      }
      case 9: {
        const noise = rng.bytes(rng.range(1, 16));
        bytes = concat([bytes.subarray(0, at), noise, bytes.subarray(at)]);
        how.push(`insert ${noise.length} random bytes at ${at}`);
        break;
      }
      default: {
        const frameAt = rng.pick(base.frames);
        setU32(bytes, frameAt, rng.pick([0, 1, 2, 3, 0xffffffff]));
        how.push(`conn id at ${frameAt} changed`);
      }
    }
  }
  return { wire: bytes, how };
}

// ----------------------------------------------------------------- harness

/** Every ByteQueue the decoders create, so their size can be checked. */
const queues = new Set<ByteQueue>();
const originalPush = ByteQueue.prototype.push;
/** A queue may hold at most one unfinished mux frame (header + 4 MiB + 10). */
const QUEUE_BOUND = 8 + MUX_LIMIT;

const escaped: unknown[] = [];
const onUnhandled = (error: unknown) => void escaped.push(error);

beforeAll(() => {
  ByteQueue.prototype.push = function (this: ByteQueue, chunk: Uint8Array) {
    queues.add(this);
    originalPush.call(this, chunk);
  };
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);
});

afterAll(() => {
  ByteQueue.prototype.push = originalPush;
  process.off("unhandledRejection", onUnhandled);
  process.off("uncaughtException", onUnhandled);
});

const handler: PluginHandler = {
  configure: () => {},
  runPodSandbox: async () => {},
};

/** One Mux as the plugin sets it up, plus the model of what it must do. */
class Harness {
  readonly stream = new RecordingStream();
  readonly mux = new Mux(this.stream);
  readonly model = new WireModel();
  readonly lines: string[] = [];
  readonly client: TtrpcClient;
  readonly problems: string[] = [];
  readonly calls = new Map<number, { state: "pending" | "resolved" | "rejected";
    value?: unknown }>();
  done: { error: Error | undefined } | undefined;
  eof = false;

  constructor() {
    queues.clear();
    const log = Logger.create([{ write: (line) => void this.lines.push(line) }], "debug");
    const server = new TtrpcServer(this.mux.open(1), log);
    server.register(Plugin, new PluginService(handler, log).impl());
    this.client = new TtrpcClient(this.mux.open(2));
    void this.mux.done.then((error) => (this.done = { error }));
  }

  /** Hands bytes to the mux as a socket would, and to the model. */
  feed(bytes: Uint8Array): void {
    this.model.push(bytes);
    try {
      this.mux.data(bytes);
    } catch (error) {
      this.problems.push(`mux.data threw: ${(error as Error).stack ?? error}`);
    }
    if (this.model.closed) return;
    for (const queue of queues) {
      if (queue.length >= QUEUE_BOUND) {
        this.problems.push(`a decoder holds ${queue.length} bytes (bound ${QUEUE_BOUND})`);
      }
    }
  }

  /** Feeds bytes in random fresh chunks, sometimes letting handlers run in between. */
  async feedChunked(rng: Rng, bytes: Uint8Array): Promise<void> {
    const mode = rng.int(4);
    // Big inputs go in at most ~500 chunks, to keep a case within milliseconds.
    const least = Math.ceil(bytes.length / 500);
    for (let at = 0; at < bytes.length;) {
      const size = Math.max(least, mode === 0 ? 1 : mode === 1 ? rng.range(1, 16) : mode === 2
        ? rng.range(1, 600) : bytes.length);
      this.feed(bytes.slice(at, at + size));
      at += size;
      if (rng.chance(0.05)) await Bun.sleep(0);
    }
  }

  /** Starts a client call on conn 2 and tells the model its stream id. */
  startCall(): number {
    const before = this.stream.writes.length;
    const payload = toBinary(RegisterPluginRequestSchema, create(RegisterPluginRequestSchema,
      { pluginName: "fuzz", pluginIdx: "01" }));
    const call = this.client.call(RUNTIME, "RegisterPlugin", payload, undefined);
    const write = this.stream.writes[before];
    if (!write) throw new Error("the client wrote nothing");
    const request = parseWrite(write);
    const record: { state: "pending" | "resolved" | "rejected"; value?: unknown } =
      { state: "pending" };
    this.calls.set(request.streamId, record);
    this.model.clientCalls.set(request.streamId, "pending");
    call.then((value) => Object.assign(record, { state: "resolved", value }),
      (value) => Object.assign(record, { state: "rejected", value }));
    return request.streamId;
  }

  /** Brings the wire back to a message boundary (see WireModel.resyncStep). */
  resync(): void {
    for (let i = 0; i < 5000; i++) {
      const step = this.model.resyncStep();
      if (!step) return;
      for (const part of step) this.feed(part);
    }
    this.problems.push("the wire did not come back to a boundary in 5000 steps");
  }

  /** Responses the server wrote on conn 1; malformed writes are problems. */
  responses(from = 0): WrittenResponse[] {
    const out: WrittenResponse[] = [];
    for (const write of this.stream.writes.slice(from)) {
      try {
        const message = parseWrite(write);
        if (message.conn === 1) out.push(parseResponse(write));
        else if (message.conn !== 2 || message.type !== REQUEST || message.streamId % 2 === 0) {
          this.problems.push(`a bad write: ${toHex(write.subarray(0, 32))}`);
        }
      } catch (error) {
        this.problems.push(`a malformed write (${(error as Error).message})`);
      }
    }
    return out;
  }

  /** Compares what was written, closed and settled with the model. */
  check(): void {
    const { model } = this;
    const closed = this.done !== undefined;
    if (this.eof && !model.closed) {
      if (!closed || (this.done?.error && !/closed inside a frame/.test(this.done.error.message))) {
        this.problems.push("EOF did not end the mux cleanly");
      }
    } else if (model.closed && !closed) {
      this.problems.push(`the mux is still open, but ${model.closed}`);
    } else if (!model.closed && closed) {
      this.problems.push(`the mux closed itself: ${this.done?.error?.message}`);
    } else if (closed) {
      if (!(this.done?.error instanceof MuxProtocolError)) {
        this.problems.push(`closed with ${this.done?.error} rather than a MuxProtocolError`);
      }
      if (!this.stream.closed) this.problems.push("the mux closed but not the socket");
    }
    this.matchReplies(closed);
    for (const [id, call] of this.calls) {
      const reached = model.clientCalls.get(id) === "settled";
      if (reached && call.state === "pending") {
        this.problems.push(`client call ${id} was answered but never settled`);
      } else if (!reached && !closed && call.state !== "pending") {
        this.problems.push(`client call ${id} settled with nothing sent to it`);
      } else if (!reached && closed && call.state !== "rejected") {
        this.problems.push(`client call ${id} did not fail when the socket closed`);
      }
      if (call.state === "rejected" && !(call.value instanceof ConnectError)) {
        this.problems.push(`client call ${id} rejected with a non-ConnectError: ${call.value}`);
      }
    }
  }

  /**
   * Per stream id: every reply must fit a slot the model expects, and every
   * slot that must be answered is. Slots with a fixed code take only that
   * code; a dispatched request ("any") takes any code.
   */
  private matchReplies(closed: boolean): void {
    const ids = new Set<number>();
    const replies = new Map<number, Map<number, number>>();
    for (const reply of this.responses()) {
      ids.add(reply.streamId);
      const byCode = replies.get(reply.streamId) ?? new Map<number, number>();
      byCode.set(reply.code, (byCode.get(reply.code) ?? 0) + 1);
      replies.set(reply.streamId, byCode);
    }
    for (const slot of this.model.expected) ids.add(slot.streamId);
    for (const id of ids) {
      const slots = this.model.expected.filter((s) => s.streamId === id);
      const got = replies.get(id) ?? new Map<number, number>();
      const must = (s: (typeof slots)[number]) => !s.optional && !(closed && s.async);
      const anyTotal = slots.filter((s) => s.code === "any").length;
      const anyNeeded = slots.filter((s) => s.code === "any" && must(s)).length;
      let spare = 0; // replies beyond the fixed-code slots that must be answered
      let overflow = 0; // replies that fit no fixed-code slot at all
      const codes = new Set<number>([...got.keys()]);
      for (const s of slots) if (s.code !== "any") codes.add(s.code);
      for (const code of codes) {
        const n = got.get(code) ?? 0;
        const fixed = slots.filter((s) => s.code === code);
        const needed = fixed.filter(must).length;
        if (n < needed) {
          const why = fixed.filter(must).map((s) => s.why).join(", ");
          this.problems.push(`stream ${id}: ${n} replies with code ${code}, ${needed} owed (${why})`);
        }
        spare += Math.max(0, n - needed);
        overflow += Math.max(0, n - fixed.length);
      }
      if (overflow > anyTotal) {
        this.problems.push(`stream ${id}: unexpected replies ${JSON.stringify([...got])}`);
      }
      if (spare < anyNeeded) this.problems.push(`stream ${id}: a request was never answered`);
    }
  }

  /** After a fault that left the mux open: a fresh request on each side still works. */
  async proveServing(rng: Rng): Promise<void> {
    this.resync();
    await settle();
    if (this.model.closed) return; // finishing a header declared too much: closed, checked
    const id = this.model.lastStreamId + (this.model.lastStreamId % 2 === 0 ? 1 : 2);
    if (id <= 0xffffffff) {
      const more = rng.chance(0.5);
      const from = this.stream.writes.length;
      // A request of some size, cut into frames and reads at random: a corrupted
      // byte anywhere would fail its decoding.
      const pods = Array.from({ length: rng.int(40) }, (_, i) => ({ id: `pod-${i}`,
        name: "x".repeat(rng.int(300)), namespace: "default" }));
      const body = requestBody("Synchronize", toBinary(Plugin.method.synchronize.input,
        create(Plugin.method.synchronize.input, { more, pods })));
      await this.feedChunked(rng, new WireBuilder()
        .message(rng, 1, id, REQUEST, body, rng.range(1, 4)).build().bytes);
      await settle();
      const reply = this.responses(from).find((r) => r.streamId === id);
      if (!reply) this.problems.push(`no reply to a fresh Synchronize on stream ${id}`);
      else if (reply.code !== 0) {
        this.problems.push(`a fresh Synchronize got ${reply.code} "${reply.message}"`);
      } else if (fromBinary(SynchronizeResponseSchema, reply.payload).more !== more) {
        this.problems.push("a fresh Synchronize got the wrong reply");
      }
    }
    const callId = this.startCall();
    const answer = rng.bytes(rng.chance(0.3) ? rng.int(20_000) : rng.int(16));
    const body = toBinary(ResponseSchema, create(ResponseSchema, { payload: answer }));
    await this.feedChunked(rng, new WireBuilder()
      .message(rng, 2, callId, RESPONSE, body, rng.range(1, 4)).build().bytes);
    await settle();
    const call = this.calls.get(callId)!;
    if (call.state !== "resolved" || toHex(call.value as Uint8Array) !== toHex(answer)) {
      this.problems.push(`a fresh client call on stream ${callId} ended ${call.state}`);
    }
  }
}

async function settle(): Promise<void> {
  await Bun.sleep(0);
  await Bun.sleep(0);
}

/** Runs one case; returns the problems found (empty when all is well). */
async function runCase(rng: Rng, input: Uint8Array, eof: boolean): Promise<string[]> {
  const harness = new Harness();
  if (rng.chance(0.5)) harness.startCall();
  await harness.feedChunked(rng, input);
  if (eof) {
    harness.eof = true;
    harness.mux.closed();
  }
  await settle();
  harness.check();
  if (!eof && !harness.model.closed && harness.problems.length === 0) {
    await harness.proveServing(rng);
    harness.check();
  }
  if (escaped.length > 0) {
    harness.problems.push(...escaped.splice(0).map((e) => `escaped: ${(e as Error).stack ?? e}`));
  }
  return harness.problems;
}

function describeFailure(index: number, kind: string, input: Uint8Array, problems: string[]) {
  return `FUZZ_SEED=${SEED} FUZZ_CASE=${index} (${kind}, ${input.length} bytes): ` +
    `${problems.slice(0, 5).join("; ")}\ninput: ${toHex(input.subarray(0, 512))}`;
}

// ------------------------------------------------------------ named cases

interface NamedCase {
  name: string;
  bytes: (rng: Rng) => Uint8Array;
  /** The mux must close itself on these bytes. */
  closes?: boolean;
  eof?: boolean;
}

const sync = (more = false) => requestBody("Synchronize", toBinary(
  Plugin.method.synchronize.input, create(Plugin.method.synchronize.input, { more })));

const NAMED: NamedCase[] = [
  { name: "mux length 0xffffffff", bytes: () => muxHeader(1, 0xffffffff), closes: true },
  { name: "mux length limit + 1", bytes: () => muxHeader(1, MUX_LIMIT + 1), closes: true },
  { name: "mux length limit + 1 on an unknown conn", bytes: () => muxHeader(9, MUX_LIMIT + 1),
    closes: true },
  { name: "mux length exactly the limit", bytes: () =>
    concat([muxHeader(1, MUX_LIMIT), ttrpcHeader(TTRPC_LIMIT, 1, REQUEST),
      new Uint8Array(TTRPC_LIMIT)]) },
  { name: "ttrpc length 4 MiB + 1 (skipped, ResourceExhausted)", bytes: () =>
    concat([muxHeader(1, 10), ttrpcHeader(TTRPC_LIMIT + 1, 1, REQUEST)]) },
  { name: "ttrpc length 0xffffffff on conn 1", bytes: () =>
    concat([muxHeader(1, 10), ttrpcHeader(0xffffffff, 5, REQUEST)]) },
  { name: "ttrpc length 0xffffffff on conn 2", bytes: () =>
    concat([muxHeader(2, 10), ttrpcHeader(0xffffffff, 1, RESPONSE)]) },
  { name: "zero-length mux frames everywhere", bytes: (rng) => {
    const request = frame(1, 1, REQUEST, sync());
    const cut = rng.range(9, request.length - 1);
    return concat([muxHeader(0, 0), muxHeader(1, 0), muxHeader(2, 0), muxHeader(77, 0),
      request.subarray(0, 8 + 5), muxHeader(1, 0), muxHeader(2, 0),
      // The rest of the ttrpc message in its own frame.
      muxHeader(1, request.length - 8 - 5), request.subarray(8 + 5), muxHeader(1, 0),
      frame(1, 3, REQUEST, sync()).subarray(0, cut)]);
  } },
  { name: "zero-length ttrpc messages of every type", bytes: () => concat([
    frame(1, 1, REQUEST, new Uint8Array()), frame(1, 3, DATA, new Uint8Array()),
    frame(1, 5, 0, new Uint8Array()), frame(1, 7, RESPONSE, new Uint8Array()),
    frame(2, 1, RESPONSE, new Uint8Array())]) },
  { name: "unknown connection ids", bytes: () => concat([
    frame(0, 1, REQUEST, sync()), frame(3, 1, REQUEST, sync()),
    frame(0xffffffff, 1, REQUEST, sync()), frame(7, 1, REQUEST, sync())]) },
  { name: "data frame on an active unary call", bytes: () =>
    concat([frame(1, 1, REQUEST, sync()), frame(1, 1, DATA, new Uint8Array([1, 2, 3]))]) },
  { name: "data frame on an inactive stream", bytes: () =>
    frame(1, 9, DATA, new Uint8Array([8, 1]), 1) },
  { name: "close frame (data, flags RC|ND) on a stream never opened", bytes: () =>
    frame(1, 11, DATA, new Uint8Array(), 5) },
  { name: "even stream ids", bytes: () => concat([frame(1, 2, REQUEST, sync()),
    frame(1, 0, REQUEST, sync()), frame(1, 4, DATA, new Uint8Array()),
    frame(1, 0xfffffffe, 0, new Uint8Array())]) },
  { name: "repeated and decreasing stream ids", bytes: () => concat([
    frame(1, 5, REQUEST, sync()), frame(1, 5, REQUEST, sync()), frame(1, 3, REQUEST, sync()),
    frame(1, 7, REQUEST, sync())]) },
  { name: "stream id 0xffffffff, then no fresh id is left", bytes: () => concat([
    frame(1, 0xffffffff, REQUEST, sync()), frame(1, 1, REQUEST, sync())]) },
  { name: "garbage request bodies", bytes: (rng) => concat([
    frame(1, 1, REQUEST, new Uint8Array([0x0a, 0xff])), frame(1, 3, REQUEST, rng.bytes(40)),
    frame(1, 5, REQUEST, toBinary(RequestSchema, create(RequestSchema, {
      service: PLUGIN, method: "RunPodSandbox", payload: new Uint8Array([0x0a, 0x05, 1]) }))),
    frame(1, 7, REQUEST, toBinary(RequestSchema, create(RequestSchema, {
      service: "x.Y", method: "Z" })))]) },
  { name: "extreme timeouts", bytes: () => concat([
    frame(1, 1, REQUEST, requestBody("Synchronize", new Uint8Array(), -1n)),
    frame(1, 3, REQUEST, requestBody("Synchronize", new Uint8Array(), -(2n ** 63n)))]) },
  { name: "responses on conn 2: stray, data, wrong type, bad body", bytes: () => concat([
    frame(2, 99, RESPONSE, new Uint8Array()), frame(2, 1, DATA, new Uint8Array([1])),
    frame(2, 3, 9, new Uint8Array()), frame(2, 5, RESPONSE, new Uint8Array([0x0a, 0xff]))]) },
  { name: "a request cut short, then EOF", bytes: (rng) =>
    frame(1, 1, REQUEST, sync()).subarray(0, rng.range(1, 30)), eof: true },
  { name: "a mux header cut short, then EOF", bytes: () => muxHeader(1, 20).subarray(0, 5),
    eof: true },
  { name: "an oversized message half skipped, then EOF", bytes: () =>
    concat([muxHeader(1, 30), ttrpcHeader(TTRPC_LIMIT + 1, 1, REQUEST), new Uint8Array(20)]),
    eof: true },
];

// ------------------------------------------------------------------- tests

describe(`hostile bytes into the mux and ttrpc decoders (FUZZ_SEED=${SEED})`, () => {
  test.each(NAMED.map((c, i) => [c.name, i] as const))("%s", async (_, index) => {
    const named = NAMED[index]!;
    for (let round = 0; round < 4; round++) {
      const rng = new Rng(caseSeed(10_000 + index * 4 + round));
      const input = named.bytes(rng);
      const problems = await runCase(rng, input, named.eof ?? false);
      const model = new WireModel();
      model.push(input);
      if (named.closes) expect(model.closed).toBeDefined();
      if (problems.length > 0) {
        throw new Error(describeFailure(10_000 + index * 4 + round, named.name, input, problems));
      }
    }
  });

  test("random soup, frames of soup and mutated conversations, in random chunks", async () => {
    console.log(`fuzz: FUZZ_SEED=${SEED}`);
    const started = performance.now();
    const counts = { cases: 0, closed: 0, eof: 0 };
    for (let index = 0; index < MAX_CASES; index++) {
      if (ONLY_CASE !== undefined && index !== ONLY_CASE) continue;
      if (ONLY_CASE === undefined && counts.cases >= MIN_CASES &&
        performance.now() - started > BUDGET_MS) break;
      const rng = new Rng(caseSeed(index));
      let kind: string;
      let input: Uint8Array;
      const pick = rng.int(10);
      if (pick === 0) {
        kind = "byte soup";
        input = rng.bytes(rng.int(300));
      } else if (pick <= 2) {
        kind = "soup in frames";
        input = soupInFrames(rng).bytes;
      } else if (pick === 3) {
        kind = "valid";
        input = validWire(rng).bytes;
      } else {
        const { wire, how } = mutated(rng);
        kind = `mutated: ${how.join(", ")}`;
        input = wire;
      }
      const eof = rng.chance(0.1);
      const problems = await runCase(rng, input, eof);
      if (problems.length > 0) throw new Error(describeFailure(index, kind, input, problems));
      counts.cases++;
      if (eof) counts.eof++;
      else {
        const model = new WireModel();
        model.push(input);
        if (model.closed) counts.closed++;
      }
    }
    console.log(`fuzz: ${counts.cases} cases (${counts.closed} closed the mux, ` +
      `${counts.eof} ended in EOF) in ${Math.round(performance.now() - started)} ms`);
    expect(counts.cases).toBeGreaterThanOrEqual(ONLY_CASE === undefined ? MIN_CASES : 1);
  }, BUDGET_MS + 12_000);
});

describe("no allocation from a declared length", () => {
  test("a mux header declaring 0xffffffff closes the mux before any payload arrives", async () => {
    Bun.gc(true);
    const before = process.memoryUsage();
    const harness = new Harness();
    harness.feed(muxHeader(1, 0xffffffff));
    await settle();
    expect(harness.done?.error).toBeInstanceOf(MuxProtocolError);
    expect(harness.stream.closed).toBe(true);
    const after = process.memoryUsage();
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(8 * 1024 * 1024);
  });

  test("a ttrpc header declaring 0xffffffff is answered ResourceExhausted and stores nothing",
    async () => {
      const harness = new Harness();
      harness.feed(concat([muxHeader(1, 10), ttrpcHeader(0xffffffff, 1, REQUEST)]));
      await settle();
      expect(harness.responses()).toEqual([expect.objectContaining({ streamId: 1, code: 8,
        message: "message length 4294967295 exceed maximum message size of 4194304" })]);
      for (const queue of queues) expect(queue.length).toBe(0);
      // 4 MiB of the skipped body arrive: still nothing is kept.
      harness.feed(concat([muxHeader(1, TTRPC_LIMIT), new Uint8Array(TTRPC_LIMIT)]));
      for (const queue of queues) expect(queue.length).toBe(0);
    });
});

// Memory a peer can make the decoders hold: bounded by what it declared, not by
// how many reads or frames it cut the bytes into.
describe("memory held for a partial message stays near its size", () => {
  test("1-byte payloads do not pin the whole socket reads they arrived in", () => {
    const harness = new Harness();
    // A request declaring 4096 bytes, whose body comes one byte per socket read,
    // each read otherwise filled by a frame for a connection nobody opened.
    harness.feed(concat([muxHeader(1, 10), ttrpcHeader(4096, 3, REQUEST)]));
    Bun.gc(true);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 512; i++) {
      const read = new Uint8Array(65536);
      read.set(muxHeader(1, 1), 0);
      read.set(muxHeader(9, 65536 - 17), 9);
      harness.feed(read);
    }
    Bun.gc(true);
    const held = process.memoryUsage().arrayBuffers - before;
    // 512 bytes of message; 32 MiB of reads stay reachable through their 1-byte views.
    expect(held).toBeLessThan(8 * 1024 * 1024);
  });

  test("a message sent as 1-byte mux frames costs memory in proportion to its size", () => {
    const harness = new Harness();
    const size = 64 * 1024;
    const message = concat([ttrpcHeader(size, 1, REQUEST), new Uint8Array(size)]);
    const wire = new Uint8Array(9 * (message.length - 1));
    for (let i = 0; i < message.length - 1; i++) {
      wire.set(muxHeader(1, 1), 9 * i);
      wire[9 * i + 8] = message[i]!;
    }
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    for (let at = 0; at < wire.length; at += 9 * 4096) {
      harness.feed(wire.slice(at, at + 9 * 4096));
    }
    Bun.gc(true);
    const held = process.memoryUsage().heapUsed - before;
    // 64 KiB of message so far, short of its last byte; about 6 MiB of heap
    // goes to one view object per received byte (4 MiB would take ~400 MiB).
    expect(held).toBeLessThan(2 * 1024 * 1024);
  });

  test("a message in frames of 513 and 1 bytes, alternately, costs memory near its size", () => {
    const harness = new Harness();
    const size = 256 * 1024;
    const parts = [muxHeader(1, 10), ttrpcHeader(size, 1, REQUEST)];
    for (let sent = 0; sent + 514 < size; sent += 514) {
      parts.push(muxHeader(1, 513), new Uint8Array(513), muxHeader(1, 1), new Uint8Array(1));
    }
    const wire = concat(parts);
    Bun.gc(true);
    const before = process.memoryUsage().arrayBuffers;
    for (let at = 0; at < wire.length; at += 65536) harness.feed(wire.slice(at, at + 65536));
    Bun.gc(true);
    const held = process.memoryUsage().arrayBuffers - before;
    // Under 256 KiB of message so far. Each 1-byte piece arriving behind a
    // bigger one starts a fresh 16 KiB tail buffer: ~8 MiB, 32 times the bytes.
    expect(held).toBeLessThan(2 * 1024 * 1024);
  });
});

describe("request deadlines from timeout_nano", () => {
  test("a timeout beyond setTimeout's range does not end the handler's deadline at once",
    async () => {
      const stream = new RecordingStream();
      const mux = new Mux(stream);
      const server = new TtrpcServer(mux.open(1), Logger.discard());
      let aborted: boolean | undefined;
      server.register(Plugin, {
        synchronize: async (_, context) => {
          await Bun.sleep(20);
          aborted = context.signal.aborted;
          return {};
        },
      });
      // INT64_MAX ns is ~292 years; setTimeout takes at most 2^31-1 ms and
      // treats more as 1 ms (with a TimeoutOverflowWarning on stderr).
      mux.data(frame(1, 1, REQUEST, requestBody("Synchronize", new Uint8Array(), INT64_MAX)));
      await Bun.sleep(50);
      expect(aborted).toBe(false);
    });
});
