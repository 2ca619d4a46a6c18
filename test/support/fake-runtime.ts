import { createClient } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Socket } from "bun";
import { Plugin, Runtime } from "../../src/gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { Logger } from "../../src/log/logger.ts";
import { Mux } from "../../src/mux/mux.ts";
import type { ByteStream } from "../../src/socket/stream.ts";
import { WriteQueue } from "../../src/socket/write-queue.ts";
import { TtrpcClient } from "../../src/ttrpc/client.ts";
import { TtrpcServer } from "../../src/ttrpc/server.ts";

/** How the fake runtime misbehaves. */
export interface FakeBehaviour {
  /** Wait this long before answering RegisterPlugin (Infinity: never). */
  registerDelayMs?: number;
  /** Answer RegisterPlugin with this error. */
  registerError?: string;
  /** Never call Configure. */
  skipConfigure?: boolean;
  config?: string;
}

/**
 * A runtime that misbehaves on purpose, for the faults containerd's own code
 * will not produce on demand (a refused registration, a reply that comes
 * late or never). It speaks through the project's own mux and ttrpc layers;
 * interop itself is proven against the real adaptation elsewhere.
 */
export class FakeRuntimeConnection {
  readonly mux: Mux;
  readonly plugin: ReturnType<typeof createClient<typeof Plugin>>;
  readonly registered = Promise.withResolvers<{ name: string; idx: string }>();
  /** Settles once the plugin has answered Configure (resolves either way). */
  readonly configured = Promise.withResolvers<void>();

  constructor(stream: ByteStream, private readonly behaviour: FakeBehaviour) {
    this.mux = new Mux(stream);
    const server = new TtrpcServer(this.mux.open(2), Logger.discard());
    server.register(Runtime, { registerPlugin: (request) => this.register(request) });
    this.plugin = createClient(Plugin, new TtrpcClient(this.mux.open(1)).transport());
  }

  private async register(request: { pluginName: string; pluginIdx: string }) {
    const delay = this.behaviour.registerDelayMs ?? 0;
    if (delay === Infinity) return new Promise<never>(() => {});
    if (delay > 0) await Bun.sleep(delay);
    if (this.behaviour.registerError) {
      throw new ConnectError(this.behaviour.registerError, Code.Unknown);
    }
    this.registered.resolve({ name: request.pluginName, idx: request.pluginIdx });
    if (!this.behaviour.skipConfigure) void this.configure();
    return {};
  }

  private async configure() {
    await this.plugin.configure({
      config: this.behaviour.config ?? "",
      runtimeName: "fake",
      runtimeVersion: "v0",
      NRIVersion: "v0.12.2",
      requestTimeout: 2000n,
      registrationTimeout: 5000n,
    }, { timeoutMs: 2000 }).catch(() => {});
    this.configured.resolve();
  }
}

/**
 * A ByteStream over a Bun socket; what the socket does not take waits until
 * the socket's `drain` handler calls `flush`.
 */
export function socketStream(socket: Socket<undefined>): ByteStream & { flush(): void } {
  const pending = new WriteQueue((bytes) => socket.write(bytes));
  return {
    write: (bytes) => pending.push(bytes),
    close: () => socket.end(),
    flush: () => void pending.flush(),
  };
}

/** Listens where a runtime's NRI socket would be; one FakeRuntimeConnection per dial. */
export function listenFakeRuntime(path: string, behaviour: FakeBehaviour) {
  const connections: FakeRuntimeConnection[] = [];
  const bySocket = new Map<Socket<undefined>, FakeRuntimeConnection>();
  const streams = new Map<Socket<undefined>, { flush(): void }>();
  const listener = Bun.listen({
    unix: path,
    socket: {
      binaryType: "uint8array",
      open(socket) {
        const stream = socketStream(socket);
        const connection = new FakeRuntimeConnection(stream, behaviour);
        streams.set(socket, stream);
        bySocket.set(socket, connection);
        connections.push(connection);
      },
      drain(socket) {
        streams.get(socket)?.flush();
      },
      data(socket, chunk) {
        bySocket.get(socket)?.mux.data(chunk);
      },
      close(socket) {
        bySocket.get(socket)?.mux.closed();
      },
    },
  });
  return { connections, stop: () => listener.stop(true) };
}
