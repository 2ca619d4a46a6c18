// Command line of the end-to-end test; see USAGE. Exits 0 when every step passed or when the
// machine cannot run the scenario (reported as skipped, with the reason), 1 otherwise.
import { parseArgs } from "node:util";
import { CONTAINERD_RELEASES, type ContainerdLine } from "./lib/components.ts";
import { runE2E } from "./e2e.ts";

const LINES = Object.keys(CONTAINERD_RELEASES) as ContainerdLine[];

const USAGE = `usage: bun test/e2e/run.ts [options]
  --containerd LINE  run only against this containerd line (${LINES.join(", ")}); repeatable
  --upstream         run nydus-snapshotter's own plugin instead of ours (checks the test itself)
  --no-build         use dist/prefetchfiles-nri-plugin as it is, without bun build.ts
  --keep             keep the temporary roots even when everything passed`;

function parse(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      containerd: { type: "string", multiple: true },
      upstream: { type: "boolean", default: false },
      "no-build": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  const unknownLine = values.containerd?.find((line) => !LINES.includes(line as ContainerdLine));
  if (values.help || unknownLine) {
    console.log(USAGE);
    process.exit(unknownLine ? 2 : 0);
  }
  return {
    plugin: values.upstream ? ("upstream" as const) : ("ours" as const),
    skipPluginBuild: values["no-build"],
    keep: values.keep,
    containerd: values.containerd as ContainerdLine[] | undefined,
  };
}

let options: ReturnType<typeof parse>;
try {
  options = parse(process.argv.slice(2));
} catch (error) {
  console.log(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
const result = await runE2E(options);
console.log(result.summary);
process.exit(result.status === "failed" ? 1 : 0);
