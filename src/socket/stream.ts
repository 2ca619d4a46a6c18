import type { Socket } from "bun";
import { WriteQueue } from "./write-queue.ts";

/** Where the byte stream comes from: an inherited descriptor or a Unix socket path. */
export type StreamTarget = { fd: number } | { path: string };

/** The longest path a Unix socket address holds, in bytes (sun_path less its NUL). */
export const MAX_SOCKET_PATH = 107;

/** What the layer above receives from a stream. */
export interface StreamReceiver {
  data(chunk: Uint8Array): void;
  /** Called once, when the peer closed (EOF) or the socket failed. */
  closed(error?: Error): void;
}

/** The byte stream the multiplexer writes to. */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Describes a target for log lines and error messages. */
export function describeTarget(target: StreamTarget): string {
  return "fd" in target ? `fd ${target.fd}` : target.path;
}

/**
 * A Unix stream socket with a write queue. Bun's socket.write() may take only
 * part of a buffer when the kernel's send buffer is full; the rest waits here
 * and is flushed on `drain`, so a caller can always write whole messages.
 */
export class SocketStream implements ByteStream {
  private socket: Socket<undefined> | undefined;
  private readonly pending = new WriteQueue((bytes) => this.socket?.write(bytes) ?? 0);
  private early: Uint8Array[] = []; // data that arrived before a receiver was set
  private receiver: StreamReceiver | undefined;
  private ended = false;
  private endError: Error | undefined;

  /** Connects to the target; rejects with the system error (ENOENT, ECONNREFUSED...). */
  static async open(target: StreamTarget): Promise<SocketStream> {
    const stream = new SocketStream();
    const socket = { binaryType: "uint8array" as const, ...stream.handlers() };
    stream.socket = "fd" in target
      ? await Bun.connect({ fd: target.fd, socket })
      : await Bun.connect({ unix: target.path, socket });
    return stream;
  }

  /** Sets the receiver and hands it whatever arrived before. */
  setReceiver(receiver: StreamReceiver): void {
    this.receiver = receiver;
    for (const chunk of this.early.splice(0)) receiver.data(chunk);
    if (this.ended) receiver.closed(this.endError);
  }

  write(bytes: Uint8Array): void {
    if (this.ended || !this.socket) return;
    this.pending.push(bytes);
  }

  close(): void {
    this.socket?.end();
    this.finish();
  }

  private finish(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    this.pending.clear();
    this.receiver?.closed(error);
  }

  private handlers() {
    return {
      data: (_: Socket<undefined>, chunk: Uint8Array) => {
        if (this.receiver) this.receiver.data(chunk);
        else this.early.push(chunk);
      },
      drain: () => void this.pending.flush(),
      end: () => this.close(), // EOF from the peer: release our end too
      close: (_: Socket<undefined>, error?: Error) => this.finish(error),
      error: (_: Socket<undefined>, error: Error) => this.finish(error),
    };
  }
}
