// Hostile bytes on the NRI socket, against the compiled plugin launched on a
// socketpair as a runtime launches it. The runtime's end is played here with
// raw writes, so every frame can be bent; replies on conn 1 are read back and
// checked (ttrpc-protocol.md §1, §2, §5; nri-protocol.md §1).
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Socket, Subprocess } from "bun";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ConfigureRequestSchema,
  ConfigureResponseSchema,
  Plugin,
  Runtime,
  RunPodSandboxRequestSchema,
  SynchronizeRequestSchema,
  SynchronizeResponseSchema,
} from "../../src/gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { RequestSchema, ResponseSchema } from "../../src/gen/ttrpc/request_pb.ts";
import { Logger } from "../../src/log/logger.ts";
import { Mux } from "../../src/mux/mux.ts";
import { WriteQueue } from "../../src/socket/write-queue.ts";
import { MessageReader } from "../../src/ttrpc/frame.ts";
import { TtrpcServer } from "../../src/ttrpc/server.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";
import { closeFd, socketpair } from "../support/socketpair.ts";
import { concat, frame, MUX_LIMIT, muxHeader, TTRPC_LIMIT, ttrpcHeader }
  from "../support/wire-model.ts";
import { testScope } from "../support/scope.ts";

const PLUGIN = "nri.pkg.api.v1alpha1.Plugin";
const REQUEST = 1;
const DATA = 3;
const INT64_MAX = 0x7fffffffffffffffn;
/** What must never show on the plugin's stderr. */
const CRASH_TEXT = /uncaught|unhandled|exception|panic|warning|error|segfault|\bat .*:\d+:\d+/i;

const { defer, tempDir } = testScope();


interface Reply {
  streamId: number;
  code: number;
  message: string;
  payload: Uint8Array;
}

/**
 * The runtime's end of the socketpair: serves RegisterPlugin on conn 2,
 * writes whatever bytes it is told to, and collects every conn-1 reply.
 */
class RawRuntime {
  readonly replies: Reply[] = [];
  readonly registered = Promise.withResolvers<void>();
  private readonly waiters = new Set<() => void>();
  private readonly mux: Mux;
  private socket!: Socket<undefined>;
  private readonly pending = new WriteQueue((bytes) => this.socket.write(bytes));
  private flushed: (() => void)[] = [];
  /** Highest request stream id the plugin has accepted. */
  private lastId = 0;

  private constructor(readonly plugin: Subprocess, readonly dir: string) {
    this.mux = new Mux({ write: (bytes) => void this.send(bytes), close: () => this.socket.end() });
    new TtrpcServer(this.mux.open(2), Logger.discard()).register(Runtime, {
      registerPlugin: () => {
        this.registered.resolve();
        return {};
      },
    });
    const reader = new MessageReader((message) => {
      const response = fromBinary(ResponseSchema, message.data);
      this.replies.push({ streamId: message.streamId, code: response.status?.code ?? 0,
        message: response.status?.message ?? "", payload: response.payload });
      for (const wake of this.waiters) wake();
    }, () => {
      throw new Error("the plugin wrote an oversized message");
    });
    this.mux.open(1).onData = (chunk) => reader.push(chunk);
  }

  get logFile(): string {
    return join(this.dir, "plugin.log");
  }

  /** Launches the plugin, registers it and configures it (logging to a file here). */
  static async launch(snapshotterSocket = "/nonexistent/system.sock"): Promise<RawRuntime> {
    const dir = tempDir("hostile-bytes-");
    const [runtimeEnd, pluginEnd] = socketpair();
    const stderr = openSync(join(dir, "stderr"), "w");
    const plugin = Bun.spawn([pluginBinary()], {
      stdio: ["ignore", "ignore", stderr, pluginEnd],
      env: { NRI_PLUGIN_NAME: "prefetchfiles-nri-plugin", NRI_PLUGIN_IDX: "03",
        NRI_PLUGIN_SOCKET: "3" },
      cwd: "/",
    });
    closeFd(pluginEnd);
    closeSync(stderr);
    defer(() => void plugin.kill("SIGKILL"));
    const runtime = new RawRuntime(plugin, dir);
    runtime.socket = await Bun.connect({
      fd: runtimeEnd,
      socket: {
        binaryType: "uint8array",
        data: (_, chunk) => runtime.mux.data(chunk),
        drain: () => runtime.flush(),
        close: () => runtime.mux.closed(),
      },
    });
    await runtime.registered.promise;
    const config = `socket_address = "${snapshotterSocket}"\nsyslog_socket = ""\n` +
      `log_file = "${runtime.logFile}"\nlog_level = "debug"\n`;
    const reply = await runtime.call("Configure", toBinary(ConfigureRequestSchema,
      create(ConfigureRequestSchema, { config, runtimeName: "hostile", runtimeVersion: "v0",
        NRIVersion: "v0.12.2", requestTimeout: 2000n, registrationTimeout: 5000n })));
    expect(reply.code).toBe(0);
    expect(fromBinary(ConfigureResponseSchema, reply.payload).events).toBe(1);
    return runtime;
  }

  /** Writes raw bytes; resolves once the socket took all of them. */
  send(bytes: Uint8Array): Promise<void> {
    const done = new Promise<void>((resolve) => this.flushed.push(resolve));
    this.pending.push(bytes);
    this.flush();
    return done;
  }

  private flush(): void {
    if (this.pending.flush()) for (const resolve of this.flushed.splice(0)) resolve();
  }

  end(): void {
    this.socket.end();
  }

  /** A stream id the plugin has not seen yet; taken when `take`. */
  freshId(take = true): number {
    const id = this.lastId + 2 - (this.lastId % 2 === 0 ? 1 : 0);
    if (take) this.lastId = id;
    return id;
  }

  /** Calls a Plugin method on a fresh stream id (or the one given). */
  async call(method: string, payload: Uint8Array, options: { id?: number;
    timeoutNano?: bigint } = {}): Promise<Reply> {
    const id = options.id ?? this.freshId();
    const from = this.replies.length;
    const body = toBinary(RequestSchema, create(RequestSchema, {
      service: PLUGIN, method, payload, timeoutNano: options.timeoutNano ?? 2_000_000_000n }));
    await this.send(frame(1, id, REQUEST, body));
    return this.reply(id, from);
  }

  /** The next reply on `id` among those after index `from`. */
  async reply(id: number, from: number, timeoutMs = 3000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.replies.slice(from).find((reply) => reply.streamId === id);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no reply on stream ${id} in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => (this.waiters.delete(wake), resolve());
        this.waiters.add(wake);
        setTimeout(wake, 20);
      });
    }
  }

  /** Replies on `id` after `from`, after waiting `ms` for any to arrive. */
  async repliesAfter(id: number, from: number, ms = 100): Promise<Reply[]> {
    await Bun.sleep(ms);
    return this.replies.slice(from).filter((reply) => reply.streamId === id);
  }

  /** A fresh Synchronize and a fresh RunPodSandbox are both answered OK. */
  async assertServing(): Promise<void> {
    expect(this.plugin.exitCode).toBeNull();
    const more = Math.random() < 0.5;
    const sync = await this.call("Synchronize", toBinary(SynchronizeRequestSchema,
      create(SynchronizeRequestSchema, { more })));
    expect(sync).toMatchObject({ code: 0 });
    expect(fromBinary(SynchronizeResponseSchema, sync.payload).more).toBe(more);
    const pod = await this.call("RunPodSandbox", plainPod());
    expect(pod).toMatchObject({ code: 0, message: "" });
  }

  stderr(): string {
    return readFileSync(join(this.dir, "stderr"), "utf8");
  }

  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }
}

function plainPod(): Uint8Array {
  return toBinary(RunPodSandboxRequestSchema, create(RunPodSandboxRequestSchema, {
    pod: { id: "sandbox-plain", name: "plain", namespace: "default", uid: "uid-plain" },
  }));
}

function annotatedPod(): Uint8Array {
  const value = JSON.stringify([{ image: "docker.io/library/busybox:latest",
    prefetch: "/bin/sh" }]);
  return toBinary(RunPodSandboxRequestSchema, create(RunPodSandboxRequestSchema, {
    pod: { id: "sandbox-annotated", name: "annotated", namespace: "default", uid: "uid-a",
      annotations: { "containerd.io/nydus-prefetch": value } },
  }));
}

function syncBody(): Uint8Array {
  return toBinary(RequestSchema, create(RequestSchema, { service: PLUGIN, method: "Synchronize",
    payload: toBinary(SynchronizeRequestSchema, create(SynchronizeRequestSchema, {})) }));
}

/** Waits for the plugin to exit; fails after `ms`. */
async function exitWithin(plugin: Subprocess, ms: number): Promise<number> {
  const timer = Bun.sleep(ms).then(() => "timeout" as const);
  const result = await Promise.race([plugin.exited, timer]);
  if (result === "timeout") throw new Error(`the plugin did not exit within ${ms} ms`);
  return result;
}

describe("the launched plugin keeps serving after each fault that should not close it", () => {
  test("oversized, zero-length, unknown-conn, data, even, repeated, garbage, odd types",
    async () => {
      const snapshotter = RecordingSnapshotter.start(tempDir("hostile-bytes-"));
      snapshotter.behaviour.hang = true; // keeps a RunPodSandbox in flight for its budget
      defer(() => snapshotter.close());
      const rt = await RawRuntime.launch(snapshotter.socket);
      await rt.assertServing();

      // A ttrpc length over 4 MiB on conn 1: answered 8 at once, body skipped.
      let id = rt.freshId(false); // an oversized message does not use up its id
      let from = rt.replies.length;
      await rt.send(concat([muxHeader(1, 10), ttrpcHeader(TTRPC_LIMIT + 1, id, REQUEST)]));
      expect(await rt.reply(id, from)).toMatchObject({ code: 8,
        message: `message length ${TTRPC_LIMIT + 1} exceed maximum message size of 4194304` });
      await rt.send(concat([muxHeader(1, TTRPC_LIMIT + 1), new Uint8Array(TTRPC_LIMIT + 1)]));
      await rt.assertServing();

      // A ttrpc length of 0xffffffff on conn 2: that side skips, conn 1 is untouched.
      await rt.send(concat([muxHeader(2, 10), ttrpcHeader(0xffffffff, 1, 2)]));
      await rt.assertServing();

      // Zero-length mux frames on every kind of id, one inside a split request.
      id = rt.freshId();
      from = rt.replies.length;
      const request = frame(1, id, REQUEST, syncBody());
      await rt.send(concat([muxHeader(0, 0), muxHeader(1, 0), muxHeader(2, 0),
        muxHeader(7, 0), muxHeader(1, 12), request.subarray(8, 20), muxHeader(1, 0),
        muxHeader(1, request.length - 20), request.subarray(20)]));
      expect(await rt.reply(id, from)).toMatchObject({ code: 0 });
      await rt.assertServing();

      // Requests on connections nobody opened are dropped without a reply.
      id = rt.freshId(false);
      from = rt.replies.length;
      await rt.send(concat([frame(0, id, REQUEST, syncBody()), frame(3, id, REQUEST, syncBody()),
        frame(0xffffffff, id, REQUEST, syncBody())]));
      expect(await rt.repliesAfter(id, from)).toEqual([]);
      await rt.assertServing();

      // A data frame for a stream that is not active: InvalidArgument.
      const old = rt.freshId(false) - 2;
      from = rt.replies.length;
      await rt.send(frame(1, old, DATA, new Uint8Array([0x0a, 0x00])));
      expect(await rt.reply(old, from)).toMatchObject({ code: 3,
        message: "StreamID is no longer active" });
      await rt.assertServing();

      // A data frame on a unary call still running: ignored, with a log line.
      id = rt.freshId();
      from = rt.replies.length;
      const body = toBinary(RequestSchema, create(RequestSchema, { service: PLUGIN,
        method: "RunPodSandbox", payload: annotatedPod(), timeoutNano: 600_000_000n }));
      await rt.send(frame(1, id, REQUEST, body));
      await snapshotter.waitForRequests(1, 3000);
      await rt.send(frame(1, id, DATA, new Uint8Array([1, 2, 3])));
      expect(await rt.reply(id, from)).toMatchObject({ code: 0 });
      expect(await rt.repliesAfter(id, from, 50)).toHaveLength(1);
      // logged at debug only, so a peer cannot grow the log as fast as it sends
      expect(rt.log()).toMatch(/level=debug msg="ttrpc data frame on a unary call ignored"/);
      await rt.assertServing();

      // Even stream ids, whatever the type.
      from = rt.replies.length;
      await rt.send(concat([frame(1, 2, REQUEST, syncBody()), frame(1, 0, DATA, new Uint8Array()),
        frame(1, 0xfffffffe, 7, new Uint8Array())]));
      for (const even of [2, 0, 0xfffffffe]) {
        expect(await rt.reply(even, from)).toMatchObject({ code: 3,
          message: "StreamID must be odd for client initiated streams" });
      }
      await rt.assertServing();

      // A repeated stream id.
      const used = rt.freshId(false) - 2;
      from = rt.replies.length;
      await rt.send(frame(1, used, REQUEST, syncBody()));
      expect(await rt.reply(used, from)).toMatchObject({ code: 3,
        message: "StreamID cannot be re-used and must increment" });
      await rt.assertServing();

      // A Request body that is not a Request; a RunPodSandbox payload that is not one.
      id = rt.freshId();
      from = rt.replies.length;
      await rt.send(frame(1, id, REQUEST, new Uint8Array([0x0a, 0xff, 0x01])));
      const garbage = await rt.reply(id, from);
      expect(garbage.code).toBe(3);
      expect(garbage.message).toStartWith("unmarshal request error");
      const badPod = await rt.call("RunPodSandbox", new Uint8Array([0x0a, 0x09, 0x01]));
      expect(badPod.code).toBe(13);
      await rt.assertServing();

      // An unknown service, an unknown message type.
      id = rt.freshId();
      from = rt.replies.length;
      await rt.send(frame(1, id, REQUEST, toBinary(RequestSchema, create(RequestSchema,
        { service: "x.Y", method: "Z" }))));
      expect(await rt.reply(id, from)).toMatchObject({ code: 12, message: "service x.Y" });
      id = rt.freshId(false);
      from = rt.replies.length;
      await rt.send(frame(1, id, 7, syncBody()));
      expect(await rt.repliesAfter(id, from)).toEqual([]);
      await rt.assertServing();

      // Deadlines at both ends of int64.
      const far = await rt.call("Synchronize", new Uint8Array(), { timeoutNano: INT64_MAX });
      expect(far.code).toBe(0);
      const past = await rt.call("Synchronize", new Uint8Array(), { timeoutNano: -1n });
      expect(past.code).toBe(0);
      await rt.assertServing();

      expect(rt.log()).toContain("ttrpc message over the size limit skipped");
      expect(rt.stderr()).not.toMatch(CRASH_TEXT);
      // And EOF still ends it cleanly: the request held by the hanging snapshotter gets the
      // 2 s stop grace, then is logged as dropped.
      rt.end();
      expect(await exitWithin(rt.plugin, 5000)).toBe(0);
      expect(rt.plugin.signalCode).toBeNull();
      expect(rt.log()).toMatch(/msg="prefetch request dropped" .*reason="plugin stopping"/);
      expect(rt.stderr()).not.toMatch(CRASH_TEXT);
    }, 20_000);
});

describe("faults that must close the connection end the plugin cleanly, with a log line", () => {
  const cases: { name: string; bytes: Uint8Array; eof: boolean; line: RegExp }[] = [
    { name: "a mux frame declaring 4 MiB + 11 bytes on conn 1", eof: false,
      bytes: concat([muxHeader(1, MUX_LIMIT + 1), new Uint8Array(64)]),
      line: new RegExp(`declares ${MUX_LIMIT + 1} bytes`) },
    { name: "a mux frame declaring 0xffffffff bytes on conn 2", eof: false,
      bytes: muxHeader(2, 0xffffffff), line: /declares 4294967295 bytes/ },
    { name: "a truncated frame followed by EOF", eof: true,
      bytes: frame(1, 101, REQUEST, syncBody()).subarray(0, 21),
      line: /closed inside a frame/ },
  ];
  for (const fault of cases) {
    test(fault.name, async () => {
      const rt = await RawRuntime.launch();
      await rt.assertServing();
      await rt.send(fault.bytes);
      const sent = performance.now();
      if (fault.eof) rt.end();
      const code = await exitWithin(rt.plugin, 2000);
      const ms = performance.now() - sent;
      expect([0, 1]).toContain(code);
      expect(rt.plugin.signalCode).toBeNull();
      expect(ms).toBeLessThan(1000);
      expect(rt.stderr()).not.toMatch(CRASH_TEXT);
      const log = rt.log();
      expect(log).toContain("exiting");
      // The reason, not just the exit, at the default log level.
      expect(log).toMatch(fault.line);
    }, 15_000);
  }
});
