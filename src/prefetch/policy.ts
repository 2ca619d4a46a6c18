import { posix } from "node:path";
import type { Policy } from "../config/settings.ts";
import type { PrefetchEntry } from "./annotation.ts";

const URL_SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

/**
 * Why the operator's policy refuses this pod's request, or undefined when it
 * may go. Checked before anything is sent; a refused pod still starts.
 */
export function namespaceRefusal(namespace: string, policy: Policy): string | undefined {
  const allowed = policy.allowedNamespaces;
  if (allowed.length === 0 || allowed.includes(namespace)) return undefined;
  return `namespace "${namespace}" is not in allowed_namespaces`;
}

/** Why the policy refuses one of the entries' prefetch values, or undefined. */
export function entryRefusal(entries: PrefetchEntry[], policy: Policy): string | undefined {
  for (const [index, entry] of entries.entries()) {
    const reason = prefetchRefusal(entry.prefetch, policy);
    if (reason) return `element ${index}: ${reason}`;
  }
  return undefined;
}

function prefetchRefusal(value: string, policy: Policy): string | undefined {
  const scheme = URL_SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme && policy.allowedUrlSchemes.length > 0 &&
    !policy.allowedUrlSchemes.includes(scheme)) {
    return `URL scheme "${scheme}" is not in allowed_url_schemes`;
  }
  const prefixes = policy.allowedPrefetchPrefixes;
  if (prefixes.length === 0) return undefined;
  const normal = normalForm(value, scheme);
  if (normal !== value) {
    return `prefetch "${value}" is not in normal form (it resolves to "${normal}")`;
  }
  if (prefixes.some((prefix) => underPrefix(value, prefix))) return undefined;
  return `prefetch "${value}" is not under any of allowed_prefetch_prefixes`;
}

/** A path with "." and ".." resolved; a URL as the URL parser resolves it (%2e too). */
function normalForm(value: string, scheme: string | undefined): string {
  if (!scheme) return posix.normalize(value);
  try {
    return new URL(value).href;
  } catch {
    return "(not a valid URL)";
  }
}

/** Prefixes match whole path segments: "/a/b" covers "/a/b" and "/a/b/c", not "/a/bc". */
function underPrefix(value: string, prefix: string): boolean {
  if (prefix.endsWith("/")) return value.startsWith(prefix);
  return value === prefix || value.startsWith(`${prefix}/`);
}
