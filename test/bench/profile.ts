/**
 * Profiles run when a goal is missed.
 *
 * Start-up: small executables built the way build.ts builds the plugin
 * (compile, minify, bytecode), each loading a larger part of the plugin's
 * module graph, printing its RSS and exiting, timed from spawn to exit; then
 * Bun's CPU profile of the whole graph loading.
 *
 * Pod starts: the plugin built without minifying (so the profile has names),
 * launched by the harness through a small script that sets BUN_OPTIONS for
 * Bun's CPU profiler, serving a burst of pod starts; SIGTERM makes it exit
 * and write the profile.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Harness, PLUGIN_NAME, type PodSpec } from "../harness/harness.ts";
import { sampleConf } from "../support/sample-pod.ts";
import type { RecordingSnapshotter } from "../support/snapshotter.ts";
import { median, percentile } from "./stats.ts";

const ROOT = join(import.meta.dir, "../..");

export interface HotFunction { selfMs: number; selfPct: number; fn: string; where: string }

export interface CpuProfile {
  /** Profiled time and samples, as Bun reports them. */
  durationMs: number;
  samples: number;
  /** Every function with self time, most first. */
  hot: HotFunction[];
}

export interface StartupStep { key: string; what: string; wallMs: number; rssMiB: number }

export interface StartupBreakdown {
  steps: StartupStep[];
  profile?: CpuProfile;
  runs: number;
}

/** Each step ends by printing its resident set size in bytes. */
const PRINT_RSS = "console.log(process.memoryUsage().rss);\n";

const ENTRIES: Array<{ key: string; what: string; code: string }> = [
  { key: "empty", what: "Bun runtime alone (a program that only prints its RSS)", code: "" },
  { key: "ttrpc-desc", what: "+ protobuf-es runtime and the 3-message ttrpc descriptor",
    code: `import { file_ttrpc_request as f } from "${ROOT}/src/gen/ttrpc/request_pb.ts";\n` +
      "if (!f) throw new Error('missing');\n" },
  { key: "nri-desc", what: "+ the NRI api.proto descriptor",
    code: `import { file_ttrpc_request as f } from "${ROOT}/src/gen/ttrpc/request_pb.ts";\n` +
      "import { file_nri_pkg_api_v1alpha1_api as g } from " +
      `"${ROOT}/src/gen/nri/pkg/api/v1alpha1/api_pb.ts";\n` +
      "if (!f || !g) throw new Error('missing');\n" },
  { key: "all", what: "the plugin's whole module graph (src/cli/main.ts), not run",
    code: `import { main } from "${ROOT}/src/cli/main.ts";\n` +
      "if (!main) throw new Error('missing');\n" },
];

/** Compiles like build.ts (`readable`: not minified, so profiles have names). */
export async function compile(entry: string, outfile: string, readable = false): Promise<void> {
  const result = await Bun.build({
    entrypoints: [entry], minify: !readable, bytecode: true, compile: { outfile },
  });
  if (!result.success) throw new Error(`building ${entry} failed: ${result.logs.join("\n")}`);
}

/** A readable build and the bundle text it runs, to name the module behind a profile line. */
export interface ReadableBuild {
  binary: string;
  /** The source module a line of the bundle belongs to (node_modules/… or src/…). */
  moduleAt(line: number): string | undefined;
}

/** Compiles `entry` readable, and bundles it the same way to a file to read lines from. */
export async function buildReadable(entry: string, dir: string, name: string):
  Promise<ReadableBuild> {
  const binary = join(dir, name);
  await compile(entry, binary, true);
  const out = await Bun.build({ entrypoints: [entry], minify: false, bytecode: true,
    target: "bun", outdir: join(dir, `${name}-bundle`) });
  const js = out.outputs.find((o) => o.path.endsWith(".js"));
  const marks: Array<[number, string]> = [];
  if (out.success && js) {
    readFileSync(js.path, "utf8").split("\n").forEach((text, i) => {
      const m = /^\/\/ (\S+\.(?:[cm]?js|ts|json))$/.exec(text);
      if (m) marks.push([i + 1, m[1]!.replace(/^.*?(node_modules\/|src\/)/, "$1")]);
    });
  }
  return {
    binary,
    moduleAt(line) {
      let found: string | undefined;
      for (const [at, module] of marks) {
        if (at > line) break;
        found = module;
      }
      return found;
    },
  };
}

function profilerEnv(dir: string, intervalUs: number): string {
  return `--cpu-prof-md --cpu-prof-dir=${dir} --cpu-prof-interval=${intervalUs}`;
}

/** Builds the steps into `dir` and runs each `runs` times, interleaved. */
export async function startupBreakdown(dir: string, runs: number): Promise<StartupBreakdown> {
  mkdirSync(dir, { recursive: true });
  const binaries: string[] = [];
  for (const e of ENTRIES) {
    const src = join(dir, `${e.key}.ts`);
    writeFileSync(src, e.code + PRINT_RSS);
    const out = join(dir, e.key);
    await compile(src, out);
    binaries.push(out);
  }
  const wall: number[][] = ENTRIES.map(() => []);
  const rss: number[][] = ENTRIES.map(() => []);
  for (let r = 0; r < runs; r++) {
    binaries.forEach((binary, i) => {
      const t0 = performance.now();
      const run = Bun.spawnSync([binary], { stdout: "pipe", stderr: "pipe" });
      wall[i]!.push(performance.now() - t0);
      if (run.exitCode !== 0) throw new Error(`${binary} failed: ${run.stderr}`);
      rss[i]!.push(Number(run.stdout.toString().trim()) / 1048576);
    });
  }
  const steps = ENTRIES.map((e, i) => ({ key: e.key, what: e.what,
    wallMs: median(wall[i]!), rssMiB: median(rss[i]!) }));

  const profiled = join(dir, "all-profiled.ts");
  writeFileSync(profiled, ENTRIES.at(-1)!.code);
  const readable = await buildReadable(profiled, dir, "all-readable");
  const profDir = join(dir, "profile");
  mkdirSync(profDir, { recursive: true });
  Bun.spawnSync([readable.binary], { env: { ...process.env,
    BUN_OPTIONS: profilerEnv(profDir, 100) }, stdout: "ignore", stderr: "ignore" });
  return { steps, profile: readProfile(profDir, readable), runs };
}

export interface EventProfileInput {
  dir: string;
  /** The namespaced harness wrapper for the NRI release to use. */
  harnessBinary: string;
  version: string;
  snapshotter: RecordingSnapshotter;
  pod: PodSpec;
  warmup: number;
  events: number;
}

/** Bun's CPU profile of our plugin (a readable build) serving `events` pod starts. */
export async function eventProfile(input: EventProfileInput, readable: ReadableBuild):
  Promise<CpuProfile | undefined> {
  const { dir } = input;
  const profDir = join(dir, "profile");
  mkdirSync(profDir, { recursive: true });
  const script = join(dir, "plugin-profiled.sh");
  writeFileSync(script, `#!/bin/sh\nBUN_OPTIONS='${profilerEnv(profDir, 200)}' ` +
    `exec '${readable.binary}' "$@"\n`);
  chmodSync(script, 0o755);
  const harness = await Harness.spawn({ version: input.version, binary: input.harnessBinary });
  try {
    harness.installPlugin(script, await sampleConf(input.snapshotter.socket,
      `log_file = "${join(dir, "plugin.log")}"\n`), PLUGIN_NAME);
    const started = await harness.start();
    const ready = await harness.waitPlugins(1);
    if (!started.ok || !ready.ok) throw new Error(started.error ?? ready.error);
    for (let i = 0; i < input.warmup; i++) {
      await harness.runPod({ ...input.pod, id: `${input.pod.id}-warm-${i}` });
    }
    await harness.burst(input.events, input.pod);
    const pid = (await harness.status(0)).plugins[0]?.pid;
    // Our plugin exits on SIGTERM, and Bun writes the profile on the way out.
    if (pid) process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !readdirSync(profDir).some((f) => f.endsWith(".md"))) {
      await Bun.sleep(100);
    }
  } finally {
    await harness.close();
    input.snapshotter.requests.splice(0);
  }
  return readProfile(profDir, readable);
}

export interface TailRun {
  label: string;
  p50Us: number;
  p99Us: number;
  /** Calls over 1 ms, of `calls`. */
  slow: number;
  calls: number;
  /** Garbage collections during the measured calls, and the longest pause among them. */
  collections: number;
  maxPauseMs: number;
}

/** JSC settings the tail probe compares, passed to our plugin as environment variables. */
export const TAIL_VARIANTS = [
  { label: "as built", env: {} },
  { label: "optimizing JIT off (BUN_JSC_useDFGJIT=0)", env: { BUN_JSC_useDFGJIT: "0" } },
];

/**
 * Where slow pod starts come from: our plugin (as shipped) serves spaced pod
 * starts without the annotation while JSC logs every garbage collection; the
 * same with the optimizing JIT off. Each variant runs `repeats` times,
 * alternating.
 */
export async function tailProbe(input: Omit<EventProfileInput, "events">, binary: string,
  calls: number, repeats: number): Promise<TailRun[]> {
  const runs: TailRun[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const [i, variant] of TAIL_VARIANTS.entries()) {
      const dir = join(input.dir, `tail-${r}-${i}`);
      mkdirSync(dir, { recursive: true });
      const gcLog = join(dir, "gc.log");
      writeFileSync(gcLog, "");
      const env = Object.entries({ ...variant.env, BUN_JSC_logGC: "1" })
        .map(([k, v]) => `${k}=${v}`).join(" ");
      const script = join(dir, "plugin.sh");
      writeFileSync(script, `#!/bin/sh\n${env} exec '${binary}' "$@" 2>>'${gcLog}'\n`);
      chmodSync(script, 0o755);
      const harness = await Harness.spawn({ version: input.version, binary: input.harnessBinary });
      try {
        harness.installPlugin(script, await sampleConf(input.snapshotter.socket,
          `log_file = "${join(dir, "plugin.log")}"\n`), PLUGIN_NAME);
        const started = await harness.start();
        const ready = await harness.waitPlugins(1);
        if (!started.ok || !ready.ok) throw new Error(started.error ?? ready.error);
        for (let k = 0; k < input.warmup; k++) {
          await harness.runPod({ ...input.pod, id: `${input.pod.id}-w${k}` });
        }
        const skip = readFileSync(gcLog, "utf8").length;
        const us: number[] = [];
        for (let k = 0; k < calls; k++) {
          us.push((await harness.runPod({ ...input.pod, id: `${input.pod.id}-m${k}` })).us);
        }
        const log = readFileSync(gcLog, "utf8").slice(skip);
        const pauses = [...log.matchAll(/ p=([\d.]+)ms \(max/g)].map((m) => Number(m[1]));
        runs.push({ label: variant.label, p50Us: percentile(us, 50), p99Us: percentile(us, 99),
          slow: us.filter((u) => u > 1000).length, calls,
          collections: (log.match(/: START /g) ?? []).length,
          maxPauseMs: pauses.length ? Math.max(...pauses) : 0 });
      } finally {
        await harness.close();
        input.snapshotter.requests.splice(0);
      }
    }
  }
  return runs;
}

function readProfile(profDir: string, readable: ReadableBuild): CpuProfile | undefined {
  const file = readdirSync(profDir).find((f) => f.endsWith(".md"));
  if (!file) return undefined;
  const text = readFileSync(join(profDir, file), "utf8");
  const head = /\|\s*([\d.]+)(ms|s)\s*\|\s*(\d+)\s*\|/.exec(text);
  const durationMs = head ? Number(head[1]) * (head[2] === "s" ? 1000 : 1) : Number.NaN;
  const section = text.split("## Hot Functions (Self Time)")[1]?.split("\n## ")[0] ?? "";
  const hot: HotFunction[] = [];
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    // | Self% | Self | Total% | Total | Function | Location |
    if (cells.length < 7 || !/^[\d.]+%$/.test(cells[1]!)) continue;
    hot.push({ selfPct: Number.parseFloat(cells[1]!), selfMs: toMs(cells[2]!),
      fn: cells[5]!.replaceAll("`", ""), where: where(cells[6]!.replaceAll("`", ""), readable) });
  }
  return { durationMs, samples: Number(head?.[3] ?? Number.NaN), hot };
}

/** `/$bunfs/root/<binary>:<line>` as the module and line; other locations as they are. */
function where(location: string, readable: ReadableBuild): string {
  const m = /^\/\$bunfs\/root\/[^:]+(?::(\d+))?$/.exec(location);
  if (!m) return location;
  if (!m[1]) return "(bundle)";
  const module = readable.moduleAt(Number(m[1]));
  return module ? `${module} (bundle line ${m[1]})` : `bundle line ${m[1]}`;
}

function toMs(text: string): number {
  const v = Number.parseFloat(text);
  if (text.endsWith("us")) return v / 1000;
  if (text.endsWith("ms")) return v;
  if (text.endsWith("s")) return v * 1000;
  return v;
}
