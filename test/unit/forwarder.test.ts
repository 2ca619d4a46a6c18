// HttpForwarder against real Unix sockets in a temporary directory.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { linkSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliveryError, HttpForwarder, PREFETCH_PATH } from "../../src/prefetch/forwarder.ts";

const dir = mkdtempSync(join(tmpdir(), "prefetch-fwd-"));
const stops: (() => void)[] = [];
let sockets = 0;

afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function socketPath(): string {
  return join(dir, `s${sockets++}.sock`);
}

interface Received {
  method: string;
  path: string;
  body: Uint8Array;
}

/** A snapshotter stand-in that records each request and answers with `status`. */
function snapshotter(status = 200) {
  const path = socketPath();
  const received: Received[] = [];
  const server = Bun.serve({
    unix: path,
    async fetch(request) {
      const body = new Uint8Array(await request.arrayBuffer());
      received.push({ method: request.method, path: new URL(request.url).pathname, body });
      return new Response(null, { status });
    },
  });
  stops.push(() => server.stop(true));
  return { path, received };
}

/** A raw socket server; `onRequest` runs once per complete HTTP request read. */
function rawServer(onRequest: (socket: Bun.Socket<{ buffer: Buffer }>) => void) {
  const path = socketPath();
  let connections = 0;
  const listener = Bun.listen<{ buffer: Buffer }>({
    unix: path,
    socket: {
      open(socket) {
        connections++;
        socket.data = { buffer: Buffer.alloc(0) };
      },
      data(socket, chunk) {
        socket.data.buffer = Buffer.concat([socket.data.buffer, chunk]);
        for (let length = requestLength(socket.data.buffer); length > 0;
          length = requestLength(socket.data.buffer)) {
          socket.data.buffer = socket.data.buffer.subarray(length);
          onRequest(socket);
        }
      },
    },
  });
  stops.push(() => listener.stop(true));
  return { path, connections: () => connections };
}

/** Bytes of the first complete request in `buffer` (head and body), or 0 if incomplete. */
function requestLength(buffer: Buffer): number {
  const headEnd = buffer.indexOf("\r\n\r\n");
  if (headEnd < 0) return 0;
  const head = buffer.subarray(0, headEnd).toString("latin1");
  const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
  const total = headEnd + 4 + length;
  return buffer.length >= total ? total : 0;
}

async function deliveryError(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error("the send succeeded");
}

const encoder = new TextEncoder();

/** Sends an empty list to `path` and returns the DeliveryError it must fail with. */
function sendError(path: string, timeoutMs = 2000): Promise<DeliveryError> {
  return deliveryError(new HttpForwarder(path).send(encoder.encode("[]"), timeoutMs));
}

describe("HttpForwarder", () => {
  test("sends a PUT to /api/v1/prefetch", async () => {
    const server = snapshotter();
    await new HttpForwarder(server.path).send(encoder.encode("[]"), 2000);
    expect(server.received.map(({ method, path }) => [method, path]))
      .toEqual([["PUT", PREFETCH_PATH]]);
  });

  test("the body arrives byte for byte, non-ASCII included", async () => {
    const server = snapshotter();
    const body = encoder.encode('[{"image":"docker.io/library/nginx:latest",' +
      '"prefetch":"/etc/nydus/prefetch/über-日本-🚀.list"}]\n');
    await new HttpForwarder(server.path).send(body, 2000);
    expect(server.received[0]!.body).toEqual(body);
  });

  test("a 256 KiB body arrives byte for byte", async () => {
    const server = snapshotter();
    const body = new Uint8Array(256 * 1024).map((_, index) => (index * 31 + 7) % 251);
    await new HttpForwarder(server.path).send(body, 5000);
    expect(server.received).toHaveLength(1);
    expect(Buffer.from(server.received[0]!.body).equals(Buffer.from(body))).toBe(true);
  });

  test("200 resolves", async () => {
    const server = snapshotter(200);
    expect(await new HttpForwarder(server.path).send(encoder.encode("[]"), 2000)).toBeUndefined();
  });

  test("404 is a DeliveryError that is not retryable", async () => {
    const server = snapshotter(404);
    const error = await sendError(server.path);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe("snapshotter answered 404 Not Found");
  });

  test("405 is a DeliveryError that is not retryable", async () => {
    const server = snapshotter(405);
    const error = await sendError(server.path);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("405");
  });

  test("a success status other than 200 is not taken for delivery", async () => {
    const server = snapshotter(204);
    const error = await sendError(server.path);
    expect(error.message).toContain("204");
  });

  test("500 is a DeliveryError that is retryable", async () => {
    const server = snapshotter(500);
    const error = await sendError(server.path);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe("snapshotter answered 500 Internal Server Error");
  });

  test("a missing socket is retryable and says the socket does not exist", async () => {
    const error = await sendError(join(dir, "missing.sock"));
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("socket does not exist");
  });

  test("a socket file nobody listens on is a retryable connection refused", async () => {
    const live = socketPath();
    const dead = socketPath();
    const listener = Bun.listen({ unix: live, socket: { data() {} } });
    linkSync(live, dead); // a second name for the socket file outlives the listener
    listener.stop(true);
    const error = await sendError(dead);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe("connection refused");
  });

  test("a socket path that cannot lead to a listener is unreachable, said in words", async () => {
    const file = join(dir, "plain-file");
    writeFileSync(file, "");
    const loop = join(dir, "loop");
    symlinkSync(loop, loop);
    for (const [path, words] of [
      [join(file, "system.sock"), "a part of the socket path is not a folder"],
      [loop, "too many symbolic links in the socket path"],
    ] as const) {
      const error = await sendError(path);
      expect(error.message).toBe(words);
      expect(error.unreachable).toBe(true);
    }
    expect((await sendError(join(dir, "missing.sock"))).unreachable).toBe(true);
  });

  test("a server that never answers is given up on at the timeout", async () => {
    const path = socketPath();
    const server = Bun.serve({ unix: path, fetch: () => new Promise<Response>(() => {}) });
    stops.push(() => server.stop(true));
    const started = performance.now();
    const error = await sendError(path, 200);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe("no answer within 200 ms");
  });

  test("a connection closed in the middle of the response is a DeliveryError", async () => {
    const server = rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
      socket.end();
    });
    const error = await sendError(server.path);
    expect(error.retryable).toBe(true);
  });

  test("a connection closed in the middle of the status line is a DeliveryError", async () => {
    const server = rawServer((socket) => {
      socket.write("HTTP/1.1 20");
      socket.end();
    });
    const error = await sendError(server.path);
    expect(error.retryable).toBe(true);
  });

  test("sequential sends reuse one connection", async () => {
    let requests = 0;
    const server = rawServer((socket) => {
      requests++;
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    const forwarder = new HttpForwarder(server.path);
    for (let i = 0; i < 20; i++) await forwarder.send(encoder.encode(`[${i}]`), 2000);
    expect(requests).toBe(20);
    expect(server.connections()).toBe(1);
  });

  test("a send after a restart of the snapshotter reaches the new one", async () => {
    const path = socketPath();
    const forwarder = new HttpForwarder(path);
    const first = Bun.serve({ unix: path, fetch: () => new Response(null) });
    stops.push(() => first.stop(true));
    await forwarder.send(encoder.encode("[]"), 2000);
    first.stop(true);
    let reached = false;
    const second = Bun.serve({ unix: path, fetch: () => ((reached = true), new Response(null)) });
    stops.push(() => second.stop(true));
    await forwarder.send(encoder.encode("[]"), 2000);
    expect(reached).toBe(true);
  });
});

describe("HttpForwarder against answers it must not trust", () => {
  test("a redirect is not followed and counts as a failed delivery", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fwd-redirect-"));
    let elsewhere = 0;
    const decoy = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => {
      elsewhere++;
      return new Response("stolen");
    } });
    const server = Bun.serve({ unix: join(dir, "s.sock"), fetch: () => new Response(null, {
      status: 307, headers: { location: `http://127.0.0.1:${decoy.port}/stolen` } }) });
    try {
      const error = await new HttpForwarder(join(dir, "s.sock")).send(new Uint8Array([1]), 2000)
        .catch((e) => e);
      expect(error).toBeInstanceOf(DeliveryError);
      expect(error.message).toContain("307");
      expect(elsewhere).toBe(0);
    } finally {
      server.stop(true);
      decoy.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a huge response body is abandoned, not held in memory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fwd-huge-"));
    const chunk = new Uint8Array(1024 * 1024);
    const server = Bun.serve({ unix: join(dir, "s.sock"), fetch: () => new Response(
      new ReadableStream({ pull: (controller) => controller.enqueue(chunk) })) });
    try {
      const before = process.memoryUsage().rss;
      await new HttpForwarder(join(dir, "s.sock")).send(new Uint8Array([1]), 5000);
      expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    } finally {
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
