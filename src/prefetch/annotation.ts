/** The pod annotation that carries the prefetch list. */
export const PREFETCH_ANNOTATION = "containerd.io/nydus-prefetch";

/** One element of the list: which image, and what nydusd should prefetch for it. */
export interface PrefetchEntry {
  image: string;
  prefetch: string;
  /** The element as written, other string fields included. */
  fields: Record<string, string>;
}

/** The annotation's value cannot be forwarded as written; `message` says why. */
export class AnnotationError extends Error {
  override name = "AnnotationError";
}

/**
 * Parses the annotation value by the snapshotter's own rules, made strict:
 * a JSON array of objects whose values are all strings (the snapshotter
 * drops the whole body if one is not, while still answering 200), each with
 * a non-empty "image" and "prefetch". An empty list is valid and asks for
 * nothing (the caller sends nothing for it).
 */
export function parsePrefetchList(value: string): PrefetchEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new AnnotationError(`not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw new AnnotationError(`must be a JSON array of objects, got ${jsonType(parsed)}`);
  }
  return parsed.map((element, index) => parseEntry(element, index));
}

function parseEntry(element: unknown, index: number): PrefetchEntry {
  if (typeof element !== "object" || element === null || Array.isArray(element)) {
    throw new AnnotationError(`element ${index} must be an object, got ${jsonType(element)}`);
  }
  const fields = element as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== "string") {
      throw new AnnotationError(
        `element ${index}: "${key}" must be a string, got ${jsonType(value)}`,
      );
    }
  }
  for (const key of ["image", "prefetch"]) {
    if (!fields[key]) throw new AnnotationError(`element ${index}: "${key}" is missing or empty`);
  }
  const strings = fields as Record<string, string>;
  return { image: strings.image!, prefetch: strings.prefetch!, fields: strings };
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
