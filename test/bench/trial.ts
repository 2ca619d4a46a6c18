/**
 * One trial: a fresh NRI harness (in its private mount namespace) launches
 * one plugin, as containerd does with a pre-installed plugin, and the plugin
 * is measured from launch to a burst of pod starts.
 */
import { Harness, type LogEntry, type PodSpec } from "../harness/harness.ts";
import { median, percentile } from "./stats.ts";
import { cpuMs, fdCount, rssKiB, statusKiB, waitOwnFds } from "./proc.ts";
import type { RecordingSnapshotter } from "../support/snapshotter.ts";

/** How a plugin is put in the harness's plugin folder. */
export interface Contender {
  /** Short key: "ours", "go", "floor". */
  key: string;
  label: string;
  binary: string;
  /** File name in the plugin folder (NN-name). */
  name: string;
  /** Drop-in config text, if any; `dir` is a folder private to the trial. */
  conf?(dir: string): Promise<string> | string;
  /** Whether the plugin forwards the annotation to the snapshotter. */
  forwards: boolean;
}

export interface TrialSettings {
  /** Round-trip calls before measuring, half of them with the annotation. */
  warmup: number;
  /** Measured round trips of each kind (with and without the annotation). */
  samples: number;
  /** Pod starts in the burst (all with the annotation). */
  burst: number;
  /** Pod starts in a burst without the annotation, before the main one. */
  plainBurst: number;
  /** Wait after the plugin is up before reading its idle RSS. */
  idleMs: number;
}

export interface TrialResult {
  contender: string;
  version: string;
  round: number;
  launchToConfigureMs: number;
  /** Round trips seen by the runtime, µs, in call order. */
  plainUs: number[];
  annotatedUs: number[];
  plainP50: number; plainP99: number;
  annotatedP50: number; annotatedP99: number;
  burstMs: number;
  eventsPerSecond: number;
  burstP50Us: number; burstP99Us: number;
  cpuMsPer1000: number;
  plainEventsPerSecond: number;
  plainCpuMsPer1000: number;
  rssIdleKiB: number;
  /** The idle RSS split: anonymous memory, and pages of the executable and libraries. */
  rssIdleAnonKiB: number;
  rssIdleFileKiB: number;
  rssAfterKiB: number;
  fdsIdle: number;
  /** After the warm-up and round trips, before the burst. */
  fdsWarm: number;
  fdsAfter: number;
  /** Requests the snapshotter got, and how many the pod starts asked for. */
  forwarded: number;
  expectedForwards: number;
  errors: string[];
}

export interface TrialContext {
  harnessBinary: string;
  snapshotter: RecordingSnapshotter;
  /** A folder private to the trial (for the .conf's log file and the like). */
  dir: string;
  plainPod: PodSpec;
  annotatedPod: PodSpec;
  /** Open fds of this process before any trial, to wait for the snapshotter to drain. */
  ownFdBaseline: number;
}

/** From the runtime's launch line to its synchronize line, which follows the Configure reply. */
export function launchToConfigure(lines: LogEntry[]): number {
  const start = lines.find((e) => e.msg.startsWith("starting pre-installed NRI plugin"));
  const sync = lines.find((e) => e.msg.startsWith("synchronizing plugin"));
  return start && sync ? sync.ms - start.ms : Number.NaN;
}

export async function runTrial(c: Contender, version: string, round: number,
  settings: TrialSettings, ctx: TrialContext): Promise<TrialResult> {
  const errors: string[] = [];
  const snapshotter = ctx.snapshotter;
  snapshotter.requests.splice(0);
  const harness = await Harness.spawn({ version, binary: ctx.harnessBinary });
  try {
    harness.installPlugin(c.binary, c.conf ? await c.conf(ctx.dir) : undefined, c.name);
    const started = await harness.start();
    if (!started.ok) throw new Error(`start: ${started.error}\n${harness.stderr}`);
    const ready = await harness.waitPlugins(1);
    if (!ready.ok) throw new Error(`plugin not up: ${ready.error}\n${harness.stderr}`);
    const logs = await harness.logs(0, "starting pre-installed NRI plugin|synchronizing plugin");
    const launch = launchToConfigure(logs.lines);
    const status = await harness.status(0);
    const pid = status.plugins[0]?.pid;
    if (!pid) throw new Error(`no plugin pid in status: ${JSON.stringify(status.plugins)}`);

    await Bun.sleep(settings.idleMs);
    const rssIdle = rssKiB(pid);
    const rssIdleAnon = statusKiB(pid, "RssAnon");
    const rssIdleFile = statusKiB(pid, "RssFile");
    const fdsIdle = fdCount(pid);

    const call = async (pod: PodSpec, id: string) => {
      const reply = await harness.runPod({ ...pod, id });
      if (!reply.ok) errors.push(`${id}: ${reply.error}`);
      return reply.us;
    };
    const tag = `${c.key}-${version}-${round}`;
    for (let i = 0; i < settings.warmup; i++) {
      await call(i % 2 === 0 ? ctx.plainPod : ctx.annotatedPod, `warm-${tag}-${i}`);
    }
    const plainUs: number[] = [];
    const annotatedUs: number[] = [];
    for (let i = 0; i < settings.samples; i++) {
      // Alternate which kind goes first, so neither always follows the other.
      const order = i % 2 === 0 ? [false, true] : [true, false];
      for (const annotated of order) {
        if (annotated) annotatedUs.push(await call(ctx.annotatedPod, `a-${tag}-${i}`));
        else plainUs.push(await call(ctx.plainPod, `p-${tag}-${i}`));
      }
    }
    const cpuPlain = cpuMs(pid);
    const plainBurst = await harness.burst(settings.plainBurst,
      { ...ctx.plainPod, id: `pb-${tag}` });
    const cpuPlainAfter = cpuMs(pid);
    if (!plainBurst.ok) {
      errors.push(`plain burst: ${plainBurst.errors} errors, first: ${plainBurst.error}`);
    }
    const fdsWarm = fdCount(pid);

    const cpuBefore = cpuMs(pid);
    const burst = await harness.burst(settings.burst, { ...ctx.annotatedPod, id: `b-${tag}` });
    const cpuAfter = cpuMs(pid);
    if (!burst.ok) errors.push(`burst: ${burst.errors} errors, first: ${burst.error}`);
    const rssAfter = rssKiB(pid);
    const fdsAfter = fdCount(pid);

    const expectedForwards = c.forwards
      ? Math.floor(settings.warmup / 2) + settings.samples + settings.burst : 0;
    // Both plugins answer once the snapshotter took the request; a request
    // still being retried would show up a little later.
    if (snapshotter.requests.length < expectedForwards) {
      await snapshotter.waitForRequests(expectedForwards, 3000).catch(() => {});
    }
    const forwarded = snapshotter.requests.length;
    if (forwarded !== expectedForwards) {
      errors.push(`snapshotter got ${forwarded} requests, expected ${expectedForwards}`);
    }
    return {
      contender: c.key, version, round,
      launchToConfigureMs: launch,
      plainUs, annotatedUs,
      plainP50: percentile(plainUs, 50), plainP99: percentile(plainUs, 99),
      annotatedP50: percentile(annotatedUs, 50), annotatedP99: percentile(annotatedUs, 99),
      burstMs: burst.ms,
      eventsPerSecond: settings.burst / (burst.ms / 1000),
      burstP50Us: burst.p50Us, burstP99Us: burst.p99Us,
      cpuMsPer1000: ((cpuAfter - cpuBefore) * 1000) / settings.burst,
      plainEventsPerSecond: settings.plainBurst / (plainBurst.ms / 1000),
      plainCpuMsPer1000: ((cpuPlainAfter - cpuPlain) * 1000) / settings.plainBurst,
      rssIdleKiB: rssIdle, rssIdleAnonKiB: rssIdleAnon, rssIdleFileKiB: rssIdleFile,
      rssAfterKiB: rssAfter,
      fdsIdle, fdsWarm, fdsAfter,
      forwarded, expectedForwards, errors,
    };
  } finally {
    await harness.close();
    // The snapshotter's side of connections the plugin left open closes when
    // the plugin is killed; wait for that so the next trial starts clean.
    await waitOwnFds(ctx.ownFdBaseline + 16, 15_000);
    snapshotter.requests.splice(0);
  }
}

/** Median over trials of one number. */
export function medianOf(trials: TrialResult[], pick: (t: TrialResult) => number): number {
  return median(trials.map(pick));
}
