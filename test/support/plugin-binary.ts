import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");

/** The compiled plugin and the test build that omits the dedicated RunPodSandbox RPC. */
export const PLUGIN_BINARY = join(root, "dist/prefetchfiles-nri-plugin");
export const LEGACY_EVENTS_BINARY = join(root, "dist/test/prefetchfiles-nri-plugin-legacy");

/**
 * The path of a compiled build, building it first when it is missing or
 * older than the sources (npm test builds both up front; this covers a
 * plain `bun test`).
 */
export function pluginBinary(legacyPodEvents = false): string {
  const binary = legacyPodEvents ? LEGACY_EVENTS_BINARY : PLUGIN_BINARY;
  if (existsSync(binary) && statSync(binary).mtimeMs > newestSource()) return binary;
  const args = ["build.ts", ...(legacyPodEvents ? ["--legacy-pod-events"] : [])];
  const run = Bun.spawnSync([process.execPath, ...args], { cwd: root, stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`building the plugin failed:\n${run.stderr}`);
  return binary;
}

function newestSource(): number {
  let newest = 0;
  const glob = new Bun.Glob("src/**/*.ts");
  for (const file of glob.scanSync({ cwd: root })) {
    newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  }
  return newest;
}
