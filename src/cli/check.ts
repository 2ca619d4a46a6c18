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

/** A YAML or JSON mapping. */
type Mapping = Record<string, unknown>;

/** One pod config or manifest of the file, and how its messages name it. */
interface Located {
  label: string;
  document: Mapping;
}

/** A place in the file where a mapping belongs and something else is. */
interface Problem {
  problem: string;
}

/** Where the annotation may be, as the messages name each place. */
const PLACES = {
  top: { keys: ["annotations"], text: ".annotations", gets: "what crictl passes to the runtime" },
  metadata: { keys: ["metadata", "annotations"], text: ".metadata.annotations",
    gets: "the pod's own annotations" },
  template: { keys: ["spec", "template", "metadata", "annotations"],
    text: ".spec.template.metadata.annotations", gets: "what the pods it creates carry" },
} as const;
type Place = (typeof PLACES)[keyof typeof PLACES];

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
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(text);
  } catch (error) {
    // The reader's error carries no position in the text, only the file can be named.
    return fail(`${name}: not valid YAML or JSON: ${errorText(error)}`);
  }
  const documents = podDocuments(name, parsed, text);
  let carried = false;
  const results = documents.flatMap((entry) => {
    if ("problem" in entry) return [fail(entry.problem)];
    const result = checkDocument(entry.label, entry.document, settings);
    carried ||= result?.carried === true;
    return result ? [result] : [];
  });
  // Said first: a repeat can be why the annotation is missing or not the one meant.
  const repeats = findDuplicateKeys(text).map((repeat) => repeatWarning(name, repeat));
  const out = [...repeats, ...results.flatMap((result) => result.out)];
  if (!carried && documents.some((entry) => "document" in entry)) {
    out.push(`${name}: no ${PREFETCH_ANNOTATION} annotation (looked in ` +
      `${PLACES.top.text}, ${PLACES.metadata.text} and ${PLACES.template.text})`);
  }
  return { code: carried && results.every((result) => result.code === 0) ? 0 : 1, out };
}

/**
 * The mappings to check, in order: the document, each document of a stream,
 * each of a list's `items`. Anything else there (an empty item, a number, a
 * list where a mapping belongs) is a problem naming where it is.
 */
function podDocuments(name: string, parsed: unknown, text: string): (Located | Problem)[] {
  const found: (Located | Problem)[] = [];
  const label = (...parts: string[]) =>
    parts.length === 0 ? name : `${name} (${parts.join(", ")})`;
  // A list's items are taken as they are: a list inside a list is not looked into.
  const add = (value: unknown, parts: string[], item = false) => {
    if (!isMapping(value)) {
      found.push({ problem: `${label(...parts)}: ${shape(value)}, where a pod config or ` +
        "Kubernetes object (a mapping) belongs" });
    } else if (item || !Object.hasOwn(value, "items")) {
      found.push({ label: label(...parts), document: value });
    } else if (!Array.isArray(value.items)) {
      found.push({ problem: `${label(...parts)}: items is ${shape(value.items)}, not a list` });
    } else {
      value.items.forEach((entry, index) => add(entry, [...parts, `items[${index}]`], true));
    }
  };
  if (Array.isArray(parsed) && isStream(text)) {
    // Empty documents of a stream (a trailing ---) are passed over, as kubectl does.
    parsed.forEach((value, index) => {
      if (value !== null) add(value, [`document ${index + 1}`]);
    });
  } else if (parsed !== null && parsed !== undefined) {
    add(parsed, []);
  }
  if (found.length === 0) {
    found.push({ problem: `${name}: no document (the file is empty, or holds only comments ` +
      "or null)" });
  }
  return found;
}

/**
 * Whether a parsed list is a stream of documents rather than one document
 * that is a list: a stream has a `---` line after some content, or two of them.
 */
function isStream(text: string): boolean {
  let content = false;
  let markers = 0;
  for (const line of text.split("\n")) {
    if (/^---(?:[ \t]|\r?$)/.test(line)) {
      if (content || ++markers > 1) return true;
    } else if (!/^\s*(?:#.*)?\r?$/.test(line) && !line.startsWith("%")) {
      content = true;
    }
  }
  return false;
}

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a value that should have been a mapping is, in words. */
function shape(value: unknown): string {
  if (value === null || value === undefined) return "empty (null)";
  if (Array.isArray(value)) return "a list";
  if (isMapping(value)) return "a mapping";
  if (typeof value === "string") return `a string (${JSON.stringify(value.slice(0, 40))})`;
  return `a ${typeof value} (${String(value)})`;
}

/** The YAML reader keeps the last of two equal keys; kubectl may refuse the file instead. */
function repeatWarning(name: string, { key, path, line, firstLine }: DuplicateKey): string {
  const where = path === "" ? "at the top level" : `in ${path}`;
  return `warning: ${name}:${line}: key ${JSON.stringify(key)} ${where} is given again ` +
    `(first on line ${firstLine}); check reads only the last one, and kubectl or crictl ` +
    "may refuse the file or read it differently";
}

function checkDocument(name: string, document: Mapping, settings: Settings) {
  const problems: string[] = [];
  const found: { place: Place; value: unknown }[] = [];
  for (const place of placesFor(document)) {
    const annotations = lookUp(document, place, (problem) => problems.push(`${name}: ${problem}`));
    if (annotations && Object.hasOwn(annotations, PREFETCH_ANNOTATION)) {
      found.push({ place, value: annotations[PREFETCH_ANNOTATION] });
    }
  }
  if (found.length === 0) {
    return problems.length > 0 ? { code: 1 as const, out: problems, carried: false } : undefined;
  }
  const [used] = found as [(typeof found)[0]];
  const warnings = found.slice(1)
    .filter((other) => JSON.stringify(other.value) !== JSON.stringify(used.value))
    .map((other) => `warning: ${name}: ${PREFETCH_ANNOTATION} is in ${used.place.text} and in ` +
      `${other.place.text} with different values; the one in ${used.place.text} is checked ` +
      `(${used.place.gets})`);
  const result = checkValue(name, document, used.value, settings);
  return {
    code: problems.length > 0 ? 1 as const : result.code,
    out: [...warnings, ...problems, ...result.out],
    carried: true,
  };
}

/**
 * The places in the order they reach the pod: a workload's pod template
 * first; then, for a Kubernetes object (it has apiVersion), its metadata, and
 * for a crictl pod config the top-level annotations.
 */
function placesFor(document: Mapping): Place[] {
  return typeof document.apiVersion === "string"
    ? [PLACES.template, PLACES.metadata, PLACES.top]
    : [PLACES.template, PLACES.top, PLACES.metadata];
}

/** The annotations mapping at `place`; a step that is there but no mapping is reported. */
function lookUp(document: Mapping, place: Place, report: (problem: string) => void) {
  let value: unknown = document;
  for (const [index, key] of place.keys.entries()) {
    value = (value as Mapping)[key];
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) {
      report(`.${place.keys.slice(0, index + 1).join(".")} is ${shape(value)}, not a mapping`);
      return undefined;
    }
  }
  return value as Mapping;
}

function checkValue(name: string, document: Mapping, value: unknown, settings: Settings) {
  if (typeof value !== "string") return fail(`${name}: ${PREFETCH_ANNOTATION} must be a string`);
  const metadata = isMapping(document.metadata) ? document.metadata : {};
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : "default";
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
