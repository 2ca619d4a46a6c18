import { type ConfFile, parseConf } from "../config/conf.ts";
import { readLegacyConfig } from "../config/legacy.ts";
import { type FlagSettings, resolveSettings } from "../config/resolve.ts";
import { LEGACY_CONFIG_PATH, type Settings } from "../config/settings.ts";
import { errorText } from "../log/logger.ts";
import {
  AnnotationError,
  PREFETCH_ANNOTATION,
  type PrefetchEntry,
} from "../prefetch/annotation.ts";
import { PREFETCH_PATH } from "../prefetch/forwarder.ts";
import { namespaceRefusal } from "../prefetch/policy.ts";
import { prepareRequest } from "../prefetch/request.ts";
import { ImageReferenceError, normalizeReference } from "../prefetch/reference.ts";
import { type DuplicateKey, findDuplicateKeys } from "./duplicate-keys.ts";
import { readNamedFile } from "./failure.ts";

/** What `check` prints and how it ends. */
export interface CheckResult {
  code: 0 | 1;
  out: string[];
}

interface PodDocument {
  annotations?: Record<string, unknown>;
  metadata?: { namespace?: string; name?: string; annotations?: Record<string, unknown> };
  spec?: { template?: { metadata?: { annotations?: Record<string, unknown> } } };
}

/**
 * `check [--conf FILE] FILE|-`: validates a pod's prefetch annotation by the
 * plugin's own rules (and the .conf's policy), and shows what would be sent.
 * With only --conf, validates the .conf.
 */
export function check(
  source: string | undefined,
  confPath: string | undefined,
  flags: FlagSettings = {},
): CheckResult {
  let conf: ConfFile = {};
  if (confPath) {
    const parsed = parseConf(readNamedFile(confPath, ".conf"), confPath);
    conf = parsed.conf;
    if (!source) return confReport(confPath, parsed.unknownKeys);
  }
  if (!source) return { code: 1, out: ["check: give a pod file (or - for stdin)"] };
  const settings = resolveSettings(flags, conf, readLegacyConfig(LEGACY_CONFIG_PATH));
  const name = source === "-" ? "stdin" : source;
  return checkPod(name, readNamedFile(source, "pod file"), settings);
}

function confReport(path: string, unknownKeys: string[]): CheckResult {
  const out = [`${path}: valid`];
  if (unknownKeys.length > 0) out.push(`warning: unknown keys ignored: ${unknownKeys.join(", ")}`);
  return { code: 0, out };
}

/** Checks every document (YAML streams, `kind: List`) that carries the annotation. */
function checkPod(name: string, text: string, settings: Settings): CheckResult {
  let documents: PodDocument[];
  try {
    const parsed = Bun.YAML.parse(text) as PodDocument | PodDocument[] | null;
    documents = (Array.isArray(parsed) ? parsed : [parsed ?? {}])
      .flatMap((doc) => (doc as { items?: PodDocument[] })?.items ?? [doc ?? {}]);
  } catch (error) {
    return fail(`${name}: not valid YAML or JSON: ${errorText(error)}`);
  }
  const results = documents.flatMap((document, index) => {
    const label = documents.length > 1 ? `${name} (document ${index + 1})` : name;
    return checkDocument(label, document, settings) ?? [];
  });
  // Said first: a repeat can be why the annotation is missing or not the one meant.
  const repeats = findDuplicateKeys(text).map((repeat) => repeatWarning(name, repeat));
  if (results.length === 0) {
    return { code: 1, out: [...repeats, `${name}: no ${PREFETCH_ANNOTATION} annotation ` +
      "(looked in .annotations, .metadata.annotations and .spec.template.metadata.annotations)"] };
  }
  return {
    code: results.some((result) => result.code !== 0) ? 1 : 0,
    out: [...repeats, ...results.flatMap((result) => result.out)],
  };
}

/** The YAML reader keeps the last of two equal keys; kubectl may refuse the file instead. */
function repeatWarning(name: string, { key, path, line, firstLine }: DuplicateKey): string {
  const where = path === "" ? "at the top level" : `in ${path}`;
  return `warning: ${name}:${line}: key ${JSON.stringify(key)} ${where} is given again ` +
    `(first on line ${firstLine}); check reads only the last one, and kubectl or crictl ` +
    "may refuse the file or read it differently";
}

function checkDocument(name: string, document: PodDocument, settings: Settings) {
  const annotations = document.annotations ?? document.metadata?.annotations ??
    document.spec?.template?.metadata?.annotations ?? {};
  const value = annotations[PREFETCH_ANNOTATION];
  if (value === undefined) return undefined;
  if (typeof value !== "string") return fail(`${name}: ${PREFETCH_ANNOTATION} must be a string`);
  const namespace = document.metadata?.namespace ?? "default";
  const refusal = namespaceRefusal(namespace, settings.policy);
  if (refusal) return fail(`${name}: skipped by policy: ${refusal}`);
  return explain(name, value, settings);
}

function explain(name: string, value: string, settings: Settings): CheckResult {
  let prepared;
  try {
    prepared = prepareRequest(value, settings);
  } catch (error) {
    if (!(error instanceof AnnotationError)) throw error;
    return fail(`${name}: annotation ${PREFETCH_ANNOTATION}: ${error.message}`);
  }
  if (prepared.kind === "empty") return { code: 0, out: [`${name}: empty list; nothing is sent`] };
  if (prepared.kind === "refused") return fail(`${name}: skipped by policy: ${prepared.reason}`);
  const out = [
    `${name}: ok; would send PUT ${PREFETCH_PATH} to ${settings.socketAddress} ` +
      `(${prepared.body.length} bytes):`,
    new TextDecoder().decode(prepared.body),
    ...warnings(prepared.entries, settings),
  ];
  return { code: 0, out };
}

/** Where the value will not do what its author hopes, though it is valid. */
function warnings(entries: PrefetchEntry[], settings: Settings): string[] {
  const out: string[] = [];
  for (const [index, entry] of entries.entries()) {
    let qualified: string;
    try {
      qualified = normalizeReference(entry.image);
    } catch (error) {
      // Only without normalisation: prepareRequest refuses such a value otherwise.
      if (!(error instanceof ImageReferenceError)) throw error;
      out.push(`warning: element ${index}: image "${entry.image}" is not a valid image ` +
        "reference; with normalize_image_references = false it is sent as written, and no " +
        "image containerd records can match it");
      qualified = entry.image;
    }
    if (qualified !== entry.image) {
      out.push(settings.normalizeImageReferences
        ? `warning: element ${index}: image "${entry.image}" is sent as "${qualified}", ` +
          "the name containerd records"
        : `warning: element ${index}: image "${entry.image}" will never match; containerd ` +
          `records it as "${qualified}"`);
    }
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(entry.prefetch)) {
      out.push(`warning: element ${index}: prefetch "${entry.prefetch}" is a URL; released ` +
        "nydus-snapshotter passes it to nydusd as --prefetch-files, which expects a " +
        "node-local file listing paths");
    }
  }
  return out;
}

function fail(message: string): CheckResult {
  return { code: 1, out: [message] };
}
