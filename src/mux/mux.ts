import { ByteQueue } from "../socket/byte-queue.ts";
import type { ByteStream, StreamReceiver } from "../socket/stream.ts";
import {
  encodeMessageFrames,
  MUX_HEADER_SIZE,
  MUX_MAX_PAYLOAD,
} from "./frame.ts";

/** The upper layer's view of one multiplexed connection: a byte stream. */
export interface MuxChannel {
  /** Sends one whole upper-layer message (split as Go's reader needs). */
  send(message: Uint8Array): void;
  /** Set by the upper layer: called with each slice of this connection's bytes. */
  onData: (chunk: Uint8Array) => void;
  /** Set by the upper layer: called once when the whole socket is gone. */
  onClose: (error?: Error) => void;
}

/** Raised (and the socket closed) when the peer breaks the framing. */
export class MuxProtocolError extends Error {
  override name = "MuxProtocolError";
}

/**
 * Splits one socket into NRI's logical connections. Opening a connection is
 * local (there is no handshake); frames for ids nobody opened are dropped, as
 * the Go multiplexer does. Each frame's payload is handed up as a slice of the
 * connection's byte stream: frames need not line up with upper-layer messages.
 */
export class Mux implements StreamReceiver {
  private readonly queue = new ByteQueue();
  private readonly channels = new Map<number, MuxChannel>();
  private isClosed = false;
  private readonly ended = Promise.withResolvers<Error | undefined>();

  constructor(private readonly stream: ByteStream) {}

  /** Opens connection `connId` on this end. */
  open(connId: number): MuxChannel {
    if (connId === 0) throw new RangeError("mux connection id 0 is reserved");
    const channel: MuxChannel = {
      send: (message) => this.send(connId, message),
      onData: () => {},
      onClose: () => {},
    };
    this.channels.set(connId, channel);
    return channel;
  }

  /** Resolves when the socket is gone, with the error if it failed. */
  get done(): Promise<Error | undefined> {
    return this.ended.promise;
  }

  /** Closes the socket and tells every channel. */
  close(error?: Error): void {
    if (this.isClosed) return;
    this.closed(error);
    this.stream.close();
  }

  data(chunk: Uint8Array): void {
    if (this.isClosed) return;
    this.queue.push(chunk);
    try {
      this.deliverFrames();
    } catch (error) {
      this.close(error as Error);
    }
  }

  closed(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (!error && this.queue.length > 0) {
      error = new MuxProtocolError(
        `connection closed inside a frame (${this.queue.length} bytes of it received)`,
      );
    }
    for (const channel of this.channels.values()) channel.onClose(error);
    this.ended.resolve(error);
  }

  private send(connId: number, message: Uint8Array): void {
    if (!this.isClosed) this.stream.write(encodeMessageFrames(connId, message));
  }

  private deliverFrames(): void {
    while (this.queue.length >= MUX_HEADER_SIZE) {
      const connId = this.queue.peekUint32(0);
      const length = this.queue.peekUint32(4);
      if (length > MUX_MAX_PAYLOAD) {
        throw new MuxProtocolError(
          `mux frame for connection ${connId} declares ${length} bytes, ` +
            `more than the ${MUX_MAX_PAYLOAD}-byte limit`,
        );
      }
      if (this.queue.length < MUX_HEADER_SIZE + length) return;
      this.queue.skip(MUX_HEADER_SIZE);
      const payload = this.queue.read(length);
      const channel = this.channels.get(connId);
      if (channel && length > 0) channel.onData(payload);
    }
  }
}
