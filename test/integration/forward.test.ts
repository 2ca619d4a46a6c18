// The main path through containerd's own NRI runtime code: the plugin is
// launched (or dialled in) by the adaptation and forwards the sample pod.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Harness } from "../harness/harness.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { PREFETCH_KEY, plainPod, sampleConf, samplePod } from "../support/sample-pod.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";
import { testScope } from "../support/scope.ts";

const { defer } = testScope();

async function setup(version: string) {
  const snapshotter = RecordingSnapshotter.start();
  defer(() => snapshotter.close());
  const harness = await Harness.spawn({ version });
  defer(() => harness.close());
  const logFile = join(snapshotter.dir, "plugin.log");
  const conf = await sampleConf(snapshotter.socket,
    `log_file = "${logFile}"\nlog_level = "debug"\n`);
  return { snapshotter, harness, conf, logFile };
}

function onFailure(harness: Harness, logFile: string) {
  return () => {
    let plugin = "";
    try {
      plugin = readFileSync(logFile, "utf8");
    } catch {}
    return `--- NRI runtime log\n${harness.stderr}\n--- plugin log\n${plugin}`;
  };
}

async function expectForwarded(harness: Harness, snapshotter: RecordingSnapshotter) {
  const pod = await samplePod();
  const sample = await harness.runPod(pod);
  expect(sample).toMatchObject({ ok: true });
  const plain = await harness.runPod(plainPod());
  expect(plain).toMatchObject({ ok: true });
  const [request] = await snapshotter.waitForRequests(1);
  expect(request?.method).toBe("PUT");
  expect(request?.path).toBe("/api/v1/prefetch");
  expect(Buffer.from(request!.body).toString()).toBe(pod.annotations![PREFETCH_KEY]!);
  await Bun.sleep(100);
  expect(snapshotter.requests).toHaveLength(1); // nothing for the plain pod
}

for (const version of ["v0.12.2", "v0.8.0"]) {
  describe(`NRI ${version}`, () => {
    test("pre-launched: the sample pod's annotation is forwarded byte for byte", async () => {
      const { snapshotter, harness, conf, logFile } = await setup(version);
      harness.installPlugin(pluginBinary(), conf);
      const explain = onFailure(harness, logFile);
      expect(await harness.start(), explain()).toMatchObject({ ok: true });
      expect(await harness.waitPlugins(1), explain()).toMatchObject({ ok: true });
      await expectForwarded(harness, snapshotter);
      const status = await harness.status();
      expect(status.plugins.map((p) => p.events), explain()).toEqual([1]);
      expect(status.log.dropped, explain()).toEqual([]);
      expect(readFileSync(logFile, "utf8")).toContain('msg="prefetch list forwarded"');
    }, 120_000);

    test("external: started by hand, it dials the runtime and forwards", async () => {
      const { snapshotter, harness, conf, logFile } = await setup(version);
      const confFile = join(snapshotter.dir, "plugin.conf");
      await Bun.write(confFile, conf);
      expect(await harness.start()).toMatchObject({ ok: true });
      const plugin = Bun.spawn([pluginBinary(), "--nri-socket", harness.socket, "--idx", "03",
        "--conf", confFile], { stderr: "pipe", stdout: "ignore" });
      defer(() => void plugin.kill());
      expect(await harness.waitPlugins(1), onFailure(harness, logFile)())
        .toMatchObject({ ok: true });
      await expectForwarded(harness, snapshotter);
    }, 120_000);
  });
}
