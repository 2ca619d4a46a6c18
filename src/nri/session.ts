import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Plugin, Runtime } from "../gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { errorText, type Logger } from "../log/logger.ts";
import { PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN } from "../mux/frame.ts";
import { Mux, MuxProtocolError } from "../mux/mux.ts";
import { describeTarget, SocketStream, type StreamTarget } from "../socket/stream.ts";
import { TtrpcClient } from "../ttrpc/client.ts";
import { TtrpcServer } from "../ttrpc/server.ts";
import type { PluginHandler, RuntimeInfo } from "./handler.ts";
import type { Identity } from "./identity.ts";
import {
  ConfigureRefusedError,
  PluginService,
  type PluginServiceOptions,
} from "./plugin-service.ts";

/** How long a refused Configure's reply is given to reach the runtime before we close. */
const REFUSAL_LINGER_MS = 1000;

/** The NRI protocol version this plugin speaks, sent in RegisterPlugin. */
export const NRI_PROTOCOL_VERSION = "v0.12.2";

export interface SessionOptions extends PluginServiceOptions {
  target: StreamTarget;
  identity: Identity;
  handler: PluginHandler;
  log: Logger;
  /** How long to wait for the RegisterPlugin reply. */
  registerTimeoutMs: number;
  /** How long to wait for Configure once registered. */
  configureTimeoutMs: number;
}

/** The runtime answered RegisterPlugin with an error: retrying will not help. */
export class RegistrationError extends Error {
  override name = "RegistrationError";
}

/** A wait on the runtime ran out. */
export class RuntimeTimeoutError extends Error {
  override name = "RuntimeTimeoutError";
}

/**
 * One connection to the runtime, from dial to close: serve the Plugin
 * service on connection 1, register on connection 2, wait for Configure,
 * then serve events until the socket closes. Resolves when the runtime
 * closed the connection; rejects when it could not be set up, or when the
 * peer broke the framing (MuxProtocolError).
 */
export async function runSession(options: SessionOptions): Promise<void> {
  const stream = await SocketStream.open(options.target);
  const mux = new Mux(stream);
  const service = new PluginService(options.handler, options.log, options);
  const server = new TtrpcServer(mux.open(PLUGIN_SERVICE_CONN), options.log);
  server.register(Plugin, service.impl());
  const client = new TtrpcClient(mux.open(RUNTIME_SERVICE_CONN));
  stream.setReceiver(mux);
  try {
    await register(client, options);
    await awaitConfigure(service, mux, options);
  } catch (error) {
    if (error instanceof ConfigureRefusedError) {
      // The refusal is still on its way out: closing now could leave the runtime with
      // nothing but "ttrpc: closed" instead of the reason. It closes once it has read it.
      await Promise.race([mux.done, Bun.sleep(REFUSAL_LINGER_MS)]);
    }
    mux.close();
    throw error;
  }
  const error = await mux.done;
  if (error instanceof MuxProtocolError) throw error;
  if (error) options.log.debug("runtime connection ended", { error: errorText(error) });
}

async function register(client: TtrpcClient, options: SessionOptions): Promise<void> {
  const { identity, registerTimeoutMs, log } = options;
  const runtime = createClient(Runtime, client.transport());
  try {
    await runtime.registerPlugin(
      { pluginName: identity.name, pluginIdx: identity.idx, NRIVersion: NRI_PROTOCOL_VERSION },
      { timeoutMs: registerTimeoutMs },
    );
  } catch (error) {
    throw registrationFailure(error, options);
  }
  log.info("plugin registered", {
    plugin: `${identity.idx}-${identity.name}`,
    socket: describeTarget(options.target),
  });
}

function registrationFailure(error: unknown, options: SessionOptions): Error {
  const cause = ConnectError.from(error);
  const where = describeTarget(options.target);
  if (cause.code === Code.DeadlineExceeded) {
    return new RuntimeTimeoutError(
      `no RegisterPlugin reply from the runtime on ${where} ` +
        `within ${options.registerTimeoutMs} ms`,
    );
  }
  if (cause.code === Code.Unavailable) {
    const why = cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
    return new Error(`runtime on ${where} closed the connection during registration${why}`);
  }
  // The runtime's own refusals (bad name or index) arrive as Unknown or InvalidArgument;
  // anything else (an undecodable or unexpected reply) may pass, so it is retried.
  if (REFUSALS.has(cause.code)) {
    return new RegistrationError(`runtime on ${where} refused registration: ${cause.rawMessage}`);
  }
  return new Error(`registration with the runtime on ${where} failed: ${cause.rawMessage}`);
}

const REFUSALS = new Set([Code.Unknown, Code.InvalidArgument, Code.AlreadyExists,
  Code.PermissionDenied, Code.FailedPrecondition]);

async function awaitConfigure(
  service: PluginService,
  mux: Mux,
  options: SessionOptions,
): Promise<RuntimeInfo> {
  const { promise: timedOut, resolve } = Promise.withResolvers<"timeout">();
  const timer = setTimeout(() => resolve("timeout"), options.configureTimeoutMs);
  try {
    const result = await Promise.race([service.whenConfigured(), timedOut, mux.done]);
    if (result === "timeout") {
      throw new RuntimeTimeoutError(
        `no Configure from the runtime on ${describeTarget(options.target)} ` +
          `within ${options.configureTimeoutMs} ms of registering`,
      );
    }
    if (!result || result instanceof Error) {
      throw new Error(`runtime on ${describeTarget(options.target)} closed the connection ` +
        `before Configure${result ? `: ${result.message}` : ""}`);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}
