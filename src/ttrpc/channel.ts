import type { MuxChannel } from "../mux/mux.ts";
import {
  encodeTtrpcMessage,
  MessageReader,
  type OversizedMessage,
  type TtrpcMessage,
} from "./frame.ts";

/** What a ttrpc endpoint (client or server) gets from its connection. */
export interface MessageHandler {
  message(message: TtrpcMessage): void;
  oversized(message: OversizedMessage): void;
  closed(error?: Error): void;
}

/**
 * One ttrpc connection over one multiplexed channel: whole messages in,
 * whole messages out. Each message is handed to the channel in one piece, so
 * the mux can split it the way the Go reader needs.
 */
export class MessageChannel {
  constructor(private readonly channel: MuxChannel, handler: MessageHandler) {
    const reader = new MessageReader(
      (message) => handler.message(message),
      (message) => handler.oversized(message),
    );
    channel.onData = (chunk) => reader.push(chunk);
    channel.onClose = (error) => handler.closed(error);
  }

  send(streamId: number, type: number, data: Uint8Array, flags = 0): void {
    this.channel.send(encodeTtrpcMessage(streamId, type, data, flags));
  }
}
