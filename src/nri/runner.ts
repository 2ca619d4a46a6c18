import { statSync } from "node:fs";
import { errorText, type Logger } from "../log/logger.ts";
import { MuxProtocolError } from "../mux/mux.ts";
import { describeTarget, MAX_SOCKET_PATH, type StreamTarget } from "../socket/stream.ts";
import { RegistrationError, runSession, type SessionOptions } from "./session.ts";

export type RunOptions = Omit<SessionOptions, "target">;

/**
 * Pre-launched: the runtime started us with a connected socket. One session;
 * when it ends the runtime has dropped us or is gone, and it relaunches its
 * plugins on its next start, so we exit.
 */
export async function runPrelaunched(fd: number, options: RunOptions): Promise<number> {
  try {
    await runSession({ ...options, target: { fd } });
    options.log.info("runtime closed the connection; exiting");
    return 0;
  } catch (error) {
    options.log.error("plugin stopped; exiting", { error: errorText(error) });
    return 1;
  }
}

export interface ExternalOptions extends RunOptions {
  socketPath: string;
  /** Backoff between connection attempts. */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Stop after this many sessions (for tests); forever when undefined. */
  maxSessions?: number;
}

/**
 * External: dial the runtime's socket, and whenever the connection cannot be
 * made or the runtime goes away, wait (with backoff) and dial again. Only a
 * refused registration ends it, since trying again cannot help.
 */
export async function runExternal(options: ExternalOptions): Promise<number> {
  const target: StreamTarget = { path: options.socketPath };
  const initial = options.initialRetryMs ?? 500;
  let delay = initial;
  let lastProblem = "";
  for (let sessions = 0; sessions !== options.maxSessions;) {
    try {
      await runSession({ ...options, target });
      sessions++;
      delay = initial;
      lastProblem = "";
      options.log.warn("runtime closed the connection; reconnecting", {
        socket: options.socketPath,
      });
    } catch (error) {
      if (error instanceof RegistrationError) {
        options.log.error("registration refused; exiting", { error: error.message });
        return 1;
      }
      if (error instanceof MuxProtocolError) {
        options.log.error("runtime connection broken; reconnecting", { error: error.message });
      } else {
        lastProblem = reportDialFailure(error, target, lastProblem, options.log);
      }
    }
    await sleep(delay);
    delay = Math.min(delay * 2, options.maxRetryMs ?? 30_000);
  }
  return 0;
}

/** Logs a failure once per distinct problem (at debug while it repeats). */
function reportDialFailure(
  error: unknown,
  target: StreamTarget,
  lastProblem: string,
  log: Logger,
): string {
  const problem = dialProblem(error, target);
  if (problem === lastProblem) log.debug("still cannot reach the runtime", { error: problem });
  else log.error("cannot reach the runtime; will retry", { error: problem });
  return problem;
}

function dialProblem(error: unknown, target: StreamTarget): string {
  const code = (error as NodeJS.ErrnoException).code;
  const where = describeTarget(target);
  const notSocket = "path" in target && pathProblem(target.path);
  if (notSocket) return notSocket;
  if (code === "ENOENT") {
    return `NRI socket ${where} does not exist: NRI may be disabled in containerd ` +
      `([plugins."io.containerd.nri.v1.nri"] disable = true) or external plugins ` +
      `refused (disable_connections = true)`;
  }
  if (code === "ECONNREFUSED") return `connection refused on NRI socket ${where}`;
  if (code === "EACCES") return `no permission to connect to NRI socket ${where}`;
  return errorText(error);
}

/** What is wrong with a socket path itself, when something is. */
function pathProblem(path: string): string | undefined {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    return `NRI socket path ${path} is longer than a Unix socket path may be ` +
      `(${MAX_SOCKET_PATH} bytes)`;
  }
  try {
    if (!statSync(path).isSocket()) return `NRI socket ${path} exists but is not a socket`;
  } catch {
    // missing: the caller's ENOENT message says what that means
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
