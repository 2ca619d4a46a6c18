/**
 * Builds the plugin into one executable:
 *   bun build.ts                        → dist/prefetchfiles-nri-plugin
 *   bun build.ts --legacy-pod-events    → dist/test/prefetchfiles-nri-plugin-legacy
 *     (a test build that answers RunPodSandbox Unimplemented, so a v0.12
 *      runtime switches to StateChange)
 *   bun build.ts --target bun-linux-arm64 --outfile PATH
 * Never strip the result: a stripped file runs as a bare Bun runtime.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    target: { type: "string" },
    outfile: { type: "string" },
    "legacy-pod-events": { type: "boolean", default: false },
  },
});

const legacy = values["legacy-pod-events"];
const outfile = values.outfile ??
  (legacy ? "dist/test/prefetchfiles-nri-plugin-legacy" : "dist/prefetchfiles-nri-plugin");

export async function build(): Promise<string> {
  const started = performance.now();
  const result = await Bun.build({
    entrypoints: ["src/main.ts"],
    minify: true,
    bytecode: true,
    define: legacy ? { PREFETCH_NRI_DEDICATED_POD_EVENTS: "false" } : {},
    compile: {
      outfile,
      ...(values.target ? { target: values.target as never } : {}),
      // containerd starts plugins in "/": never let a stray /.env or bunfig.toml steer us
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
  });
  if (!result.success) {
    for (const message of result.logs) console.error(message);
    throw new Error("build failed");
  }
  const size = Bun.file(outfile).size;
  const ms = Math.round(performance.now() - started);
  console.log(`built ${outfile} (${size} bytes) in ${ms} ms`);
  return outfile;
}

if (import.meta.main) await build();
