/**
 * npm run bench: our plugin against nydus-snapshotter's Go plugin, side by
 * side under the same NRI runtime harness (containerd's pkg/adaptation) and
 * the same recording snapshotter, trials alternating ours, Go, ours, Go ...
 * Prints a Markdown table and writes it, with the machine, versions and date,
 * to test/bench/results.md, plus test/bench/latency.png.
 *
 *   bun test/bench/bench.ts            full run (about 6 minutes on 2 cores)
 *   bun test/bench/bench.ts --tiny     seconds; proves the script works, asserts nothing;
 *                                      writes to a temp folder unless --out is given
 *   options: --out DIR  --rounds N
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync,
  writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { buildHarness, buildRefPlugin, Harness, nriVersion, PLUGIN_NAME,
  refPluginConf } from "../harness/harness.ts";
import { plainPod, sampleConf, samplePod } from "../support/sample-pod.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";
import { cdfSvg, rsvgConvert, writeChart } from "./chart.ts";
import { median } from "./stats.ts";
import { GO_PLUGIN_MODULE, GO_PLUGIN_VERSION, goBinaryInfo, goPluginBinary } from "./go-plugin.ts";
import { checkNamespaceWrapper, etcNydusState, writeNamespaceWrapper } from "./isolation.ts";
import { fdCount } from "./proc.ts";
import { buildReadable, type CpuProfile, eventProfile, type StartupBreakdown,
  startupBreakdown, TAIL_VARIANTS, tailProbe, type TailRun } from "./profile.ts";
import { evaluateGoals, FLAT_FD_SLACK, type Goal, goalsTable, mainTable, profileTable,
  type Sizes, startupTable, summarize, type Summary, trialsTable,
  versionTable } from "./report.ts";
import { type Contender, runTrial, type TrialResult, type TrialSettings } from "./trial.ts";

const ROOT = join(import.meta.dir, "../..");
/** The NRI release the Go plugin was built with and containerd 1.7.26-2.1 ship. */
export const MAIN_VERSION = "v0.8.0";
/** The newest release, where RunPodSandbox has its own RPC; ours and the floor only. */
export const EXTRA_VERSION = "v0.12.2";

export interface BenchOptions {
  tiny?: boolean;
  /** Where results.md and latency.png go (default test/bench; a temp folder when tiny). */
  outDir?: string;
  rounds?: number;
  /** Install rsvg-convert with apt-get when missing (default: not in tiny mode). */
  installTools?: boolean;
  log?: (line: string) => void;
}

export interface BenchResult {
  markdown: string;
  table: string;
  goals: Goal[];
  trials: TrialResult[];
  files: string[];
}

interface Settings extends TrialSettings {
  rounds: number;
  /** Runs of each start-up step, and pod starts under the profiler. */
  startupRuns: number;
  profileEvents: number;
  /** Spaced calls per tail probe run, and runs of each variant. */
  tailCalls: number;
  tailRepeats: number;
}

const FULL: Settings = {
  rounds: 5, warmup: 400, samples: 800, burst: 10_000, plainBurst: 2000, idleMs: 1000,
  startupRuns: 15, profileEvents: 4000, tailCalls: 2000, tailRepeats: 2,
};
const TINY: Settings = {
  rounds: 1, warmup: 10, samples: 20, burst: 200, plainBurst: 50, idleMs: 100,
  startupRuns: 2, profileEvents: 50, tailCalls: 30, tailRepeats: 1,
};

/** Goals whose miss makes the run profile pod starts. */
const EVENT_GOALS = ["round trip", "burst throughput"];

interface Planned { contender: Contender; version: string }

export async function main(options: BenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const settings = { ...(options.tiny ? TINY : FULL) };
  if (options.rounds) settings.rounds = options.rounds;
  // A tiny run never replaces the committed results.
  const outDir = options.outDir ??
    (options.tiny ? mkdtempSync(join(tmpdir(), "prefetch-bench-tiny-")) : import.meta.dir);
  const installTools = options.installTools ?? !options.tiny;
  mkdirSync(outDir, { recursive: true });
  const started = new Date();
  const loadAtStart = loadavg();
  const t0 = performance.now();

  const etcBefore = etcNydusState();
  const snapshotter = RecordingSnapshotter.start();
  const work = mkdtempSync(join(tmpdir(), "prefetch-bench-"));
  const nydusDir = join(work, "etc-nydus");
  try {
    checkNamespaceWrapper(join(work, "probe"), nydusDir);
    // The Go plugin's fixed config file, as seen inside the namespace.
    writeFileSync(join(nydusDir, "prefetchConfig.toml"),
      `[file_prefetch]\nsocket_address = "${snapshotter.socket}"\n`);

    log("building: our plugin, the Go plugin, the harness and the reference plugin");
    const ours = buildOurs(work);
    const go = await goPluginBinary(log);
    const versions = [MAIN_VERSION, EXTRA_VERSION];
    const wrappers = new Map<string, string>();
    const refplugins = new Map<string, string>();
    for (const v of versions) {
      wrappers.set(v, writeNamespaceWrapper(join(work, `ns-${v}`), await buildHarness(v),
        nydusDir));
      refplugins.set(v, await buildRefPlugin(v));
    }

    const contenders = (v: string): Record<string, Contender> => ({
      ours: { key: "ours", label: "ours", binary: ours, name: PLUGIN_NAME, forwards: true,
        conf: (dir) =>
          sampleConf(snapshotter.socket, `log_file = "${join(dir, "plugin.log")}"\n`) },
      go: { key: "go", label: "Go plugin", binary: go, name: PLUGIN_NAME, forwards: true },
      floor: { key: "floor", label: "do-nothing floor", binary: refplugins.get(v)!,
        name: "03-refplugin", forwards: false, conf: () => refPluginConf({ noop: true }) },
    });
    const main = contenders(MAIN_VERSION);
    const extra = contenders(EXTRA_VERSION);
    const schedule: Planned[] = [
      { contender: main.ours!, version: MAIN_VERSION },
      { contender: main.go!, version: MAIN_VERSION },
      { contender: main.floor!, version: MAIN_VERSION },
      { contender: extra.ours!, version: EXTRA_VERSION },
      { contender: extra.floor!, version: EXTRA_VERSION },
    ];

    const plain = plainPod("bench-plain");
    const annotated = await samplePod("bench-annotated");
    const ownFdBaseline = fdCount("self");
    const trials: TrialResult[] = [];
    let n = 0;
    for (let round = 1; round <= settings.rounds; round++) {
      for (const { contender, version } of schedule) {
        n++;
        const dir = join(work, `trial-${n}`);
        mkdirSync(dir, { recursive: true });
        const t = await runTrial(contender, version, round, settings, {
          harnessBinary: wrappers.get(version)!, snapshotter, dir,
          plainPod: plain, annotatedPod: annotated, ownFdBaseline,
        });
        rmSync(dir, { recursive: true, force: true });
        trials.push(t);
        log(`round ${round}/${settings.rounds} ${contender.key}@${version}: ` +
          `launch ${t.launchToConfigureMs.toFixed(1)} ms, ` +
          `plain p50 ${t.plainP50.toFixed(0)} µs, ` +
          `annotated p50 ${t.annotatedP50.toFixed(0)} µs, ${t.eventsPerSecond.toFixed(0)} ev/s, ` +
          `RSS ${(t.rssIdleKiB / 1024).toFixed(1)} MiB, fds ${t.fdsIdle}/${t.fdsWarm}/` +
          `${t.fdsAfter}${t.errors.length ? `, ${t.errors.length} errors: ${t.errors[0]}` : ""}`);
      }
    }

    const pick = (key: string, version: string) =>
      summarize(trials.filter((t) => t.contender === key && t.version === version));
    const sOurs = pick("ours", MAIN_VERSION);
    const sGo = pick("go", MAIN_VERSION);
    const sFloor = pick("floor", MAIN_VERSION);
    const sOursExtra = pick("ours", EXTRA_VERSION);
    const sFloorExtra = pick("floor", EXTRA_VERSION);
    const sizes = executableSizes(ours, go);
    const goals = evaluateGoals(sOurs, sGo, sFloor, sizes);
    const table = mainTable(sOurs, sGo, sFloor, sizes, settings.burst, settings.plainBurst);

    let startup: StartupBreakdown | undefined;
    const missed = new Set(goals.filter((g) => !g.met).map((g) => g.name));
    if (options.tiny || missed.has("launch to Configure reply") || missed.has("idle RSS")) {
      log("profiling start-up (launch or idle RSS goal missed)");
      startup = await startupBreakdown(join(work, "startup"), settings.startupRuns);
    }
    let events: EventProfiles | undefined;
    if (options.tiny || [...missed].some((g) => EVENT_GOALS.some((e) => g.startsWith(e)))) {
      log("profiling pod starts (a round-trip or throughput goal missed)");
      const readable = await buildReadable(join(ROOT, "src/main.ts"), work, "plugin-readable");
      const input = { harnessBinary: wrappers.get(MAIN_VERSION)!, version: MAIN_VERSION,
        snapshotter, warmup: settings.warmup, events: settings.profileEvents };
      events = {
        plain: await eventProfile({ ...input, dir: join(work, "profile-plain"), pod: plain },
          readable),
        annotated: await eventProfile({ ...input, dir: join(work, "profile-annotated"),
          pod: annotated }, readable),
        events: settings.profileEvents,
      };
    }
    let tail: TailRun[] | undefined;
    if (options.tiny || [...missed].some((g) => g.startsWith("round trip p99"))) {
      log("probing slow pod starts (a p99 goal missed)");
      tail = await tailProbe({ dir: join(work, "tail"), harnessBinary: wrappers.get(MAIN_VERSION)!,
        version: MAIN_VERSION, snapshotter, pod: plain, warmup: settings.warmup }, ours,
      settings.tailCalls, settings.tailRepeats);
    }

    const chartTool = rsvgConvert(installTools, log);
    const png = join(outDir, "latency.png");
    const chart = writeChart(cdfSvg([
      { title: "RunPodSandbox without the annotation", series: series(trials, "plainUs") },
      { title: "RunPodSandbox with the annotation (includes the PUT to the snapshotter)",
        series: series(trials, "annotatedUs") },
    ], "RunPodSandbox round trip seen by the runtime (cumulative)",
    `all measured calls of ${settings.rounds} rounds; ${started.toISOString().slice(0, 10)}`),
    join(work, "latency.svg"), png, chartTool);
    if (chart.problem) log(chart.problem);

    const env = await environment(ours, go, wrappers, loadAtStart);
    const etcAfter = etcNydusState();
    if (etcAfter !== etcBefore) {
      throw new Error(`/etc/nydus changed during the run: ${etcBefore} → ${etcAfter}`);
    }
    const minutes = (performance.now() - t0) / 60000;
    const markdown = renderResults({
      started, minutes, settings, env, table, goals, sizes, trials, startup, events, tail,
      sOurs, sGo, sFloor, sOursExtra, sFloorExtra,
      chart: chart.png ? relative(outDir, chart.png) : undefined, chartProblem: chart.problem,
      etc: etcBefore, tiny: options.tiny ?? false,
    });
    const resultsPath = join(outDir, "results.md");
    writeFileSync(resultsPath, markdown);
    console.log(`\n${table}\n\n${goalsTable(goals)}\n`);
    log(`wrote ${resultsPath}${chart.png ? ` and ${chart.png}` : ""} in ${minutes.toFixed(1)} min`);
    return { markdown, table, goals, trials,
      files: [resultsPath, ...(chart.png ? [chart.png] : [])] };
  } finally {
    await snapshotter.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Builds our plugin from the working tree with build.ts, into `dir`. */
function buildOurs(dir: string): string {
  const out = join(dir, "prefetchfiles-nri-plugin");
  const run = Bun.spawnSync([process.execPath, "build.ts", "--outfile", out],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0 || !existsSync(out)) {
    throw new Error(`bun build.ts failed:\n${run.stdout}${run.stderr}`);
  }
  return out;
}

const COLORS: Record<string, string> = {
  [`ours@${MAIN_VERSION}`]: "#1f5fbf", [`go@${MAIN_VERSION}`]: "#d0502a",
  [`floor@${MAIN_VERSION}`]: "#777777", [`ours@${EXTRA_VERSION}`]: "#66aaee",
  [`floor@${EXTRA_VERSION}`]: "#bbbbbb",
};
const LABELS: Record<string, string> = { ours: "ours", go: "Go plugin", floor: "do-nothing" };

function series(trials: TrialResult[], field: "plainUs" | "annotatedUs") {
  const keys = Object.keys(COLORS);
  return keys.map((key) => {
    const [contender, version] = key.split("@");
    return {
      label: `${LABELS[contender!]} (NRI ${version})`,
      color: COLORS[key]!,
      values: trials.filter((t) => t.contender === contender && t.version === version)
        .flatMap((t) => t[field]),
    };
  }).filter((s) => s.values.length > 0);
}

function executableSizes(ours: string, go: string): Sizes {
  const candidates = [
    join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun"),
    join(ROOT, "node_modules/bun/bin/bun.exe"),
    process.execPath,
  ];
  const runtime = candidates.find((p) => existsSync(p) && statSync(p).size > 1_000_000) ??
    process.execPath;
  return { ours: statSync(ours).size, go: statSync(go).size,
    bunRuntime: statSync(runtime).size, bunRuntimePath: relative(ROOT, realpathSync(runtime)) };
}

interface Environment {
  machine: string[];
  versions: string[];
}

async function environment(ours: string, go: string, wrappers: Map<string, string>,
  loadAtStart: number[]): Promise<Environment> {
  const text = (cmd: string[], cwd = ROOT) => {
    const run = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
    return run.exitCode === 0 ? run.stdout.toString().trim() : "?";
  };
  const cpu = cpus();
  const osName = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
  const machine = [
    `CPU: ${cpu[0]?.model ?? "?"} × ${cpu.length}`,
    `memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; load average (1, 5, 15 min) at the ` +
      `start ${loadAtStart.map((l) => l.toFixed(2)).join(" ")}, at the end ` +
      `${loadavg().map((l) => l.toFixed(2)).join(" ")} (other work shares this machine)`,
    `kernel: ${text(["uname", "-sr"])}; ${osName ?? "?"}`,
  ];
  const head = text(["git", "rev-parse", "--short", "HEAD"]);
  const dirty = text(["git", "status", "--porcelain", "--", "src", "build.ts", "package.json"]);
  const goInfo = goBinaryInfo(go);
  const versions = [
    `ours: \`${text([ours, "--version"]).split("\n")[0]}\`, built for this run by ` +
      "`bun build.ts` from " +
      `commit ${head}${dirty && dirty !== "?" ? " plus uncommitted changes in src/" : ""}`,
    `Go plugin: ${GO_PLUGIN_MODULE}/cmd/prefetchfiles-nri-plugin ${GO_PLUGIN_VERSION} ` +
      `(\`go install\`, ${goInfo.go}; links NRI ${goInfo.nri}, ttrpc ${goInfo.ttrpc})`,
    `Bun ${Bun.version}; ${text(["go", "version"])}`,
  ];
  for (const [version, wrapper] of wrappers) {
    const h = await Harness.spawn({ version, binary: wrapper });
    try {
      const v = await h.versionInfo();
      versions.push(`harness at NRI ${v.nri} (containerd ${nriVersion(version).containerd}): ` +
        `ttrpc ${v.ttrpc}, ${v.go}, runtime reported as ${v.runtimeName} ${v.runtimeVersion}, ` +
        `RunPodSandbox ${v.features.podRPC ? "as its own RPC" : "as StateChange"}; ` +
        `floor: refplugin (${relative(ROOT, join(ROOT, "test/harness/refplugin"))}) ` +
        `built against the same release, \`noop=true\``);
    } finally {
      await h.close();
    }
  }
  return { machine, versions };
}

interface EventProfiles { plain?: CpuProfile; annotated?: CpuProfile; events: number }

interface RenderInput {
  started: Date;
  minutes: number;
  settings: Settings;
  env: Environment;
  table: string;
  goals: Goal[];
  sizes: Sizes;
  trials: TrialResult[];
  startup?: StartupBreakdown;
  events?: EventProfiles;
  tail?: TailRun[];
  sOurs: Summary; sGo: Summary; sFloor: Summary; sOursExtra: Summary; sFloorExtra: Summary;
  chart?: string;
  chartProblem?: string;
  etc: string;
  tiny: boolean;
}

function renderResults(r: RenderInput): string {
  const s = r.settings;
  const burst = s.burst.toLocaleString("en-US");
  const mb = (b: number) => (b / 1_000_000).toFixed(2);
  const out: string[] = [
    "# Benchmark: prefetchfiles-nri-plugin against the Go plugin",
    "",
    `Written by \`npm run bench\` (test/bench/bench.ts${r.tiny ? " --tiny: a smoke run, " +
      "numbers mean nothing" : ""}) on ${r.started.toISOString()}; the run took ` +
      `${r.minutes.toFixed(1)} minutes.`,
    "",
    "## Machine and versions",
    "",
    ...r.env.machine.map((l) => `- ${l}`),
    ...r.env.versions.map((l) => `- ${l}`),
    "",
    "## Method",
    "",
    `- ${s.rounds} rounds; each round runs one trial per plugin in this order: ours, Go, the ` +
      `do-nothing floor (all at NRI ${MAIN_VERSION}), then ours and the floor at NRI ` +
      `${EXTRA_VERSION}. A trial is a fresh harness (containerd's own \`pkg/adaptation\`) ` +
      "that launches the plugin as a pre-installed plugin (socketpair on fd 3), exactly as " +
      "containerd does. Every value in the tables is the median over the trials.",
    "- One recording snapshotter (test/support/snapshotter.ts, a Bun HTTP server on a Unix " +
      "socket in a temp folder) serves every trial. Ours gets its socket from the .conf; the Go " +
      "plugin from `/etc/nydus/prefetchConfig.toml`, which it cannot run without.",
    "- Isolation: each harness, and with it every plugin it launches, runs in a private mount " +
      "namespace (`unshare --mount --propagation private`) with a throw-away overlay on /etc " +
      "and a temp folder bind-mounted over /etc/nydus; the syslog paths Go's log/syslog dials " +
      "are covered with empty files of ours. The machine's /etc/nydus was " +
      `${r.etc} before the run and was checked unchanged after it.`,
    "- launch to Configure reply: from the runtime's `starting pre-installed NRI plugin` log " +
      "line to its `synchronizing plugin` line, which it writes once Configure has been answered " +
      "(so it includes exec, runtime start-up, RegisterPlugin and Configure).",
    "- round trip: the time `RunPodSandbox` takes in the runtime, measured in the harness. " +
      `After ${s.warmup} warm-up calls, ${s.samples} calls without and ${s.samples} with the ` +
      "sample pod's annotation (test/fixtures/wordpress-pod.yaml), interleaved, each a separate " +
      "command to the harness (so calls are spaced like separate pod starts). With the " +
      "annotation the " +
      "plugin's reply waits for the snapshotter's 200, for both plugins. p50 and p99 per trial.",
    `- burst: ${burst} back-to-back RunPodSandbox calls with the annotation (the harness's ` +
      "`burst`); events/s = calls / wall time. CPU time = utime+stime of the plugin process " +
      "(all threads) across the burst, from /proc/<pid>/stat.",
    `- RSS (VmRSS) ${s.idleMs} ms after the plugin is up, before any event, and after the ` +
      `burst. Open fds (/proc/<pid>/fd) at the same points and before the burst; "flat" means ` +
      `the burst adds at most ${FLAT_FD_SLACK}.`,
    "- Ours logs one line per forwarded pod to its `log_file` (its default `info` level); the " +
      "Go plugin logs nothing on success, and finds no syslog here (so it logs to its discarded " +
      "stderr).",
    "",
    `## Results at NRI ${MAIN_VERSION} (containerd ${nriVersion(MAIN_VERSION).containerd})`,
    "",
    r.table,
    "",
    `Executables: ours ${mb(r.sizes.ours)} MB, Bun runtime (${r.sizes.bunRuntimePath}) ` +
      `${mb(r.sizes.bunRuntime)} MB, so ours adds ${mb(r.sizes.ours - r.sizes.bunRuntime)} MB ` +
      `to it; the Go plugin as \`go install\` builds it (symbols kept) ${mb(r.sizes.go)} MB.`,
    "",
    "## Goals",
    "",
    goalsTable(r.goals),
    "",
  ];
  if (r.chart) {
    out.push("## Latency distribution", "", `![RunPodSandbox round trip](${r.chart})`, "");
  } else if (r.chartProblem) {
    out.push("## Latency distribution", "", `No chart: ${r.chartProblem}.`, "");
  }
  out.push(`## Ours at NRI ${EXTRA_VERSION} (containerd ${nriVersion(EXTRA_VERSION).containerd})`,
    "", "RunPodSandbox arrives as its own RPC here. The Go plugin's NRI v0.8.0 stub does not " +
    "have that RPC (the runtime would fall back to StateChange after an Unimplemented reply), " +
    "so it is not compared at this version.", "",
    versionTable(r.sOursExtra, r.sFloorExtra, r.settings.burst, r.settings.plainBurst), "");
  out.push(...findings(r));
  out.push("## Every trial", "", trialsTable(r.trials), "");
  return out.join("\n");
}

/** Functions a per-call handler context (connect's, or ours) and its clean-up run. */
const CONTEXT_FUNCTIONS = new Set(["createHandlerContext", "createDeadlineSignal",
  "createLinkedAbortController", "abort", "AbortController", "addEventListener",
  "removeEventListener", "Headers", "onAbort", "setTimeout", "clearTimeout"]);

function share(p: CpuProfile, pick: (fn: string) => boolean): number {
  return p.hot.filter((h) => pick(h.fn)).reduce((sum, h) => sum + h.selfPct, 0);
}

/** What was found where a goal was missed, with this run's numbers. */
function findings(r: RenderInput): string[] {
  const out: string[] = [];
  if (!r.startup && !r.events && !r.tail) return out;
  const { sOurs: o, sGo: g, sFloor: f } = r;
  out.push("## Findings", "");
  if (r.startup) {
    const get = (k: string) => r.startup!.steps.find((x) => x.key === k)!;
    const empty = get("empty");
    const ttrpc = get("ttrpc-desc");
    const nri = get("nri-desc");
    const all = get("all");
    out.push("### Start-up and idle memory", "",
      `Launch to Configure reply: ours ${o.launchToConfigureMs.toFixed(0)} ms, Go ` +
      `${g.launchToConfigureMs.toFixed(0)} ms; idle RSS ours ${o.rssIdleMiB.toFixed(1)} MiB, ` +
      `Go ${g.rssIdleMiB.toFixed(1)} MiB. Executables built like the plugin that load part of ` +
      `its module graph and exit (median of ${r.startup.runs} runs each, spawn to exit):`, "",
      startupTable(r.startup), "",
      `Loading the module graph costs ${(all.wallMs - empty.wallMs).toFixed(0)} ms and ` +
      `${(all.rssMiB - empty.rssMiB).toFixed(1)} MiB over an empty Bun program ` +
      `(${empty.wallMs.toFixed(0)} ms, ${empty.rssMiB.toFixed(1)} MiB). Most of it is ` +
      "protobuf-es building message descriptors when the generated modules load: the " +
      `3-message ttrpc descriptor alone adds ${(ttrpc.wallMs - empty.wallMs).toFixed(0)} ms and ` +
      `${(ttrpc.rssMiB - empty.rssMiB).toFixed(1)} MiB (the library first builds its own ` +
      "description of descriptor.proto to decode the embedded FileDescriptorProto, then a " +
      "registry), the NRI api.proto descriptor another " +
      `${(nri.wallMs - ttrpc.wallMs).toFixed(0)} ms and ` +
      `${(nri.rssMiB - ttrpc.rssMiB).toFixed(1)} MiB, and the rest of the graph ` +
      `(connect, smol-toml, our code) ${(all.wallMs - nri.wallMs).toFixed(0)} ms and ` +
      `${(all.rssMiB - nri.rssMiB).toFixed(1)} MiB. All of it happens before the plugin ` +
      "can answer RegisterPlugin, and the descriptor objects stay resident.", "",
      "What would fix it (src/): decode and encode the few NRI and ttrpc messages the plugin " +
      "touches without runtime descriptors: hand-written wire codecs for them (unknown fields " +
      "skipped, as protobuf does), or generated code that does not build descriptors at load. " +
      "The empty-program row is the floor such a change can reach.", "");
  }
  if (r.events) {
    const e = r.events.events.toLocaleString("en-US");
    out.push("### Pod starts", "",
      `Without the annotation: round trip p50 ours ${o.plainP50.toFixed(0)} µs, Go ` +
      `${g.plainP50.toFixed(0)} µs, do-nothing ${f.plainP50.toFixed(0)} µs; CPU per 1,000 ` +
      `events ours ${o.plainCpuMsPer1000.toFixed(0)} ms, Go ${g.plainCpuMsPer1000.toFixed(0)} ` +
      `ms, do-nothing ${f.plainCpuMsPer1000.toFixed(0)} ms. With it: p50 ours ` +
      `${o.annotatedP50.toFixed(0)} µs, Go ${g.annotatedP50.toFixed(0)} µs; CPU per 1,000 ` +
      `ours ${o.cpuMsPer1000.toFixed(0)} ms, Go ${g.cpuMsPer1000.toFixed(0)} ms.`, "",
      `Bun's CPU profile of our plugin (a build without minifying) over ${e} pod starts after ` +
      `${r.settings.warmup} warm-up calls. The profiler samples the JavaScript thread on a ` +
      "wall clock, so native `write` (the reply on the NRI socket), `writeSync` (the log " +
      "line) and `fetch` also count time the thread spent blocked or preempted in the system " +
      "call, not only CPU; on a loaded 2-core machine that is much of it.", "");
    for (const [label, p] of [["without the annotation", r.events.plain],
      ["with the annotation", r.events.annotated]] as const) {
      if (!p) {
        out.push(`(No profile was written ${label}.)`, "");
        continue;
      }
      const ctx = share(p, (fn) => CONTEXT_FUNCTIONS.has(fn));
      out.push(`Pod starts ${label} (${p.durationMs.toFixed(0)} ms profiled, ${p.samples} ` +
        "samples):", "", profileTable(p), "",
        `Per-call context work (${[...CONTEXT_FUNCTIONS].map((n) => `\`${n}\``)
          .join(", ")}) takes ${ctx.toFixed(1)}% of the profiled time here.`, "");
    }
    out.push("src/ttrpc/server.ts gives each call a light context of its own instead of " +
      "connect's `createHandlerContext` (which makes an AbortController linked to the " +
      "connection's signal, a deadline timer and three Headers objects per call, and aborts " +
      "them when the call ends): the remaining time from `timeout_nano`, the connection's " +
      "signal, and two empty Headers. What is left of that work is the share above.", "");
  }
  if (r.tail) out.push(...tailFindings(r, r.tail));
  return out;
}

/** Which call a nearest-rank p99 of n calls is, counted from the slowest. */
function nthSlowest(n: number): string {
  const k = n - Math.ceil(0.99 * n) + 1;
  if (k === 1) return "slowest";
  const suffix = k % 10 === 1 && k % 100 !== 11 ? "st" : k % 10 === 2 && k % 100 !== 12 ? "nd"
    : k % 10 === 3 && k % 100 !== 13 ? "rd" : "th";
  return `${k}${suffix} slowest`;
}

function tailFindings(r: RenderInput, runs: TailRun[]): string[] {
  const { sOurs: o, sGo: g, sFloor: f } = r;
  const calls = runs[0]?.calls ?? 0;
  const rows = runs.map((t) => `| ${t.label} | ${Math.round(t.p50Us)} | ` +
    `${Math.round(t.p99Us)} | ${t.slow} | ${t.collections} | ${t.maxPauseMs.toFixed(1)} |`);
  const by = (label: string) => runs.filter((t) => t.label === label);
  const asBuilt = by(TAIL_VARIANTS[0]!.label);
  const noDfg = by(TAIL_VARIANTS[1]!.label);
  const sum = (list: TailRun[], pick: (t: TailRun) => number) =>
    list.reduce((n, t) => n + pick(t), 0);
  const gcs = sum(asBuilt, (t) => t.collections);
  const slowBuilt = sum(asBuilt, (t) => t.slow);
  const slowNoDfg = sum(noDfg, (t) => t.slow);
  const p50Built = median(asBuilt.map((t) => t.p50Us));
  const p50NoDfg = median(noDfg.map((t) => t.p50Us));
  const list = (l: TailRun[]) => l.map((t) => t.slow).join(" and ");
  const out = ["### Slow pod starts (p99)", "",
    `p99 without the annotation: ours ${o.plainP99.toFixed(0)} µs, Go ` +
    `${g.plainP99.toFixed(0)} µs, do-nothing ${f.plainP99.toFixed(0)} µs; with it ours ` +
    `${o.annotatedP99.toFixed(0)} µs, Go ${g.annotatedP99.toFixed(0)} µs. A trial's p99 is ` +
    `the ${nthSlowest(r.settings.samples)} of its ${r.settings.samples} calls, ` +
    "and on this shared machine it moves several-fold between trials of the same plugin (see " +
    "every trial below): it is the least stable row of the table.", "",
    `To see where our slow calls come from, our plugin (as shipped) served ${calls} spaced ` +
    `pod starts without the annotation after ${r.settings.warmup} warm-up calls, with JSC ` +
    "logging every garbage collection, and again with JSC's optimizing JIT (DFG, and so FTL) " +
    "turned off; the two alternate:", "",
    "| run | p50 µs | p99 µs | calls over 1 ms | collections | longest GC pause (ms) |",
    "|---|---:|---:|---:|---:|---:|", ...rows, ""];
  const notes: string[] = [];
  notes.push(gcs * 2 < slowBuilt
    ? `Garbage collection is too rare to make the tail: ${gcs} collections in ` +
      `${asBuilt.length * calls} calls against ${slowBuilt} calls over 1 ms.`
    : `Garbage collection can account for part of the tail: ${gcs} collections in ` +
      `${asBuilt.length * calls} calls against ${slowBuilt} calls over 1 ms.`);
  if (slowNoDfg * 10 <= slowBuilt * 6) {
    notes.push(`With the optimizing JIT off there were ${list(noDfg)} calls over 1 ms against ` +
      `${list(asBuilt)} as built, at a p50 of ${p50NoDfg.toFixed(0)} µs against ` +
      `${p50Built.toFixed(0)} µs: part of the tail follows the JIT (its compiler threads ` +
      "compete with the plugin for the two cores, and optimized code that is thrown away " +
      "sends calls back to slower tiers), and turning it off costs typical latency. Running " +
      "less code per call (the handler context above; protobuf-es's reflective decode and " +
      "encode) leaves the JIT less to compile.");
  } else {
    notes.push(`With the optimizing JIT off there were ${list(noDfg)} calls over 1 ms against ` +
      `${list(asBuilt)} as built: the JIT does not explain the tail either; what is left is ` +
      "the plugin's own work per call and the machine's other load.");
  }
  out.push(notes.join(" "), "");
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { tiny: { type: "boolean", default: false }, out: { type: "string" },
      rounds: { type: "string" } },
  });
  const result = await main({ tiny: values.tiny, outDir: values.out,
    rounds: values.rounds ? Number(values.rounds) : undefined });
  const missed = result.goals.filter((g) => !g.met).length;
  console.log(`${result.goals.length - missed} goals met, ${missed} missed`);
}
