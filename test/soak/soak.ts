/**
 * The soak: many RunPodSandbox events with mixed annotations through
 * containerd's own NRI runtime code, against a snapshotter that fails now
 * and then. Every list that should arrive must arrive exactly once and in
 * order per image, and the plugin must never be dropped.
 *
 *   npm run soak               10,000 events, with RSS and descriptor counts
 *   bun test/soak/soak.ts 600  a shorter run
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Harness, type PodSpec } from "../harness/harness.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { PREFETCH_KEY, sampleConf } from "../support/sample-pod.ts";
import { exitAfterEof } from "../support/prelaunch.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";

const IMAGES = ["docker.io/library/nginx:latest", "docker.io/library/redis:7",
  "ghcr.io/example/app:1", "quay.io/example/db:2", "registry.local:5000/team/svc:3"];

export interface SoakResult {
  events: number;
  expected: number;
  delivered: number;
  outOfOrder: string[];
  failedPods: number;
  dropped: number;
  rssAfter500Kib?: number;
  rssEndKib?: number;
  fdsAfter500?: number;
  fdsEnd?: number;
  seconds: number;
}

/** Pod n: a third carry nothing, a tenth carry junk, the rest a list for one image. */
function podFor(n: number, expected: Map<string, string[]>): PodSpec {
  const pod: PodSpec = { id: `soak-${n}`, name: `pod-${n}`, namespace: "soak", uid: `u${n}` };
  if (n % 3 === 0) return pod;
  if (n % 10 === 1) return { ...pod, annotations: { [PREFETCH_KEY]: `{"broken": ${n}` } };
  const image = IMAGES[n % IMAGES.length]!;
  const body = JSON.stringify([{ image, prefetch: `/lists/${n}` }]);
  expected.get(image)!.push(body);
  return { ...pod, annotations: { [PREFETCH_KEY]: body } };
}

/** Every 97th request answered 500, every 331st slowly (past the pod's budget). */
function failNowAndThen(n: number) {
  if (n % 97 === 96) return { status: 500 };
  if (n % 331 === 330) return { delayMs: 2500 };
  return undefined;
}

function procKib(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export async function soak(events: number, measure = true): Promise<SoakResult> {
  const started = performance.now();
  const snapshotter = RecordingSnapshotter.start();
  snapshotter.behaviour.plan = failNowAndThen;
  const harness = await Harness.spawn({ version: "v0.12.2" });
  try {
    harness.installPlugin(pluginBinary(), await sampleConf(snapshotter.socket));
    if (!(await harness.start()).ok || !(await harness.waitPlugins(1)).ok) {
      throw new Error(`plugin did not start:\n${harness.stderr}`);
    }
    const pid = (await harness.status()).plugins[0]!.pid;
    const expected = new Map(IMAGES.map((image) => [image, [] as string[]]));
    const result: SoakResult = { events, expected: 0, delivered: 0, outOfOrder: [],
      failedPods: 0, dropped: 0, seconds: 0 };
    for (let n = 0; n < events; n++) {
      if (!(await harness.runPod(podFor(n, expected))).ok) result.failedPods++;
      if (measure && n === 499) {
        result.rssAfter500Kib = procKib(pid);
        result.fdsAfter500 = openFds(pid);
      }
    }
    result.expected = [...expected.values()].reduce((sum, list) => sum + list.length, 0);
    await waitForAccepted(snapshotter, result.expected);
    if (measure) {
      result.rssEndKib = procKib(pid);
      result.fdsEnd = openFds(pid);
    }
    compare(snapshotter, expected, result);
    result.dropped = (await harness.status()).log.dropped.length;
    result.seconds = (performance.now() - started) / 1000;
    return result;
  } finally {
    await harness.close();
    await snapshotter.close();
  }
}

async function waitForAccepted(snapshotter: RecordingSnapshotter, count: number) {
  const deadline = Date.now() + 30_000;
  while (accepted(snapshotter).length < count && Date.now() < deadline) await Bun.sleep(50);
  await Bun.sleep(200); // anything extra (a duplicate) would arrive now
}

function accepted(snapshotter: RecordingSnapshotter): string[] {
  return snapshotter.requests.filter((r) => r.status === 200)
    .map((r) => Buffer.from(r.body).toString());
}

function compare(
  snapshotter: RecordingSnapshotter,
  expected: Map<string, string[]>,
  result: SoakResult,
): void {
  const bodies = accepted(snapshotter);
  result.delivered = bodies.length;
  for (const [image, wanted] of expected) {
    const got = bodies.filter((body) => body.includes(`"image":"${image}"`));
    if (JSON.stringify(got) !== JSON.stringify(wanted)) {
      result.outOfOrder.push(`${image}: expected ${wanted.length}, got ${got.length} ` +
        "(or in another order)");
    }
  }
}

if (import.meta.main) {
  const events = Number(process.argv[2] ?? 10_000);
  const result = await soak(events);
  const ratio = result.rssEndKib! / result.rssAfter500Kib!;
  console.log([
    `events: ${result.events} in ${result.seconds.toFixed(1)} s`,
    `lists expected: ${result.expected}, delivered: ${result.delivered}`,
    `order per image: ${result.outOfOrder.length === 0 ? "kept" : result.outOfOrder.join("; ")}`,
    `pods failed: ${result.failedPods}; plugin dropped: ${result.dropped}`,
    `RSS after 500 events: ${(result.rssAfter500Kib! / 1024).toFixed(1)} MiB, at the end: ` +
      `${(result.rssEndKib! / 1024).toFixed(1)} MiB (ratio ${ratio.toFixed(2)}, goal <= 1.2)`,
    `open descriptors after 500 events: ${result.fdsAfter500}, at the end: ${result.fdsEnd}`,
  ].join("\n"));
  const exits = [];
  const logDir = mkdtempSync(join(tmpdir(), "soak-exit-"));
  for (let i = 0; i < 5; i++) {
    exits.push((await exitAfterEof(`log_file = "${logDir}/plugin.log"\n`)).ms);
  }
  rmSync(logDir, { recursive: true, force: true });
  exits.sort((a, b) => a - b);
  console.log(`exit after EOF on the pre-launched socket: median ${exits[2]!.toFixed(1)} ms ` +
    `over 5 launches (goal < 100 ms)`);
  const ok = result.outOfOrder.length === 0 && result.delivered === result.expected &&
    result.failedPods === 0 && result.dropped === 0;
  process.exit(ok ? 0 : 1);
}
