import type { Settings } from "../config/settings.ts";
import { errorText } from "../log/logger.ts";
import { AnnotationError, type PrefetchEntry, parsePrefetchList } from "./annotation.ts";
import { entryRefusal } from "./policy.ts";
import { normalizeReference } from "./reference.ts";

/** What to do with an annotation value, decided before anything is sent. */
export type Prepared =
  | {
    kind: "send";
    body: Uint8Array;
    images: string[];
    /** The list as parsed from the value (before any rewriting). */
    entries: PrefetchEntry[];
    /** Set when image references were rewritten (the body then differs from the value). */
    rewritten?: { from: string[]; to: string[] };
  }
  | { kind: "empty" }
  | { kind: "refused"; reason: string };

/** A value that is sent, and what is sent for it. */
export type PreparedSend = Extract<Prepared, { kind: "send" }>;

const encoder = new TextEncoder();

/**
 * Checks an annotation value by the plugin's rules and the operator's policy
 * and builds the request body. The body is the value byte for byte unless an
 * image reference had to be qualified. Throws AnnotationError when the value
 * is not a valid prefetch list.
 */
export function prepareRequest(
  value: string,
  settings: Pick<Settings, "policy" | "normalizeImageReferences" | "queueMaxBytes">,
): Prepared {
  const { policy, normalizeImageReferences } = settings;
  const body = encoder.encode(value);
  if (body.length > policy.maxAnnotationBytes) {
    throw new AnnotationError(
      `value is ${body.length} bytes, over max_annotation_bytes (${policy.maxAnnotationBytes})`,
    );
  }
  const entries = parsePrefetchList(value);
  if (entries.length === 0) return { kind: "empty" };
  const refusal = entryRefusal(entries, policy);
  if (refusal) return { kind: "refused", reason: refusal };
  const send = sendable(body, entries, normalizeImageReferences);
  // Every request passes through the delivery queue: one larger than it can never be sent.
  if (send.body.length > settings.queueMaxBytes) {
    return {
      kind: "refused",
      reason: `the request is ${send.body.length} bytes, over queue_max_bytes ` +
        `(${settings.queueMaxBytes})`,
    };
  }
  return send;
}

/** The body to send: the value itself, or the list with image references qualified. */
function sendable(body: Uint8Array, entries: PrefetchEntry[], normalize: boolean): PreparedSend {
  const from = entries.map((entry) => entry.image);
  if (!normalize) return { kind: "send", body, images: from, entries };
  const to = entries.map((entry, index) => qualified(entry.image, index));
  if (to.every((image, index) => image === from[index])) {
    return { kind: "send", body, images: to, entries };
  }
  const rewritten = entries.map((entry, index) => ({ ...entry.fields, image: to[index] }));
  return {
    kind: "send",
    body: encoder.encode(JSON.stringify(rewritten)),
    images: to,
    entries,
    rewritten: { from, to },
  };
}

function qualified(image: string, index: number): string {
  try {
    return normalizeReference(image);
  } catch (error) {
    throw new AnnotationError(`element ${index}: ${errorText(error)}`);
  }
}
