// Self-test of the Go NRI runtime harness, using the stub-based reference
// plugin instead of the project's plugin.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import * as path from "node:path";
import {
  buildHarness, buildRefPlugin, Harness, HarnessBuildError, NRI_VERSIONS, nriVersion,
  readRecords, refPluginConf, spawnExternalRefPlugin,
} from "./harness.ts";

const BUILD_TIMEOUT = 600_000;
const REF = "03-refplugin";
const PREFETCH = "containerd.io/nydus-prefetch";

const pod = (id: string, files = "/usr/bin/env") => ({
  id, name: `name-${id}`, namespace: "ns", uid: `uid-${id}`,
  annotations: { [PREFETCH]: files },
});

let open: Harness[] = [];
let children: Subprocess[] = [];

async function spawn(version: string, opts: { requestTimeoutMs?: number } = {}) {
  const h = await Harness.spawn({ version, ...opts });
  open.push(h);
  return h;
}

function outFile(h: Harness, name = "out.jsonl"): string {
  return path.join(h.dir!, name);
}

async function until<T>(fn: () => T | undefined, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
}

afterEach(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(open.map((h) => h.close()));
  open = [];
  children = [];
});

test("unknown versions are refused before building", () => {
  expect(() => nriVersion("v0.9.9")).toThrow("unknown NRI version");
  expect(new HarnessBuildError("v0", ".", "boom").message).toContain("boom");
});

for (const version of ["v0.12.2", "v0.8.0"]) {
  describe(`harness ${version}`, () => {
    let ref = "";
    beforeAll(async () => {
      await buildHarness(version);
      ref = await buildRefPlugin(version);
    }, BUILD_TIMEOUT);

    test("reports the linked NRI release and its API", async () => {
      const h = await spawn(version);
      const v = await h.versionInfo();
      expect(v.nri).toBe(version);
      expect(v.features.podRPC).toBe(nriVersion(version).dedicatedRunPodSandbox);
      expect(v.runtimeName).toBe("containerd");
    });

    test("delivers RunPodSandbox to a pre-launched plugin", async () => {
      const h = await spawn(version);
      h.installPlugin(ref, refPluginConf({ out: outFile(h) }), REF);
      const started = await h.start();
      expect(started.ok).toBe(true);
      expect((await h.waitPlugins(1, 2_000)).ok).toBe(true);
      const r = await h.runPod(pod("p1", "/a /b"));
      expect(r).toMatchObject({ ok: true });
      const recs = readRecords(outFile(h));
      expect(recs.map((x) => x.event)).toEqual(["Configure", "Synchronize", "RunPodSandbox"]);
      expect(recs[2]).toMatchObject({ id: "p1", annotations: { [PREFETCH]: "/a /b" } });
      const s = await h.status();
      expect(s.active).toBe(1);
      expect(s.plugins[0]).toMatchObject({ name: REF, events: 1, closed: false });
      expect(s.log.synced).toEqual([REF]);
    });

    test("delivers RunPodSandbox to an external plugin", async () => {
      const h = await spawn(version);
      await h.start();
      const out = outFile(h);
      children.push(spawnExternalRefPlugin(ref, h.socket, { out, name: "ext", idx: "07" }));
      expect((await h.waitPlugins(1, 5_000)).ok).toBe(true);
      expect((await h.runPod(pod("p2"))).ok).toBe(true);
      const recs = readRecords(out);
      expect(recs.at(-1)).toMatchObject({ event: "RunPodSandbox", id: "p2" });
      expect((await h.status()).log.synced).toEqual(["07-ext"]);
    });

    test("returns a plugin's error to the caller", async () => {
      const h = await spawn(version);
      h.installPlugin(ref, refPluginConf({ fail: "no prefetch for you" }), REF);
      await h.start();
      const r = await h.runPod(pod("p3"));
      expect(r.ok).toBe(false);
      expect(r.error).toContain("no prefetch for you");
      expect(r.code).toBe("Unknown");
    });

    test("drops a plugin that exceeds the request timeout", async () => {
      const h = await spawn(version, { requestTimeoutMs: 300 });
      h.installPlugin(ref, refPluginConf({ delayMs: 1_500 }), REF);
      await h.start();
      const r = await h.runPod(pod("p4"));
      expect(r.ok).toBe(true);
      expect(r.us).toBeGreaterThan(250_000);
      const s = await h.status();
      expect(s.log.dropped[0]?.plugin).toBe(REF);
      expect(s.log.timedOut).toBe(true);
      expect(s.plugins.every((p) => p.closed)).toBe(true);
    });

    test("reports a launched plugin that never registers", async () => {
      const h = await Harness.spawn({ version, registrationTimeoutMs: 300 });
      open.push(h);
      const stuck = path.join(h.dir!, "stuck.sh");
      await Bun.write(stuck, "#!/bin/sh\nexec /bin/sleep 5\n");
      h.installPlugin(stuck, undefined, "04-stuck");
      const r = await h.start();
      expect(r.ok).toBe(true);
      const s = await h.status();
      expect(s.active).toBe(0);
      expect(s.log.timedOut).toBe(true);
      expect(s.log.failures.join("\n")).toContain("plugin registration timed out");
    });

    test("restarts and relaunches plugins", async () => {
      const h = await spawn(version);
      h.installPlugin(ref, refPluginConf({ out: outFile(h) }), REF);
      await h.start();
      const pid1 = (await h.status()).plugins[0]?.pid;
      expect((await h.stop()).closed).toEqual([REF]);
      expect((await h.status()).started).toBe(false);
      expect((await h.start()).ok).toBe(true);
      const s = await h.status();
      expect(s.plugins[0]?.pid).not.toBe(pid1);
      expect((await h.runPod(pod("p5"))).ok).toBe(true);
      expect(readRecords(outFile(h)).filter((x) => x.event === "Configure")).toHaveLength(2);
    });

    test("splits a Synchronize larger than 4 MiB", async () => {
      const h = await spawn(version);
      h.installPlugin(ref, refPluginConf({ out: outFile(h) }), REF);
      await h.setPods(600, 10_000);
      await h.start();
      const sync = readRecords(outFile(h)).find((x) => x.event === "Synchronize");
      expect(sync?.pods).toBe(600);
      const s = await h.status(200);
      expect(s.logs.some((l) => l.msg.includes("more: true"))).toBe(true);
    });

    test("bursts with a do-nothing plugin", async () => {
      const h = await spawn(version);
      h.installPlugin(ref, refPluginConf({ noop: true }), REF);
      await h.start();
      const b = await h.burst(200, pod("b"));
      expect(b).toMatchObject({ ok: true, errors: 0 });
      expect(b.p50Us).toBeGreaterThan(0);
      expect(b.p99Us).toBeGreaterThanOrEqual(b.p50Us);
    });

    test("waitLog and logs see NRI's own lines", async () => {
      const h = await spawn(version);
      await h.start();
      const w = await h.waitLog("starting plugins", 0, 1_000);
      expect(w.ok).toBe(true);
      const l = await h.logs(0, "^runtime interface");
      expect(l.lines.length).toBeGreaterThan(0);
      const miss = await h.waitLog("never logged", 0, 50);
      expect(miss.ok).toBe(false);
      await until(() => (h.stderr.includes("starting plugins") ? true : undefined));
    });
  });
}

describe("mixed releases", () => {
  let oldRef = "";
  beforeAll(async () => {
    await buildHarness("v0.12.2");
    oldRef = await buildRefPlugin("v0.8.0");
  }, BUILD_TIMEOUT);

  test("v0.12.2 falls back to StateChange for a v0.8.0 plugin", async () => {
    const h = await spawn("v0.12.2");
    h.installPlugin(oldRef, refPluginConf({ out: outFile(h) }), REF);
    await h.start();
    expect((await h.runPod(pod("old"))).ok).toBe(true);
    expect(readRecords(outFile(h)).at(-1)).toMatchObject({ event: "RunPodSandbox", id: "old" });
    const s = await h.status();
    expect(s.metrics?.deprecations).toHaveLength(1);
    expect(s.log.deprecated[0]).toContain(REF);
  });
});

// Every other release: opt in with NRI_HARNESS_ALL=1 (each cold build costs
// up to a minute).
const others = NRI_VERSIONS.map((v) => v.version)
  .filter((v) => v !== "v0.12.2" && v !== "v0.8.0");
const OTHERS = "other NRI releases with the reference plugin (skipped unless " +
  "NRI_HARNESS_ALL=1: test/integration/conformance.test.ts runs every release with the plugin)";
describe.skipIf(process.env.NRI_HARNESS_ALL !== "1")(OTHERS, () => {
  for (const version of others) {
    test(`${version}: pre-launched and external plugins get RunPodSandbox`, async () => {
      const ref = await buildRefPlugin(version);
      const h = await spawn(version);
      expect((await h.versionInfo()).nri).toBe(version);
      h.installPlugin(ref, refPluginConf({ out: outFile(h) }), REF);
      expect((await h.start()).ok).toBe(true);
      const ext = outFile(h, "ext.jsonl");
      children.push(spawnExternalRefPlugin(ref, h.socket, { out: ext, idx: "07" }));
      expect((await h.waitPlugins(2, 5_000)).ok).toBe(true);
      expect((await h.runPod(pod("all"))).ok).toBe(true);
      for (const f of [outFile(h), ext]) {
        expect(readRecords(f).at(-1)).toMatchObject({ event: "RunPodSandbox", id: "all" });
      }
    }, BUILD_TIMEOUT);
  }
});
