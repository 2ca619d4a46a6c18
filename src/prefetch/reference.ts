/**
 * Image references in the form containerd's CRI records them, which is the
 * exact string nydus-snapshotter looks a prefetch list up by:
 *   nginx               → docker.io/library/nginx:latest
 *   user/app:1.0        → docker.io/user/app:1.0
 *   ghcr.io/o/app@sha256:… stays as it is
 *   app:1@sha256:…      → docker.io/library/app@sha256:… (the tag is dropped)
 */
const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";

// Path components: lowercase alphanumerics joined by ".", "_", "__" or runs of "-".
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN = "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9-]+)*" +
  "(?::[0-9]+)?|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)";
const REFERENCE = new RegExp(
  `^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)` +
    "(?::([\\w][\\w.-]{0,127}))?(?:@([a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?$",
);

/** Names longer than this are refused by registries and containerd alike. */
const MAX_NAME_LENGTH = 255;
/** Longer than any valid reference (name, 128-character tag, digest): refused unread. */
const MAX_REFERENCE_LENGTH = 1024;

export class ImageReferenceError extends Error {
  override name = "ImageReferenceError";
}

/** The fully qualified form of `reference`; throws ImageReferenceError if it is not one. */
export function normalizeReference(reference: string): string {
  const { domain, path, tag, digest } = splitReference(reference);
  let name = `${domain}/${path}`;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) {
    name = `${domain}/${OFFICIAL_PREFIX}${path}`;
  }
  // As containerd names it: a digest makes the tag redundant, and it is dropped.
  if (digest) name += `@${digest}`;
  else name += `:${tag ?? "latest"}`;
  return name;
}

function splitReference(reference: string) {
  if (reference.length > MAX_REFERENCE_LENGTH) {
    throw new ImageReferenceError(`image reference of ${reference.length} characters is ` +
      `longer than any valid one (${MAX_REFERENCE_LENGTH})`);
  }
  const first = reference.split("/")[0]!;
  const hasDomain = reference.includes("/") &&
    (first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first));
  const candidate = hasDomain ? reference : `${DEFAULT_DOMAIN}/${reference}`;
  const match = REFERENCE.exec(candidate);
  if (!match || !match[1]) {
    throw new ImageReferenceError(`"${reference}" is not a valid image reference`);
  }
  const domain = match[1] === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : match[1];
  if (domain.length + 1 + match[2]!.length > MAX_NAME_LENGTH) {
    throw new ImageReferenceError(`"${reference.slice(0, 64)}…" has a name longer than ` +
      `${MAX_NAME_LENGTH} characters`);
  }
  return { domain, path: match[2]!, tag: match[3], digest: match[4] };
}
