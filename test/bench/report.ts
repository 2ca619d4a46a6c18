/** Medians over trials, the goals, and the Markdown that holds them. */
import { median } from "./stats.ts";
import type { CpuProfile, StartupBreakdown } from "./profile.ts";
import type { TrialResult } from "./trial.ts";

/** Medians over the trials of one plugin at one NRI version. */
export interface Summary {
  trials: number;
  launchToConfigureMs: number;
  plainP50: number; plainP99: number;
  annotatedP50: number; annotatedP99: number;
  eventsPerSecond: number;
  cpuMsPer1000: number;
  plainEventsPerSecond: number;
  plainCpuMsPer1000: number;
  rssIdleMiB: number; rssIdleAnonMiB: number; rssIdleFileMiB: number; rssAfterMiB: number;
  fdsIdle: number; fdsWarm: number; fdsAfter: number;
  errors: number;
}

export function summarize(trials: TrialResult[]): Summary {
  const m = (pick: (t: TrialResult) => number) => median(trials.map(pick));
  return {
    trials: trials.length,
    launchToConfigureMs: m((t) => t.launchToConfigureMs),
    plainP50: m((t) => t.plainP50), plainP99: m((t) => t.plainP99),
    annotatedP50: m((t) => t.annotatedP50), annotatedP99: m((t) => t.annotatedP99),
    eventsPerSecond: m((t) => t.eventsPerSecond),
    cpuMsPer1000: m((t) => t.cpuMsPer1000),
    plainEventsPerSecond: m((t) => t.plainEventsPerSecond),
    plainCpuMsPer1000: m((t) => t.plainCpuMsPer1000),
    rssIdleMiB: m((t) => t.rssIdleKiB / 1024),
    rssIdleAnonMiB: m((t) => t.rssIdleAnonKiB / 1024),
    rssIdleFileMiB: m((t) => t.rssIdleFileKiB / 1024),
    rssAfterMiB: m((t) => t.rssAfterKiB / 1024),
    fdsIdle: m((t) => t.fdsIdle), fdsWarm: m((t) => t.fdsWarm), fdsAfter: m((t) => t.fdsAfter),
    errors: trials.reduce((n, t) => n + t.errors.length, 0),
  };
}

export interface Sizes {
  ours: number;
  go: number;
  bunRuntime: number;
  bunRuntimePath: string;
}

export interface Goal {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

/** fds count as flat when the burst adds at most this many over the warmed-up count. */
export const FLAT_FD_SLACK = 2;
const MB = 1_000_000;

export function evaluateGoals(ours: Summary, go: Summary, floor: Summary, sizes: Sizes): Goal[] {
  const ratio = (name: string, a: number, b: number, op: "<=" | ">=", limit: number): Goal => {
    const r = a / b;
    return { name, target: `ours/Go ${op === "<=" ? "≤" : "≥"} ${limit.toFixed(1)}`,
      measured: r.toFixed(2), met: op === "<=" ? r <= limit : r >= limit };
  };
  const floorRatio = ours.plainP50 / floor.plainP50;
  const extra = sizes.ours - sizes.bunRuntime;
  const fdGrowth = ours.fdsAfter - ours.fdsWarm;
  return [
    ratio("round trip p50, no annotation", ours.plainP50, go.plainP50, "<=", 1),
    ratio("round trip p99, no annotation", ours.plainP99, go.plainP99, "<=", 1),
    ratio("round trip p50, with annotation", ours.annotatedP50, go.annotatedP50, "<=", 1),
    ratio("round trip p99, with annotation", ours.annotatedP99, go.annotatedP99, "<=", 1),
    ratio("burst throughput", ours.eventsPerSecond, go.eventsPerSecond, ">=", 1),
    ratio("launch to Configure reply", ours.launchToConfigureMs, go.launchToConfigureMs, "<=", 5),
    { name: "round trip p50, no annotation, against the do-nothing plugin",
      target: "ours/floor ≤ 1.2", measured: floorRatio.toFixed(2), met: floorRatio <= 1.2 },
    { name: "idle RSS", target: "≤ 45 MiB", measured: `${ours.rssIdleMiB.toFixed(1)} MiB`,
      met: ours.rssIdleMiB <= 45 },
    { name: "executable size over the Bun runtime", target: "≤ 5 MB",
      measured: `${(extra / MB).toFixed(2)} MB`, met: extra <= 5 * MB },
    { name: "open fds flat after 10,000 events",
      target: `after − before the burst ≤ ${FLAT_FD_SLACK}`,
      measured: `${ours.fdsWarm} → ${ours.fdsAfter}`, met: fdGrowth <= FLAT_FD_SLACK },
  ];
}

const fmt = {
  ms: (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "—"),
  us: (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "—"),
  n: (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "—"),
  mib: (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "—"),
  ratio: (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "—"),
  mb: (bytes: number) => (bytes / MB).toFixed(1),
};

interface Row { label: string; pick: (s: Summary) => number; show: (v: number) => string }

function rows(burst: number, plainBurst: number): Row[] {
  const b = burst.toLocaleString("en-US");
  const pb = plainBurst.toLocaleString("en-US");
  return [
    { label: "launch to Configure reply (ms)", pick: (s) => s.launchToConfigureMs, show: fmt.ms },
    { label: "round trip, no annotation, p50 (µs)", pick: (s) => s.plainP50, show: fmt.us },
    { label: "round trip, no annotation, p99 (µs)", pick: (s) => s.plainP99, show: fmt.us },
    { label: "round trip, with annotation, p50 (µs)", pick: (s) => s.annotatedP50, show: fmt.us },
    { label: "round trip, with annotation, p99 (µs)", pick: (s) => s.annotatedP99, show: fmt.us },
    { label: `burst of ${b} annotated pod starts (events/s)`, pick: (s) => s.eventsPerSecond,
      show: fmt.n },
    { label: "CPU time per 1,000 of these events (ms)", pick: (s) => s.cpuMsPer1000,
      show: fmt.ms },
    { label: `burst of ${pb} pod starts without it (events/s)`,
      pick: (s) => s.plainEventsPerSecond, show: fmt.n },
    { label: "CPU time per 1,000 of these events (ms)", pick: (s) => s.plainCpuMsPer1000,
      show: fmt.ms },
    { label: "RSS idle after start (MiB)", pick: (s) => s.rssIdleMiB, show: fmt.mib },
    { label: "… of it anonymous memory (MiB)", pick: (s) => s.rssIdleAnonMiB, show: fmt.mib },
    { label: "… of it file pages: executable, libraries (MiB)", pick: (s) => s.rssIdleFileMiB,
      show: fmt.mib },
    { label: `RSS after ${b} more events (MiB)`, pick: (s) => s.rssAfterMiB, show: fmt.mib },
    { label: "open fds idle after start", pick: (s) => s.fdsIdle, show: fmt.n },
    { label: "open fds before the burst", pick: (s) => s.fdsWarm, show: fmt.n },
    { label: `open fds after ${b} events`, pick: (s) => s.fdsAfter, show: fmt.n },
  ];
}

/** The main table: ours, Go, ratio, floor. */
export function mainTable(ours: Summary, go: Summary, floor: Summary, sizes: Sizes,
  burst: number, plainBurst: number): string {
  const lines = [
    "| measure | ours | Go plugin | ours/Go | do-nothing floor |",
    "|---|---:|---:|---:|---:|",
  ];
  for (const r of rows(burst, plainBurst)) {
    const a = r.pick(ours);
    const b = r.pick(go);
    lines.push(`| ${r.label} | ${r.show(a)} | ${r.show(b)} | ${fmt.ratio(a, b)} | ` +
      `${r.show(r.pick(floor))} |`);
  }
  lines.push(`| executable size (MB) | ${fmt.mb(sizes.ours)} | ${fmt.mb(sizes.go)} | ` +
    `${fmt.ratio(sizes.ours, sizes.go)} | — |`);
  return lines.join("\n");
}

/** Ours against the floor at another NRI version. */
export function versionTable(ours: Summary, floor: Summary, burst: number,
  plainBurst: number): string {
  const lines = ["| measure | ours | do-nothing floor | ours/floor |", "|---|---:|---:|---:|"];
  for (const r of rows(burst, plainBurst)) {
    const a = r.pick(ours);
    const b = r.pick(floor);
    lines.push(`| ${r.label} | ${r.show(a)} | ${r.show(b)} | ${fmt.ratio(a, b)} |`);
  }
  return lines.join("\n");
}

export function goalsTable(goals: Goal[]): string {
  return ["| goal | target | measured | |", "|---|---|---:|---|",
    ...goals.map((g) => `| ${g.name} | ${g.target} | ${g.measured} | ` +
      `${g.met ? "met" : "**missed**"} |`)].join("\n");
}

export function trialsTable(trials: TrialResult[]): string {
  const lines = [
    "| # | plugin | NRI | launch ms | plain p50/p99 µs | annotated p50/p99 µs | events/s | " +
    "CPU ms/1k | RSS idle→after MiB | fds idle/before/after | forwarded | errors |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const t of trials) {
    lines.push(`| ${t.round} | ${t.contender} | ${t.version} | ` +
      `${fmt.ms(t.launchToConfigureMs)} | ` +
      `${fmt.us(t.plainP50)} / ${fmt.us(t.plainP99)} | ` +
      `${fmt.us(t.annotatedP50)} / ${fmt.us(t.annotatedP99)} | ${fmt.n(t.eventsPerSecond)} | ` +
      `${fmt.ms(t.cpuMsPer1000)} | ${fmt.mib(t.rssIdleKiB / 1024)} → ` +
      `${fmt.mib(t.rssAfterKiB / 1024)} | ${t.fdsIdle}/${t.fdsWarm}/${t.fdsAfter} | ` +
      `${t.forwarded}/${t.expectedForwards} | ${t.errors.length === 0 ? "" :
        t.errors.slice(0, 2).join("; ").replaceAll("|", "/")} |`);
  }
  return lines.join("\n");
}

export function startupTable(b: StartupBreakdown): string {
  const lines = [
    "| executable (built like the plugin: compile, minify, bytecode) | spawn to exit (ms) | " +
    "RSS at exit (MiB) |",
    "|---|---:|---:|",
    ...b.steps.map((s) => `| ${s.what} | ${s.wallMs.toFixed(1)} | ${s.rssMiB.toFixed(1)} |`),
  ];
  if (b.profile) {
    lines.push("", "Top functions by self time while the whole module graph loads (Bun's CPU " +
      `profiler, 100 µs sampling, ${fmt.ms(b.profile.durationMs)} ms profiled):`, "",
      profileTable(b.profile));
  }
  return lines.join("\n");
}

export function profileTable(p: CpuProfile, top = 12): string {
  return ["| self (ms) | self % | function | where |", "|---:|---:|---|---|",
    ...p.hot.slice(0, top).map((h) => `| ${h.selfMs.toFixed(1)} | ${h.selfPct.toFixed(1)} | ` +
      `\`${h.fn.replaceAll("|", "\\|").slice(0, 60)}\` | ${h.where} |`)].join("\n");
}
