/** The snapshotter's endpoint for prefetch lists. */
export const PREFETCH_PATH = "/api/v1/prefetch";

/** Sends one request body to the snapshotter. An interface, so tests can fail it. */
export interface Forwarder {
  /** Where requests go, for log lines. */
  readonly target: string;
  /** Resolves on 200; rejects with a DeliveryError otherwise. */
  send(body: Uint8Array, timeoutMs: number): Promise<void>;
  close?(): void;
}

/**
 * A delivery that failed; `retryable` says whether trying again can help, and
 * `unreachable` that nothing listens on the socket (so it will not help soon).
 */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  constructor(message: string, readonly retryable: boolean, readonly unreachable = false) {
    super(message);
  }
}

/**
 * PUT over the snapshotter's Unix socket with Bun's fetch, which keeps the
 * connection alive between requests (one socket, not one per pod).
 */
export class HttpForwarder implements Forwarder {
  constructor(readonly target: string) {}

  async send(body: Uint8Array, timeoutMs: number): Promise<void> {
    let response: Response;
    try {
      response = await fetch(`http://unix${PREFETCH_PATH}`, {
        method: "PUT",
        unix: this.target,
        body,
        redirect: "manual", // a Unix-socket API has no business sending us elsewhere
        signal: AbortSignal.timeout(Math.max(timeoutMs, 1)),
      });
      await drainBody(response);
    } catch (error) {
      throw this.transportError(error, timeoutMs);
    }
    if (response.status !== 200) {
      throw new DeliveryError(
        `snapshotter answered ${response.status} ${response.statusText}`.trim(),
        response.status >= 500,
      );
    }
  }


  private transportError(error: unknown, timeoutMs: number): DeliveryError {
    const { name, code } = error as { name?: string; code?: string };
    if (name === "TimeoutError" || name === "AbortError") {
      return new DeliveryError(`no answer within ${timeoutMs} ms`, true);
    }
    const unreachable = code ? UNREACHABLE[code] : undefined;
    if (unreachable) return new DeliveryError(unreachable, true, true);
    const text = error instanceof Error ? error.message : String(error);
    return new DeliveryError(code && !text.startsWith(code) ? `${code}: ${text}` : text, true);
  }
}

/** Failures that say nothing listens on the socket path, in words. */
const UNREACHABLE: Record<string, string> = {
  ENOENT: "socket does not exist (is nydus-snapshotter running with [system] enable = true?)",
  ECONNREFUSED: "connection refused",
  ENOTDIR: "a part of the socket path is not a folder",
  ELOOP: "too many symbolic links in the socket path",
  ENAMETOOLONG: "the socket path is longer than a Unix socket path may be",
  EACCES: "no permission to connect to the socket",
  ENOTSOCK: "the socket path is not a socket",
};

/** The snapshotter answers with an empty body; more than this is not read. */
const MAX_RESPONSE_BODY = 64 * 1024;

/**
 * Reads a small body to its end, so the connection can be reused; a larger
 * one is abandoned instead of being held in memory.
 */
async function drainBody(response: Response): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  for (let total = 0; ;) {
    const { done, value } = await reader.read();
    if (done) return;
    total += value.length;
    if (total > MAX_RESPONSE_BODY) {
      await reader.cancel();
      return;
    }
  }
}
