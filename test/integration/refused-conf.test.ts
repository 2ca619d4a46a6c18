// A .conf with a bad value, delivered by containerd's own NRI runtime code in
// Configure. Where refusing Configure costs the runtime only this plugin (NRI
// v0.7+), the refusal must reach the runtime's log with its reason; where it
// would fail the runtime's whole NRI start (before v0.7), the plugin must stay
// registered and handle no pod. Either way the plugin's own log says why.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Harness } from "../harness/harness.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { sampleConf, samplePod } from "../support/sample-pod.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";
import { testScope } from "../support/scope.ts";
import { waitUntil } from "../support/wait.ts";

const { defer } = testScope();
const BAD_KEY = "must be a positive whole number, got 0";

/** A harness at `version` with the plugin installed beside a .conf holding one bad key. */
async function withBadConf(version: string) {
  const snapshotter = RecordingSnapshotter.start();
  defer(() => snapshotter.close());
  const harness = await Harness.spawn({ version });
  defer(() => harness.close());
  const logFile = join(snapshotter.dir, "plugin.log");
  // The log keys are valid and come first; the bad key is the last line.
  harness.installPlugin(pluginBinary(), await sampleConf(snapshotter.socket,
    `log_file = "${logFile}"\nqueue_max_requests = 0\n`));
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  return { snapshotter, harness, log };
}

describe("NRI v0.12.2: the refusal reaches the runtime's log with its reason", () => {
  // Three tries: the reply used to race the close of the connection.
  for (const attempt of [1, 2, 3]) {
    test(`try ${attempt}`, async () => {
      const { harness, log } = await withBadConf("v0.12.2");
      const started = await harness.start();
      expect(started.ok).toBe(true); // the runtime starts, without this plugin
      const status = await harness.status();
      expect(status.active).toBe(0);
      const failures = status.log.failures.join("\n");
      expect(failures).toContain(`key "queue_max_requests" ${BAD_KEY}`);
      expect(failures).not.toContain("ttrpc: closed");
      // The plugin's own lines, from before Configure too, are in its log_file.
      await waitUntil(() => log().includes("configuration refused"), "the plugin's log_file");
      expect(log()).toContain('msg="plugin starting"');
      expect(log()).toContain(BAD_KEY);
    }, 30_000);
  }
});

const OLD_RUNTIME =
  "NRI v0.6.1 (containerd 1.7.0 to 1.7.25): one refusal would fail the runtime's start";

describe(OLD_RUNTIME, () => {
  test("the plugin stays registered, handles no pod and says why", async () => {
    const { snapshotter, harness, log } = await withBadConf("v0.6.1");
    const started = await harness.start();
    expect(started.ok, String(started.error)).toBe(true);
    expect((await harness.waitPlugins(1)).ok).toBe(true);
    expect(await harness.runPod(await samplePod())).toMatchObject({ ok: true });
    await waitUntil(() => log().includes("pod start not handled"), "the pod's log line");
    expect(snapshotter.requests).toHaveLength(0);
    const text = log();
    expect(text).toMatch(/level=error msg="configuration refused; staying registered[^\n]*/);
    expect(text).toContain(BAD_KEY);
    expect(text).toMatch(/msg="pod start not handled: the .conf was refused" pod=default\//);
  }, 30_000);
});
