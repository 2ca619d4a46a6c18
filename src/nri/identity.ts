import { basename } from "node:path";

/** A plugin's identity as the runtime knows it: "03" and "prefetchfiles-nri-plugin". */
export interface Identity {
  idx: string;
  name: string;
}

/** Raised when a name or index breaks the runtime's rules. */
export class IdentityError extends Error {
  override name = "IdentityError";
}

export interface IdentitySources {
  flagName?: string;
  flagIdx?: string;
  env: Record<string, string | undefined>;
  /** The path the executable was started as (process.argv0). */
  argv0: string;
}

/**
 * Works out the name and index: flags or NRI_PLUGIN_NAME / NRI_PLUGIN_IDX
 * first; a missing name is the executable's base name; a missing index comes
 * from an "NN-name" executable name. Unlike NRI's Go stub, a name given
 * explicitly is kept even when the index comes from the file name. A name
 * that already carries the index ("03-x" with index 03) is not doubled.
 */
export function resolveIdentity(sources: IdentitySources): Identity {
  const idx = sources.flagIdx || sources.env.NRI_PLUGIN_IDX || "";
  const name = sources.flagName || sources.env.NRI_PLUGIN_NAME || "";
  const file = basename(sources.argv0);
  if (idx) return checkIdentity({ idx, name: stripIndex(name || file, idx) });
  const split = splitIndexedName(file);
  if (!split) {
    throw new IdentityError(
      `no plugin index: pass --idx NN or set NRI_PLUGIN_IDX, or name the executable ` +
        `"NN-name" (it is "${file}")`,
    );
  }
  return checkIdentity({ idx: split.idx, name: name ? stripIndex(name, split.idx) : split.name });
}

/** Applies the runtime's checks: two ASCII digits; name of [A-Za-z0-9_.+-]. */
export function checkIdentity(identity: Identity): Identity {
  if (!/^[0-9]{2}$/.test(identity.idx)) {
    throw new IdentityError(`plugin index "${identity.idx}" must be exactly two digits`);
  }
  if (!/^[A-Za-z0-9_.+-]+$/.test(identity.name)) {
    throw new IdentityError(
      `plugin name "${identity.name}" must be non-empty and use only [A-Za-z0-9_.+-]`,
    );
  }
  return identity;
}

/** "03-prefetchfiles-nri-plugin" → { idx: "03", name: "prefetchfiles-nri-plugin" }. */
export function splitIndexedName(file: string): Identity | undefined {
  const match = /^([0-9]{2})-(.+)$/.exec(file);
  return match ? { idx: match[1]!, name: match[2]! } : undefined;
}

function stripIndex(name: string, idx: string): string {
  return name.startsWith(`${idx}-`) ? name.slice(idx.length + 1) : name;
}
