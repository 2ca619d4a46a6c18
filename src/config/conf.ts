import { parse, TomlError } from "smol-toml";
import { LEVELS, type Level } from "../log/logger.ts";
import { MAX_SOCKET_PATH } from "../socket/stream.ts";
import { parseDuration } from "./duration.ts";

/** A .conf file that cannot be used; the message names the file and the key. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The keys a .conf may set; each is optional. */
export interface ConfFile {
  socketAddress?: string;
  logLevel?: Level;
  logFile?: string;
  syslogSocket?: string;
  failPodOnError?: boolean;
  normalizeImageReferences?: boolean;
  retryWindowMs?: number;
  queueMaxRequests?: number;
  queueMaxBytes?: number;
  allowedNamespaces?: string[];
  allowedPrefetchPrefixes?: string[];
  allowedUrlSchemes?: string[];
  maxAnnotationBytes?: number;
}

type Reader = (value: unknown, key: string) => unknown;

/** .conf key → [ConfFile field, how to read its value]. */
const KEYS: Record<string, [keyof ConfFile, Reader]> = {
  socket_address: ["socketAddress", socketPath],
  log_level: ["logLevel", level],
  log_file: ["logFile", absolutePath],
  syslog_socket: ["syslogSocket", pathOrEmpty],
  fail_pod_on_error: ["failPodOnError", boolean],
  normalize_image_references: ["normalizeImageReferences", boolean],
  retry_window: ["retryWindowMs", duration],
  queue_max_requests: ["queueMaxRequests", positiveInteger],
  queue_max_bytes: ["queueMaxBytes", positiveInteger],
  allowed_namespaces: ["allowedNamespaces", stringList],
  allowed_prefetch_prefixes: ["allowedPrefetchPrefixes", prefixList],
  allowed_url_schemes: ["allowedUrlSchemes", schemeList],
  max_annotation_bytes: ["maxAnnotationBytes", positiveInteger],
};

export interface ParsedConf {
  conf: ConfFile;
  /** Keys this version does not know: reported, not fatal. */
  unknownKeys: string[];
}

/**
 * Parses a .conf (flat TOML, as in the nydus documentation's example).
 * `source` names the file, or "the runtime's Configure" for text from NRI.
 */
export function parseConf(text: string, source: string): ParsedConf {
  let table: Record<string, unknown>;
  try {
    table = parse(text, { integersAsBigInt: true }); // so 1.0 is told apart from 1
  } catch (error) {
    if (!(error instanceof TomlError)) throw new ConfigError(`${source}: ${error}`);
    const detail = error.message.split("\n")[0];
    throw new ConfigError(
      `${source}:${error.line}:${error.column}: not valid TOML: ${detail}`);
  }
  const conf: ConfFile = {};
  const unknownKeys: string[] = [];
  for (const [key, value] of Object.entries(table)) {
    const known = KEYS[key];
    if (!known) {
      unknownKeys.push(key);
      continue;
    }
    const [field, read] = known;
    try {
      Object.assign(conf, { [field]: read(value, key) });
    } catch (error) {
      throw new ConfigError(`${source}: ${(error as Error).message}`);
    }
  }
  return { conf, unknownKeys };
}

/**
 * The log keys of a .conf that parseConf refused, each one that is valid on
 * its own, so the refusal itself is logged where the operator looks.
 */
export function readLogKeys(text: string): ConfFile {
  let table: Record<string, unknown>;
  try {
    table = parse(text, { integersAsBigInt: true });
  } catch {
    return {};
  }
  const conf: ConfFile = {};
  for (const key of ["log_level", "log_file", "syslog_socket"]) {
    if (!(key in table)) continue;
    const [field, read] = KEYS[key]!;
    try {
      Object.assign(conf, { [field]: read(table[key], key) });
    } catch {
      // this key is bad too: its default stands
    }
  }
  return conf;
}

/** How much of a bad value an error quotes: it goes into containerd's log too. */
const MAX_SHOWN = 200;

function fail(key: string, expected: string, value: unknown): never {
  const shown = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v));
  const cut = shown.length > MAX_SHOWN
    ? `${shown.slice(0, MAX_SHOWN)}… (${shown.length} characters)`
    : shown;
  throw new Error(`key "${key}" must be ${expected}, got ${cut}`);
}

function absolutePath(value: unknown, key: string): string {
  if (typeof value !== "string" || !value.startsWith("/")) fail(key, "an absolute path", value);
  return value;
}

function socketPath(value: unknown, key: string): string {
  const path = absolutePath(value, key);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    fail(key, `a socket path of at most ${MAX_SOCKET_PATH} bytes`, value);
  }
  return path;
}

function pathOrEmpty(value: unknown, key: string): string {
  return value === "" ? "" : absolutePath(value, key);
}

function level(value: unknown, key: string): Level {
  if (!LEVELS.includes(value as Level)) fail(key, `one of ${LEVELS.join(", ")}`, value);
  return value as Level;
}

function boolean(value: unknown, key: string): boolean {
  if (typeof value !== "boolean") fail(key, "true or false", value);
  return value;
}

function duration(value: unknown, key: string): number {
  const ms = typeof value === "string" ? parseDuration(value) : undefined;
  if (ms === undefined) fail(key, 'a duration such as "10s" or "500ms"', value);
  return ms;
}

function positiveInteger(value: unknown, key: string): number {
  if (typeof value !== "bigint" || value <= 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    fail(key, "a positive whole number", value);
  }
  return Number(value);
}

function stringList(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string" || !item)) {
    fail(key, "a list of non-empty strings", value);
  }
  return value as string[];
}

function prefixList(value: unknown, key: string): string[] {
  const list = stringList(value, key);
  for (const prefix of list) {
    if (!prefix.startsWith("/") && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(prefix)) {
      fail(key, "a list of absolute paths or URL prefixes", value);
    }
  }
  return list;
}

function schemeList(value: unknown, key: string): string[] {
  const list = stringList(value, key);
  for (const scheme of list) {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) fail(key, 'a list of URL schemes like "https"', value);
  }
  return list;
}
