import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type Transport,
} from "@connectrpc/connect";
import { runUnaryCall } from "@connectrpc/connect/protocol";
import { RequestSchema, ResponseSchema } from "../gen/ttrpc/request_pb.ts";
import type { MuxChannel } from "../mux/mux.ts";
import { MessageChannel, type MessageHandler } from "./channel.ts";
import { errorFromStatus, oversizedError } from "./errors.ts";
import { MessageType, type OversizedMessage, TTRPC_MAX_DATA, type TtrpcMessage } from "./frame.ts";

interface PendingCall {
  resolve(payload: Uint8Array): void;
  reject(error: ConnectError): void;
}

/**
 * A unary ttrpc client on one connection. Stream ids are odd, start at 1 and
 * increase by 2; the id is taken and the request written in one synchronous
 * step, so ids reach the wire in order, as Go's server requires.
 */
export class TtrpcClient implements MessageHandler {
  private readonly channel: MessageChannel;
  private readonly pending = new Map<number, PendingCall>();
  private nextStreamId = 1;
  private closedWith: ConnectError | undefined;

  constructor(mux: MuxChannel) {
    this.channel = new MessageChannel(mux, this);
  }

  /** Calls `service/method` with an encoded request; resolves to the encoded reply. */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    timeoutMs: number | undefined,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(ConnectError.from(signal.reason));
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;
    const timeoutNano = timeoutMs === undefined ? 0n : BigInt(Math.round(timeoutMs * 1e6));
    const request = toBinary(
      RequestSchema,
      create(RequestSchema, { service, method, payload, timeoutNano }),
    );
    if (request.length > TTRPC_MAX_DATA) {
      return Promise.reject(oversizedError(request.length, TTRPC_MAX_DATA));
    }
    const reply = this.awaitReply(streamId, signal);
    this.channel.send(streamId, MessageType.Request, request);
    return reply;
  }

  /** A connect Transport, for `createClient(Service, client.transport())`. */
  transport(): Transport {
    return {
      unary: (method, signal, timeoutMs, header, input, contextValues) =>
        runUnaryCall({
          signal,
          timeoutMs,
          req: {
            stream: false,
            service: method.parent,
            method,
            requestMethod: "POST",
            url: `/${method.parent.typeName}/${method.name}`,
            header: new Headers(header),
            contextValues: contextValues ?? createContextValues(),
            message: input,
          },
          next: async (req) => ({
            stream: false,
            service: method.parent,
            method,
            header: new Headers(),
            trailer: new Headers(),
            message: await this.callMethod(method, req.message, timeoutMs, req.signal),
          }),
        }),
      stream: () =>
        Promise.reject(new ConnectError("ttrpc streaming is not supported", Code.Unimplemented)),
    };
  }

  message({ streamId, type, data }: TtrpcMessage): void {
    const call = this.pending.get(streamId);
    if (!call) return; // a late reply to an abandoned call, as Go drops it
    this.pending.delete(streamId);
    if (type === MessageType.Data) {
      call.reject(new ConnectError('unexpected "data" message received', Code.Internal));
    } else if (type === MessageType.Response) {
      this.settle(call, data);
    } else {
      call.reject(new ConnectError(`unexpected ttrpc message type ${type}`, Code.Internal));
    }
  }

  oversized({ streamId, length }: OversizedMessage): void {
    const call = this.pending.get(streamId);
    this.pending.delete(streamId);
    call?.reject(oversizedError(length, TTRPC_MAX_DATA));
  }

  closed(error?: Error): void {
    this.closedWith = new ConnectError("ttrpc: closed", Code.Unavailable, undefined, undefined,
      error);
    for (const call of this.pending.values()) call.reject(this.closedWith);
    this.pending.clear();
  }

  private async callMethod<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: Parameters<typeof toBinary<I>>[1],
    timeoutMs: number | undefined,
    signal: AbortSignal,
  ) {
    const payload = toBinary(method.input, input);
    const reply = await this.call(method.parent.typeName, method.name, payload, timeoutMs,
      signal);
    return fromBinary(method.output, reply);
  }

  private settle(call: PendingCall, data: Uint8Array): void {
    try {
      const response = fromBinary(ResponseSchema, data);
      const error = errorFromStatus(response.status);
      if (error) call.reject(error);
      else call.resolve(response.payload);
    } catch (error) {
      call.reject(new ConnectError(`bad ttrpc response: ${error}`, Code.Internal));
    }
  }

  private awaitReply(streamId: number, signal?: AbortSignal): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(streamId);
        reject(ConnectError.from(signal!.reason));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.pending.set(streamId, {
        resolve: (payload) => (done(), resolve(payload)),
        reject: (error) => (done(), reject(error)),
      });
    });
  }
}
