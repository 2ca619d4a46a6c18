// Command line of the end-to-end test: `bun test/e2e/run.ts [--upstream] [--no-build] [--keep]`.
// Exits 0 when every step passed or the machine cannot run the scenario (skipped, with the
// reason), 1 otherwise.
import { runE2E } from "./e2e.ts";

const USAGE = `usage: bun test/e2e/run.ts [options]
  --upstream   run nydus-snapshotter's own plugin instead of ours (checks the test itself)
  --no-build   use dist/prefetchfiles-nri-plugin as it is, without bun build.ts
  --keep       keep the temporary root even when everything passed`;

function parse(args: string[]) {
  const known = new Set(["--upstream", "--no-build", "--keep", "--help"]);
  const unknown = args.filter((arg) => !known.has(arg));
  if (unknown.length || args.includes("--help")) {
    console.log(USAGE);
    process.exit(unknown.length ? 2 : 0);
  }
  return {
    plugin: args.includes("--upstream") ? ("upstream" as const) : ("ours" as const),
    skipPluginBuild: args.includes("--no-build"),
    keep: args.includes("--keep"),
  };
}

const result = await runE2E(parse(process.argv.slice(2)));
console.log(result.summary);
process.exit(result.status === "failed" ? 1 : 0);
