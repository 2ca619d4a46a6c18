import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Status, StatusSchema } from "../gen/ttrpc/request_pb.ts";

/**
 * ttrpc carries gRPC status codes, and @connectrpc/connect's Code enum has the
 * same numbers (1..16), so ConnectError is the one error type of this layer.
 * The message on the wire is ConnectError.rawMessage, without connect's
 * "[code]" prefix.
 */
export function statusFromError(error: unknown): Status {
  const connectError = ConnectError.from(error);
  return create(StatusSchema, {
    code: connectError.code,
    message: connectError.rawMessage,
  });
}

/** A status from the peer as an error; undefined when it means success. */
export function errorFromStatus(status: Status | undefined): ConnectError | undefined {
  if (!status || status.code === 0) return undefined;
  const known = status.code >= Code.Canceled && status.code <= Code.Unauthenticated;
  return new ConnectError(status.message, known ? (status.code as Code) : Code.Unknown);
}

/** The text Go's ttrpc uses for a message over its size limit ("exceed" sic). */
export function oversizedError(length: number, limit: number): ConnectError {
  return new ConnectError(
    `message length ${length} exceed maximum message size of ${limit}`,
    Code.ResourceExhausted,
  );
}
