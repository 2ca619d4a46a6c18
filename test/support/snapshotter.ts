import type { Server } from "bun";
import { linkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One request as the snapshotter's system socket received it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  at: number;
  /** The status it was answered with (undefined while unanswered). */
  status?: number;
}

/** How the fake snapshotter answers; changeable while it runs. */
export interface Behaviour {
  status: number;
  delayMs: number;
  /** Accept the request and never answer. */
  hang: boolean;
  /** Per-request override, by arrival number (0-based). */
  plan?: (n: number) => { status?: number; delayMs?: number } | undefined;
}

/**
 * A stand-in for nydus-snapshotter's system controller on a Unix socket in a
 * temporary folder: records every request and answers as told (200 by default,
 * as the real one always does).
 */
export class RecordingSnapshotter {
  readonly requests: ReceivedRequest[] = [];
  readonly behaviour: Behaviour = { status: 200, delayMs: 0, hang: false };
  private server: Server<undefined> | undefined;

  private constructor(readonly dir: string, readonly socket: string) {}

  static start(dir = mkdtempSync(join(tmpdir(), "snapshotter-"))): RecordingSnapshotter {
    const snapshotter = new RecordingSnapshotter(dir, join(dir, "system.sock"));
    snapshotter.listen();
    return snapshotter;
  }

  /** Starts (again) on the same socket path. */
  listen(): void {
    this.server = Bun.serve({ unix: this.socket, fetch: (request) => this.answer(request) });
  }

  /** Stops listening and removes the socket file, as a crashed snapshotter would. */
  async stopListening(): Promise<void> {
    await this.server?.stop(true);
    this.server = undefined;
    rmSync(this.socket, { force: true });
  }

  /** Waits until `count` requests have arrived. */
  async waitForRequests(count: number, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`snapshotter got ${this.requests.length} of ${count} requests`);
      }
      await Bun.sleep(10);
    }
    return this.requests;
  }

  async close(): Promise<void> {
    await this.stopListening();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async answer(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const received: ReceivedRequest = {
      method: request.method,
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body: new Uint8Array(await request.arrayBuffer()),
      at: Date.now(),
    };
    const override = this.behaviour.plan?.(this.requests.length);
    this.requests.push(received);
    const { status, delayMs, hang } = { ...this.behaviour, ...override };
    if (hang) return new Promise<Response>(() => {});
    if (delayMs > 0) await Bun.sleep(delayMs);
    received.status = status;
    return new Response(null, { status });
  }
}

/**
 * A socket file with nothing listening behind it: connecting is refused
 * (ECONNREFUSED), as after a snapshotter crash that left its socket behind.
 */
export function refusingSocket(path: string): void {
  const listener = Bun.listen({ unix: `${path}.live`, socket: { data() {} } });
  linkSync(`${path}.live`, path);
  listener.stop(true);
  rmSync(`${path}.live`, { force: true });
}

/** A server that reads a request, writes half a response, then closes. */
export function halfAnswering(path: string): { stop(): void } {
  const listener = Bun.listen({
    unix: path,
    socket: {
      data(socket) {
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        socket.end();
      },
    },
  });
  return { stop: () => listener.stop(true) };
}
