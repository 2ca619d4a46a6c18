import { create, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  createServiceImplSpec,
  type HandlerContext,
  type MethodImplSpec,
  type ServiceImpl,
} from "@connectrpc/connect";
import { type Request, RequestSchema, ResponseSchema } from "../gen/ttrpc/request_pb.ts";
import { errorText, type Logger } from "../log/logger.ts";
import type { MuxChannel } from "../mux/mux.ts";
import { MessageChannel, type MessageHandler } from "./channel.ts";
import { oversizedError, statusFromError } from "./errors.ts";
import { MessageType, type OversizedMessage, TTRPC_MAX_DATA, type TtrpcMessage } from "./frame.ts";

type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

const NO_HEADERS = new Headers();
const NO_VALUES = createContextValues();

/**
 * A unary ttrpc server on one connection. Methods are found by the wire names
 * of the generated service descriptors, so a method added to the .proto is
 * dispatched without new code here. Each request runs concurrently and is
 * answered when it completes, as Go's server does.
 */
export class TtrpcServer implements MessageHandler {
  private readonly services = new Map<string, Map<string, MethodImplSpec>>();
  private readonly channel: MessageChannel;
  private readonly connection = new AbortController();
  private readonly active = new Set<number>();
  private lastStreamId = 0;

  constructor(mux: MuxChannel, private readonly log: Logger) {
    this.channel = new MessageChannel(mux, this);
  }

  /** Serves `service`; methods missing from `impl` answer Unimplemented. */
  register<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    const spec = createServiceImplSpec<S>(service, impl);
    const methods = new Map<string, MethodImplSpec>();
    for (const method of service.methods) {
      const methodSpec = spec.methods[method.localName];
      if (methodSpec) methods.set(method.name, methodSpec);
    }
    this.services.set(service.typeName, methods);
  }

  message(message: TtrpcMessage): void {
    const { streamId, type } = message;
    if (streamId % 2 === 0) {
      this.reply(streamId, invalid("StreamID must be odd for client initiated streams"));
    } else if (type === MessageType.Request) {
      this.request(message);
    } else if (type === MessageType.Data) {
      this.data(streamId);
    } else {
      this.log.debug("ttrpc message of unknown type ignored", { type, stream: streamId });
    }
  }

  oversized({ streamId, length }: OversizedMessage): void {
    this.log.warn("ttrpc message over the size limit skipped", { stream: streamId, length });
    this.reply(streamId, oversizedError(length, TTRPC_MAX_DATA));
  }

  closed(error?: Error): void {
    this.connection.abort(error ?? new ConnectError("ttrpc: closed", Code.Unavailable));
  }

  private request({ streamId, data }: TtrpcMessage): void {
    if (streamId <= this.lastStreamId) {
      this.reply(streamId, invalid("StreamID cannot be re-used and must increment"));
      return;
    }
    this.lastStreamId = streamId;
    this.active.add(streamId);
    this.dispatch(data, performance.now())
      .then((payload) => this.reply(streamId, payload), (error) => this.reply(streamId, error))
      .finally(() => this.active.delete(streamId));
  }

  /** Unary calls carry no Data frames; one for a closed stream gets an error. */
  private data(streamId: number): void {
    if (this.active.has(streamId)) {
      // debug, not warn: a peer could otherwise grow the log as fast as it sends
      this.log.debug("ttrpc data frame on a unary call ignored", { stream: streamId });
      return;
    }
    this.reply(streamId, invalid("StreamID is no longer active"));
  }

  /** `receivedAt`: when the message was read whole, where its deadline is counted from. */
  private async dispatch(data: Uint8Array, receivedAt: number): Promise<Uint8Array> {
    let request: Request;
    try {
      request = fromBinary(RequestSchema, data);
    } catch (error) {
      throw invalid(`unmarshal request error: ${errorText(error)}`);
    }
    return this.invoke(request, this.lookup(request), receivedAt);
  }

  private lookup({ service, method }: Request): UnarySpec {
    const methods = this.services.get(service);
    if (!methods) throw new ConnectError(`service ${service}`, Code.Unimplemented);
    const spec = methods.get(method);
    if (!spec || spec.kind !== "unary") {
      throw new ConnectError(`method ${method}`, Code.Unimplemented);
    }
    return spec;
  }

  private async invoke(
    request: Request,
    spec: UnarySpec,
    receivedAt: number,
  ): Promise<Uint8Array> {
    const input = decodeInput(spec, request.payload);
    const output = await spec.impl(input, this.context(request, spec, receivedAt));
    return toBinary(spec.method.output, create(spec.method.output, output));
  }

  /**
   * A light HandlerContext: connect's own builds headers, an abort controller
   * and a timer per call, which cost a third of a pod start's CPU here. As in
   * Go's ttrpc, the deadline is cooperative: `timeoutMs()` says what is left,
   * and `signal` aborts when the connection closes.
   */
  private context(request: Request, spec: UnarySpec, receivedAt: number): HandlerContext {
    const limit = timeoutMs(request.timeoutNano);
    return {
      service: spec.method.parent,
      method: spec.method,
      signal: this.connection.signal,
      timeoutMs: () => limit === undefined
        ? undefined
        : Math.max(limit - (performance.now() - receivedAt), 0),
      protocolName: "ttrpc",
      requestMethod: "POST",
      url: `/${request.service}/${request.method}`,
      // ttrpc carries no headers; these are empty and what handlers write is dropped.
      requestHeader: NO_HEADERS,
      responseHeader: new Headers(),
      responseTrailer: new Headers(),
      values: NO_VALUES,
    };
  }

  private reply(streamId: number, result: Uint8Array | unknown): void {
    let response = result instanceof Uint8Array
      ? create(ResponseSchema, { payload: result })
      : create(ResponseSchema, { status: statusFromError(result) });
    let data = toBinary(ResponseSchema, response);
    if (data.length > TTRPC_MAX_DATA) {
      response = create(ResponseSchema, {
        status: statusFromError(oversizedError(data.length, TTRPC_MAX_DATA)),
      });
      data = toBinary(ResponseSchema, response);
    }
    if (response.status) {
      const { code, message } = response.status;
      this.log.debug("ttrpc call answered with an error", { stream: streamId, code, message });
    }
    this.channel.send(streamId, MessageType.Response, data);
  }
}

function decodeInput(spec: UnarySpec, payload: Uint8Array) {
  try {
    return fromBinary(spec.method.input, payload);
  } catch (error) {
    throw new ConnectError(
      `ttrpc: error unmarshalling payload: ${errorText(error)}`,
      Code.Internal,
    );
  }
}

/** The longest delay a timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** ttrpc's timeout_nano as connect's timeoutMs: 0 means none; <0 has expired. */
function timeoutMs(timeoutNano: bigint): number | undefined {
  if (timeoutNano === 0n) return undefined;
  return Math.min(Math.max(Number(timeoutNano) / 1e6, 0), MAX_TIMER_MS);
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
