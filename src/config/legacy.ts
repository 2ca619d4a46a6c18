import { readFileSync } from "node:fs";
import { parse } from "smol-toml";

/** What the released Go plugin's config file contributes. */
export interface LegacyConfig {
  socketAddress?: string;
  /** Why the file was not used, when it exists but cannot be. */
  problem?: string;
}

/**
 * Reads `[file_prefetch] socket_address` from the Go plugin's fixed file, so
 * an operator switching over keeps their setting. A missing file is normal;
 * a broken one is reported and ignored (the Go plugin crashed on it).
 */
export function readLegacyConfig(path: string): LegacyConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? {} : { problem: `${path}: cannot be read (${code})` };
  }
  let table: Record<string, unknown>;
  try {
    table = parse(text);
  } catch {
    return { problem: `${path}: not valid TOML, ignored` };
  }
  const section = table.file_prefetch as Record<string, unknown> | undefined;
  const value = section?.socket_address;
  if (value === undefined) return {};
  if (typeof value !== "string" || value === "") {
    return { problem: `${path}: file_prefetch.socket_address must be a non-empty string` };
  }
  return { socketAddress: value };
}
