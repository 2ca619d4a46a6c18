// The plugin's lifecycle against containerd's own NRI runtime code: restarts,
// a runtime that is not there yet, large split syncs, the events mask.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Harness } from "../harness/harness.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { PREFETCH_KEY, sampleConf, samplePod } from "../support/sample-pod.ts";
import { RecordingSnapshotter } from "../support/snapshotter.ts";
import { testScope } from "../support/scope.ts";

const { defer } = testScope();

async function setup(version: string, options: { socket?: string } = {}) {
  const snapshotter = RecordingSnapshotter.start();
  defer(() => snapshotter.close());
  const harness = await Harness.spawn({ version, ...options });
  defer(() => harness.close());
  const confFile = join(snapshotter.dir, "plugin.conf");
  await Bun.write(confFile, await sampleConf(snapshotter.socket, 'log_level = "debug"\n'));
  return { snapshotter, harness, confFile };
}

/** Starts the plugin by hand against the harness's socket; collects its stderr. */
function startExternal(socket: string, confFile: string) {
  const plugin = Bun.spawn([pluginBinary(), "--nri-socket", socket, "--idx", "03",
    "--conf", confFile], { stdout: "ignore", stderr: "pipe" });
  const output = { text: "" };
  void (async () => {
    for await (const chunk of plugin.stderr) output.text += Buffer.from(chunk).toString();
  })();
  defer(() => void plugin.kill());
  return { plugin, output };
}

async function forwards(harness: Harness, snapshotter: RecordingSnapshotter, id: string) {
  const before = snapshotter.requests.length;
  const pod = await samplePod(id);
  expect(await harness.runPod(pod)).toMatchObject({ ok: true });
  const requests = await snapshotter.waitForRequests(before + 1);
  expect(Buffer.from(requests[before]!.body).toString()).toBe(pod.annotations![PREFETCH_KEY]!);
}

for (const version of ["v0.12.2", "v0.8.0"]) {
  describe(`NRI ${version}`, () => {
    test("external: after the runtime restarts, the plugin registers again and forwards",
      async () => {
        const { snapshotter, harness, confFile } = await setup(version);
        await harness.start();
        const { output } = startExternal(harness.socket, confFile);
        expect(await harness.waitPlugins(1)).toMatchObject({ ok: true });
        await forwards(harness, snapshotter, "before-restart");
        expect((await harness.stop()).ok).toBe(true);
        expect((await harness.start()).ok).toBe(true);
        expect(await harness.waitPlugins(1, 20_000), output.text).toMatchObject({ ok: true });
        await forwards(harness, snapshotter, "after-restart");
        expect(output.text).toContain("runtime closed the connection; reconnecting");
      }, 60_000);

    test("a sync of 2,000 pods with 8 KiB annotations (over 4 MiB) is answered slice by slice",
      async () => {
        const { snapshotter, harness } = await setup(version);
        harness.installPlugin(pluginBinary(), await sampleConf(snapshotter.socket));
        expect((await harness.setPods(2000, 8192)).ok).toBe(true);
        expect(await harness.start()).toMatchObject({ ok: true });
        expect(await harness.waitPlugins(1)).toMatchObject({ ok: true });
        const status = await harness.status();
        const split = await harness.logs(0, "more: true");
        expect(split.lines.length).toBeGreaterThan(0); // the runtime did split it
        expect(status.log.failures, harness.stderr).toEqual([]);
        expect(status.log.dropped).toEqual([]);
        expect(status.syncs.at(-1)).toMatchObject({ pods: 2000 });
        await forwards(harness, snapshotter, "after-big-sync");
      }, 120_000);
  });
}

test("a plugin started before the runtime says where it looked, waits, then registers",
  async () => {
    const { snapshotter, harness, confFile } = await setup("v0.12.2");
    const { output } = startExternal(harness.socket, confFile);
    await Bun.sleep(1500);
    const reported = output.text.match(/level=error msg="cannot reach the runtime/g) ?? [];
    const retried = output.text.match(/msg="still cannot reach the runtime/g) ?? [];
    expect(reported).toHaveLength(1); // said once,
    expect(retried.length).toBeGreaterThanOrEqual(1); // retried quietly,
    expect(retried.length).toBeLessThanOrEqual(3); // with backoff, not in a spin
    expect(output.text).toContain(`NRI socket ${harness.socket} does not exist`);
    expect(output.text).toContain("disable_connections");
    await harness.start();
    expect(await harness.waitPlugins(1, 20_000), output.text).toMatchObject({ ok: true });
    await forwards(harness, snapshotter, "late-runtime");
  }, 60_000);

for (const version of ["v0.3.0", "v0.12.2"]) {
  test(`NRI ${version}: the events mask is RUN_POD_SANDBOX alone (0x1)`, async () => {
    const { snapshotter, harness } = await setup(version);
    harness.installPlugin(pluginBinary(), await sampleConf(snapshotter.socket));
    await harness.start();
    expect(await harness.waitPlugins(1)).toMatchObject({ ok: true });
    const status = await harness.status();
    expect(status.plugins.map((plugin) => plugin.events)).toEqual([0x1]);
    expect(status.log.failures).toEqual([]);
  }, 120_000);
}

describe("stopping with a request still queued (SIGTERM, external)", () => {
  /** A plugin started by hand whose snapshotter is down, with one pod's request queued. */
  async function queuedRequest() {
    const { snapshotter, harness, confFile } = await setup("v0.12.2");
    await Bun.write(confFile, await sampleConf(snapshotter.socket, 'retry_window = "60s"\n'));
    await harness.start();
    const external = startExternal(harness.socket, confFile);
    expect(await harness.waitPlugins(1)).toMatchObject({ ok: true });
    await snapshotter.stopListening();
    expect(await harness.runPod(await samplePod())).toMatchObject({ ok: true });
    return { snapshotter, ...external };
  }

  test("the request is still delivered within the stop grace", async () => {
    const { snapshotter, plugin, output } = await queuedRequest();
    plugin.kill("SIGTERM");
    await Bun.sleep(300);
    expect(plugin.exitCode).toBeNull(); // waiting for the snapshotter, not gone yet
    snapshotter.listen();
    expect(await snapshotter.waitForRequests(1, 5000)).toHaveLength(1);
    expect(await plugin.exited).toBe(0);
    expect(output.text).toContain('msg="prefetch list forwarded after retry"');
    expect(output.text).not.toContain("prefetch request dropped");
  }, 30_000);

  test("a request still queued after the grace is logged as dropped, then the plugin exits",
    async () => {
      const { plugin, output } = await queuedRequest();
      const stoppedAt = Date.now();
      plugin.kill("SIGTERM");
      expect(await plugin.exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeGreaterThan(1500); // it gave the request its grace
      const line = output.text.split("\n").find((l) => l.includes("prefetch request dropped"));
      expect(line).toContain("level=error");
      expect(line).toContain("pod=default/wordpress-sandbox");
      expect(line).toContain('reason="plugin stopping"');
      expect(line).toContain("socket does not exist");
    }, 30_000);

  test("a second signal stops it at once, and still logs what it drops", async () => {
    const { plugin, output } = await queuedRequest();
    const stoppedAt = Date.now();
    plugin.kill("SIGTERM");
    await Bun.sleep(100);
    plugin.kill("SIGTERM");
    expect(await plugin.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(1500);
    const line = output.text.split("\n").find((l) => l.includes("prefetch request dropped"));
    expect(line).toContain("pod=default/wordpress-sandbox");
    expect(line).toContain('reason="plugin stopping"');
  }, 30_000);

  test("SIGHUP (a closed terminal) stops it the same way", async () => {
    const { plugin, output } = await queuedRequest();
    plugin.kill("SIGHUP");
    expect(await plugin.exited).toBe(0);
    expect(output.text).toContain('msg="stopping on signal" signal=SIGHUP');
    expect(output.text).toContain("prefetch request dropped");
  }, 30_000);
});
