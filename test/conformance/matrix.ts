/**
 * One conformance case: a harness built against one NRI release plays
 * containerd; the plugin registers in one launch mode; the sample pod starts;
 * the case passes when the snapshotter got the annotation byte for byte, the
 * plugin saw the pod on the path that release uses, and was never dropped.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildHarness, Harness, HarnessBuildError, type NriVersion } from "../harness/harness.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { PREFETCH_KEY, sampleConf, samplePod } from "../support/sample-pod.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";

export type Mode = "pre-launched" | "external" | "pre-launched, no RunPodSandbox RPC";

export interface Row {
  nri: string;
  containerd: string;
  /** The ttrpc release the harness was pinned to, as built. */
  ttrpc: string;
  mode: Mode;
  /** The RPC that carried the pod start, as the plugin logged it. */
  delivery: string;
  result: "pass" | "FAIL" | "cannot build";
  detail: string;
}

/** The modes to try against a release: the fallback only exists from v0.12. */
export function modesFor(row: NriVersion): Mode[] {
  const modes: Mode[] = ["pre-launched", "external"];
  if (row.dedicatedRunPodSandbox) modes.push("pre-launched, no RunPodSandbox RPC");
  return modes;
}

/** The delivery path a release must use in a mode. */
export function expectedDelivery(row: NriVersion, mode: Mode): string {
  return row.dedicatedRunPodSandbox && mode !== "pre-launched, no RunPodSandbox RPC"
    ? "RunPodSandbox"
    : "StateChange";
}

export async function runCase(row: NriVersion, mode: Mode): Promise<Row> {
  const base = { nri: row.version, containerd: row.containerd, mode };
  try {
    await buildHarness(row.version);
  } catch (error) {
    if (!(error instanceof HarnessBuildError)) throw error;
    return { ...base, ttrpc: "-", delivery: "-", result: "cannot build",
      detail: firstLine(error.output) };
  }
  const snapshotter = RecordingSnapshotter.start();
  const harness = await Harness.spawn({ version: row.version });
  const logFile = join(snapshotter.dir, "plugin.log");
  try {
    const { ttrpc } = await harness.versionInfo();
    const detail = await exercise(harness, snapshotter, logFile, mode);
    const delivery = deliveryPath(logFile);
    const expected = expectedDelivery(row, mode);
    const ok = detail === "" && delivery === expected;
    const why = detail || (ok ? "" : `expected delivery by ${expected}`);
    return { ...base, ttrpc, delivery, result: ok ? "pass" : "FAIL", detail: why };
  } finally {
    await harness.close();
    await snapshotter.close();
  }
}

async function exercise(
  harness: Harness,
  snapshotter: RecordingSnapshotter,
  logFile: string,
  mode: Mode,
): Promise<string> {
  const conf = await sampleConf(snapshotter.socket,
    `log_file = "${logFile}"\nlog_level = "debug"\n`);
  let external: ReturnType<typeof Bun.spawn> | undefined;
  if (mode === "external") {
    await Bun.write(join(snapshotter.dir, "plugin.conf"), conf);
  } else {
    harness.installPlugin(pluginBinary(mode !== "pre-launched"), conf);
  }
  try {
    const started = await harness.start();
    if (!started.ok) return `runtime did not start: ${started.error}`;
    if (mode === "external") external = spawnExternal(harness, snapshotter.dir);
    const ready = await harness.waitPlugins(1, 15_000);
    if (!ready.ok) return `plugin not registered: ${ready.error}`;
    return await forwardSample(harness, snapshotter);
  } finally {
    external?.kill();
  }
}

function spawnExternal(harness: Harness, dir: string) {
  return Bun.spawn([pluginBinary(), "--nri-socket", harness.socket, "--idx", "03",
    "--conf", join(dir, "plugin.conf")], { stdout: "ignore", stderr: "ignore" });
}

async function forwardSample(harness: Harness, snapshotter: RecordingSnapshotter) {
  const pod = await samplePod();
  const reply = await harness.runPod(pod);
  if (!reply.ok) return `RunPodSandbox failed: ${reply.error}`;
  try {
    const [request] = await snapshotter.waitForRequests(1, 5000);
    const body = Buffer.from(request!.body).toString();
    if (body !== pod.annotations![PREFETCH_KEY]) return "body differs from the annotation";
  } catch (error) {
    return (error as Error).message;
  }
  const status = await harness.status();
  if (status.log.dropped.length > 0) return `plugin dropped: ${status.log.dropped[0]!.error}`;
  return "";
}

/** The `via` of the plugin's "pod sandbox starting" debug line. */
function deliveryPath(logFile: string): string {
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return "-";
  }
  return /msg="pod sandbox starting".* via=(\w+)/.exec(text)?.[1] ?? "-";
}

function firstLine(text: string): string {
  return text.split("\n").find((line) => line.trim() !== "")?.trim() ?? "";
}

/** The rows as a Markdown table. */
export function table(rows: Row[]): string {
  const lines = [
    "| NRI | containerd | ttrpc | mode | delivery | result | detail |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.nri} | ${r.containerd} | ${r.ttrpc} | ${r.mode} | ` +
      `${r.delivery} | ${r.result} | ${r.detail} |`),
  ];
  return lines.join("\n");
}
