/**
 * npm run demo: launches the compiled plugin from containerd's own NRI
 * runtime code (the Go harness, at the newest NRI release and at the one
 * containerd 1.7.26-2.1 ship), starts the sample pod from the nydus
 * document, and prints what the snapshotter socket received.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { Harness, type LogEntry, nriVersion } from "./harness/harness.ts";
import { pluginBinary } from "./support/plugin-binary.ts";
import { plainPod, sampleConf, samplePod } from "./support/sample-pod.ts";
import { type ReceivedRequest, RecordingSnapshotter } from "./support/snapshotter.ts";

const VERSIONS = ["v0.12.2", "v0.8.0"];

async function demo(version: string): Promise<boolean> {
  const row = nriVersion(version);
  console.log(`\n== NRI ${version} (containerd ${row.containerd}), plugin launched by the runtime`);
  const snapshotter = RecordingSnapshotter.start();
  const harness = await Harness.spawn({ version });
  try {
    const logFile = join(snapshotter.dir, "plugin.log");
    harness.installPlugin(pluginBinary(), await sampleConf(snapshotter.socket,
      `log_file = "${logFile}"\n`));
    const started = await harness.start();
    const ready = await harness.waitPlugins(1);
    if (!started.ok || !ready.ok) throw new Error(started.error ?? ready.error);
    const status = await harness.status(100);
    console.log(`launch to Configure reply: ${launchToConfigure(status.logs)}` +
      ` (runtime Start() returned after ${started.startMs.toFixed(1)} ms)`);
    const sample = await harness.runPod(await samplePod());
    const plain = await harness.runPod(plainPod());
    console.log(`RunPodSandbox wordpress-sandbox: ${sample.ok ? "ok" : sample.error}` +
      ` in ${(sample.us / 1000).toFixed(2)} ms; plain pod: ${plain.ok ? "ok" : plain.error}`);
    const received = await snapshotter.waitForRequests(1);
    await Bun.sleep(100);
    for (const request of snapshotter.requests) printRequest(request);
    console.log(`requests received: ${snapshotter.requests.length} (the plain pod sends none)`);
    console.log(`plugin log (${logFile}):\n${indent(await Bun.file(logFile).text())}`);
    return sample.ok && plain.ok && received.length === 1;
  } finally {
    await harness.close();
    await snapshotter.close();
  }
}

/** From the runtime's "starting" line to its "synchronizing" line, which follows Configure. */
function launchToConfigure(logs: LogEntry[]): string {
  const start = logs.find((entry) => entry.msg.startsWith("starting pre-installed NRI plugin"));
  const sync = logs.find((entry) => entry.msg.startsWith("synchronizing plugin"));
  if (!start || !sync) return "not in the runtime's log";
  return `${(sync.ms - start.ms).toFixed(1)} ms`;
}

function printRequest(request: ReceivedRequest): void {
  console.log(`received: ${request.method} ${request.path}`);
  for (const [name, value] of Object.entries(request.headers)) console.log(`  ${name}: ${value}`);
  console.log(`  body (${request.body.length} bytes):\n${indent(Buffer.from(request.body).toString())}`);
}

function indent(text: string): string {
  return text.trimEnd().split("\n").map((line) => `    ${line}`).join("\n");
}

const binary = pluginBinary();
console.log(`plugin: ${binary} (${statSync(binary).size} bytes)`);
let ok = true;
for (const version of VERSIONS) ok = (await demo(version)) && ok;
console.log(ok ? "\ndemo: ok" : "\ndemo: FAILED");
process.exit(ok ? 0 : 1);
