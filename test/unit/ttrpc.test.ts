// ttrpc rules from ttrpc-protocol.md §1-§5, over an in-memory mux.
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Plugin } from "../../src/gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { RequestSchema, ResponseSchema } from "../../src/gen/ttrpc/request_pb.ts";
import { Logger } from "../../src/log/logger.ts";
import { Mux } from "../../src/mux/mux.ts";
import { TtrpcClient } from "../../src/ttrpc/client.ts";
import { TtrpcServer } from "../../src/ttrpc/server.ts";
import { muxFrame, RecordingStream } from "../support/memory-stream.ts";

const REQUEST = 1;
const RESPONSE = 2;
const DATA = 3;

/** A request body for `method` of the Plugin service. */
function requestBody(method: string, timeoutNano = 0n): Uint8Array {
  return toBinary(RequestSchema, create(RequestSchema, {
    service: "nri.pkg.api.v1alpha1.Plugin",
    method,
    timeoutNano,
  }));
}

/** Decoded responses written by the server, in order. */
function responses(stream: RecordingStream) {
  const bytes = stream.bytes();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: { streamId: number; code: number; message: string; length: number }[] = [];
  const body: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = view.getUint32(at + 4);
    body.push(bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  const joined = Buffer.concat(body);
  for (let at = 0; at < joined.length;) {
    const length = joined.readUInt32BE(at);
    const streamId = joined.readUInt32BE(at + 4);
    const response = fromBinary(ResponseSchema, joined.subarray(at + 10, at + 10 + length));
    out.push({ streamId, length, code: response.status?.code ?? 0,
      message: response.status?.message ?? "" });
    at += 10 + length;
  }
  return out;
}

function server(impl: Partial<ServiceImpl<typeof Plugin>> = {}) {
  const stream = new RecordingStream();
  const mux = new Mux(stream);
  new TtrpcServer(mux.open(1), Logger.discard()).register(Plugin, impl);
  return { stream, mux };
}

async function settle() {
  await Bun.sleep(5);
}

describe("server", () => {
  test("success leaves the status out: an empty result is a zero-length message", async () => {
    const { stream, mux } = server({ shutdown: () => ({}) });
    mux.data(muxFrame(1, 1, REQUEST, requestBody("Shutdown")));
    await settle();
    expect(responses(stream)).toEqual([{ streamId: 1, length: 0, code: 0, message: "" }]);
  });

  test("an unknown service is answered 12 'service <name>'", async () => {
    const { stream, mux } = server();
    const body = toBinary(RequestSchema, create(RequestSchema, { service: "x.Y", method: "Z" }));
    mux.data(muxFrame(1, 1, REQUEST, body));
    await settle();
    expect(responses(stream)[0]).toMatchObject({ code: 12, message: "service x.Y" });
  });

  test("a declared but unimplemented method is answered 12", async () => {
    const { stream, mux } = server({});
    mux.data(muxFrame(1, 1, REQUEST, requestBody("RunPodSandbox")));
    await settle();
    expect(responses(stream)[0]?.code).toBe(Code.Unimplemented);
  });

  test("an even stream id is refused with InvalidArgument", async () => {
    const { stream, mux } = server({ shutdown: () => ({}) });
    mux.data(muxFrame(1, 2, REQUEST, requestBody("Shutdown")));
    await settle();
    expect(responses(stream)[0]).toMatchObject({
      streamId: 2, code: 3, message: "StreamID must be odd for client initiated streams",
    });
  });

  test("a stream id that does not increase is refused with InvalidArgument", async () => {
    const { stream, mux } = server({ shutdown: () => ({}) });
    mux.data(muxFrame(1, 5, REQUEST, requestBody("Shutdown")));
    mux.data(muxFrame(1, 3, REQUEST, requestBody("Shutdown")));
    await settle();
    expect(responses(stream).map((r) => r.code).sort()).toEqual([0, 3]);
  });

  test("a data frame for a stream that is not active gets InvalidArgument", async () => {
    const { stream, mux } = server();
    mux.data(muxFrame(1, 9, DATA, new Uint8Array([1, 2])));
    await settle();
    expect(responses(stream)[0]).toMatchObject({ streamId: 9, code: 3 });
  });

  test("an undecodable request body is InvalidArgument; the connection goes on", async () => {
    const { stream, mux } = server({ shutdown: () => ({}) });
    mux.data(muxFrame(1, 1, REQUEST, new Uint8Array([0x0a, 0xff])));
    mux.data(muxFrame(1, 3, REQUEST, requestBody("Shutdown")));
    await settle();
    const [bad, good] = responses(stream);
    expect(bad).toMatchObject({ streamId: 1, code: 3 });
    expect(bad?.message).toStartWith("unmarshal request error");
    expect(good).toMatchObject({ streamId: 3, code: 0 });
  });

  test("a message over 4 MiB is skipped unread and answered ResourceExhausted", async () => {
    const { stream, mux } = server({ shutdown: () => ({}) });
    const length = 4 * 1024 * 1024 + 1;
    // The ttrpc header in one mux frame, its (too large) body in the next.
    const header = Buffer.alloc(18);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(10, 4);
    header.writeUInt32BE(length, 8);
    header.writeUInt32BE(1, 12);
    header.writeUInt8(REQUEST, 16);
    const body = Buffer.alloc(8 + length);
    body.writeUInt32BE(1, 0);
    body.writeUInt32BE(length, 4);
    mux.data(header);
    mux.data(body);
    mux.data(muxFrame(1, 3, REQUEST, requestBody("Shutdown")));
    await settle();
    expect(responses(stream)).toMatchObject([
      { streamId: 1, code: 8, message: `message length ${length} exceed maximum message ` +
        "size of 4194304" },
      { streamId: 3, code: 0 },
    ]);
  });

  test("requests run concurrently and are answered in completion order", async () => {
    const { stream, mux } = server({
      synchronize: async () => (await Bun.sleep(30), {}),
      shutdown: () => ({}),
    });
    mux.data(muxFrame(1, 1, REQUEST, requestBody("Synchronize")));
    mux.data(muxFrame(1, 3, REQUEST, requestBody("Shutdown")));
    await Bun.sleep(60);
    expect(responses(stream).map((r) => r.streamId)).toEqual([3, 1]);
  });

  test("a handler error is sent as its status code and message", async () => {
    const { stream, mux } = server({
      shutdown: () => {
        throw new ConnectError("not now", Code.FailedPrecondition);
      },
      configure: () => {
        throw new Error("plain failure");
      },
    });
    mux.data(muxFrame(1, 1, REQUEST, requestBody("Shutdown")));
    mux.data(muxFrame(1, 3, REQUEST, requestBody("Configure")));
    await settle();
    expect(responses(stream)).toMatchObject([
      { code: 9, message: "not now" },
      { code: 2, message: "plain failure" },
    ]);
  });

  test("the request's timeout_nano becomes the handler's deadline", async () => {
    let seen: number | undefined;
    const { mux } = server({
      shutdown: (_, context) => {
        seen = context.timeoutMs();
        return {};
      },
    });
    mux.data(muxFrame(1, 1, REQUEST, requestBody("Shutdown", 2_000_000_000n)));
    await settle();
    expect(seen).toBeGreaterThan(1900);
    expect(seen).toBeLessThanOrEqual(2000);
  });
});

describe("client", () => {
  function client() {
    const stream = new RecordingStream();
    const mux = new Mux(stream);
    return { stream, mux, client: new TtrpcClient(mux.open(2)) };
  }

  test("stream ids are odd, start at 1 and increase by 2", async () => {
    const { stream, client: c } = client();
    for (let i = 0; i < 3; i++) void c.call("s", "m", new Uint8Array(), undefined).catch(() => {});
    const bytes = Buffer.from(stream.bytes());
    const ids: number[] = [];
    for (let at = 0; at < bytes.length; at += 8 + bytes.readUInt32BE(at + 4)) {
      ids.push(bytes.readUInt32BE(at + 12));
    }
    expect(ids).toEqual([1, 3, 5]);
  });

  test("a Rust-style explicit status{code:0} counts as success", async () => {
    const { mux, client: c } = client();
    const call = c.call("s", "m", new Uint8Array(), undefined);
    mux.data(muxFrame(2, 1, RESPONSE, new Uint8Array([0x0a, 0x00, 0x12, 0x01, 0x78])));
    expect(Buffer.from(await call).toString()).toBe("x");
  });

  test("an error status rejects with that code and message", async () => {
    const { mux, client: c } = client();
    const call = c.call("s", "m", new Uint8Array(), undefined);
    const status = toBinary(ResponseSchema, create(ResponseSchema, {
      status: { code: 3, message: "invalid plugin index" },
    }));
    mux.data(muxFrame(2, 1, RESPONSE, status));
    const error = await call.catch((e) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect(error).toMatchObject({ code: 3, rawMessage: "invalid plugin index" });
  });

  test("a data frame on a unary call fails that call", async () => {
    const { mux, client: c } = client();
    const call = c.call("s", "m", new Uint8Array(), undefined);
    mux.data(muxFrame(2, 1, DATA, new Uint8Array()));
    expect((await call.catch((e) => e)).rawMessage).toContain('unexpected "data"');
  });

  test("replies for unknown streams are dropped", async () => {
    const { mux, client: c } = client();
    const call = c.call("s", "m", new Uint8Array(), undefined);
    mux.data(muxFrame(2, 7, RESPONSE, new Uint8Array()));
    mux.data(muxFrame(2, 1, RESPONSE, new Uint8Array([0x12, 0x01, 0x79])));
    expect(Buffer.from(await call).toString()).toBe("y");
  });

  test("pending calls fail with 'ttrpc: closed' when the socket closes", async () => {
    const { mux, client: c } = client();
    const call = c.call("s", "m", new Uint8Array(), undefined);
    mux.closed();
    expect(await call.catch((e) => e)).toMatchObject({ code: Code.Unavailable });
  });

  test("an aborted call rejects and a late reply is dropped", async () => {
    const { mux, client: c } = client();
    const abort = new AbortController();
    const call = c.call("s", "m", new Uint8Array(), 50, abort.signal);
    abort.abort(new ConnectError("gave up", Code.DeadlineExceeded));
    expect(await call.catch((e) => e)).toMatchObject({ code: Code.DeadlineExceeded });
    mux.data(muxFrame(2, 1, RESPONSE, new Uint8Array()));
  });
});
