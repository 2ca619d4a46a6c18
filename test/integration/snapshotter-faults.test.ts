// A sick snapshotter must not fail or stall pod starts: every fault is tried
// through containerd's own NRI runtime code (v0.12.2, 2 s request timeout).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Harness } from "../harness/harness.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { PREFETCH_KEY, sampleConf, samplePod } from "../support/sample-pod.ts";
import { halfAnswering, RecordingSnapshotter, refusingSocket } from "../support/snapshotter.ts";
import { testScope } from "../support/scope.ts";

const REQUEST_TIMEOUT_MS = 2000;
const { defer } = testScope();

/** A launched plugin, its snapshotter and its log file; `conf` is added to the .conf. */
async function setup(conf = "", requestTimeoutMs = REQUEST_TIMEOUT_MS) {
  const snapshotter = RecordingSnapshotter.start();
  defer(() => snapshotter.close());
  const harness = await Harness.spawn({ version: "v0.12.2", requestTimeoutMs });
  defer(() => harness.close());
  const logFile = join(snapshotter.dir, "plugin.log");
  harness.installPlugin(pluginBinary(), await sampleConf(snapshotter.socket,
    `log_file = "${logFile}"\n${conf}`));
  expect((await harness.start()).ok).toBe(true);
  expect((await harness.waitPlugins(1)).ok).toBe(true);
  const log = () => readFileSync(logFile, "utf8");
  return { snapshotter, harness, log };
}

/** The log lines about one pod. */
function linesFor(log: string, pod = "default/wordpress-sandbox"): string[] {
  return log.split("\n").filter((line) => line.includes(`pod=${pod}`));
}

async function expectNotDropped(harness: Harness) {
  const status = await harness.status();
  expect(status.log.dropped).toEqual([]);
  expect(status.active).toBe(1);
}

type Snapshotter = RecordingSnapshotter;
const FAULTS: { name: string; arrange(s: Snapshotter): unknown; reason: RegExp }[] = [
  { name: "socket missing", arrange: (s) => s.stopListening(), reason: /socket does not exist/ },
  {
    name: "connection refused",
    arrange: async (s) => (await s.stopListening(), refusingSocket(s.socket)),
    reason: /connection refused/,
  },
  {
    name: "accepts and never answers",
    arrange: (s) => (s.behaviour.hang = true),
    reason: /no answer within \d+ ms/,
  },
  { name: "answers slowly (3 s)", arrange: (s) => (s.behaviour.delayMs = 3000),
    reason: /no answer within \d+ ms/ },
  { name: "answers 404", arrange: (s) => (s.behaviour.status = 404), reason: /answered 404/ },
  { name: "answers 405", arrange: (s) => (s.behaviour.status = 405), reason: /answered 405/ },
  { name: "answers 500", arrange: (s) => (s.behaviour.status = 500), reason: /answered 500/ },
  {
    name: "closes mid-response",
    arrange: async (s) => {
      await s.stopListening();
      defer(halfAnswering(s.socket).stop);
    },
    reason: /error=/,
  },
];

describe("each snapshotter fault: the pod starts in time and one line says why", () => {
  for (const fault of FAULTS) {
    test(fault.name, async () => {
      const { snapshotter, harness, log } = await setup();
      await fault.arrange(snapshotter);
      const reply = await harness.runPod(await samplePod());
      expect(reply.ok).toBe(true);
      expect(reply.us / 1000).toBeLessThan(REQUEST_TIMEOUT_MS);
      await expectNotDropped(harness);
      const lines = linesFor(log()).filter((line) => /level=(warn|error)/.test(line));
      expect(lines, log()).toHaveLength(1);
      expect(lines[0]).toContain(`socket=${snapshotter.socket}`);
      expect(lines[0]).toMatch(fault.reason);
    }, 30_000);
  }
});

describe("fail_pod_on_error = true (the Go plugin's way)", () => {
  test("a refused delivery fails the pod with the reason", async () => {
    const { snapshotter, harness } = await setup("fail_pod_on_error = true\n");
    snapshotter.behaviour.status = 404;
    const reply = await harness.runPod(await samplePod());
    expect(reply.ok).toBe(false);
    expect(reply.error).toContain("prefetch list not forwarded");
    expect(reply.error).toContain("404");
  }, 30_000);

  test("a hanging snapshotter fails the pod inside the deadline, not by timeout", async () => {
    const { snapshotter, harness } = await setup("fail_pod_on_error = true\n");
    snapshotter.behaviour.hang = true;
    const reply = await harness.runPod(await samplePod());
    expect(reply.ok).toBe(false);
    expect(reply.us / 1000).toBeLessThan(REQUEST_TIMEOUT_MS);
    await expectNotDropped(harness);
  }, 30_000);

  test("an invalid annotation fails the pod, naming the annotation", async () => {
    const { harness } = await setup("fail_pod_on_error = true\n");
    const pod = await samplePod();
    pod.annotations![PREFETCH_KEY] = "not json";
    const reply = await harness.runPod(pod);
    expect(reply.ok).toBe(false);
    expect(reply.error).toContain(`annotation ${PREFETCH_KEY}: not valid JSON`);
  }, 30_000);

  test("a pod refused by policy is skipped, never failed", async () => {
    const { snapshotter, harness, log } = await setup(
      'fail_pod_on_error = true\nallowed_namespaces = ["prod"]\n');
    expect((await harness.runPod(await samplePod())).ok).toBe(true);
    expect(snapshotter.requests).toHaveLength(0);
    expect(log()).toContain('namespace \\"default\\" is not in allowed_namespaces');
  }, 30_000);
});

describe("delivery after the reply", () => {
  test("requests made while the snapshotter is down arrive, in order, when it returns",
    async () => {
      const { snapshotter, harness, log } = await setup();
      await snapshotter.stopListening();
      const bodies: string[] = [];
      for (const id of ["first", "second"]) {
        const pod = await samplePod(id);
        pod.name = id;
        pod.annotations![PREFETCH_KEY] = JSON.stringify([
          { image: "docker.io/library/nginx:latest", prefetch: `/lists/${id}` },
        ]);
        bodies.push(pod.annotations![PREFETCH_KEY]!);
        expect((await harness.runPod(pod)).ok).toBe(true);
      }
      snapshotter.listen();
      const requests = await snapshotter.waitForRequests(2, 10_000);
      expect(requests.map((r) => Buffer.from(r.body).toString())).toEqual(bodies);
      await Bun.sleep(100);
      expect(log()).toContain('msg="prefetch list forwarded after retry" pod=default/first');
      await expectNotDropped(harness);
    }, 30_000);

  test("a request still undelivered when its window closes is dropped with a log line",
    async () => {
      const { snapshotter, harness, log } = await setup('retry_window = "1s"\n');
      await snapshotter.stopListening();
      expect((await harness.runPod(await samplePod())).ok).toBe(true);
      await Bun.sleep(3000);
      expect(linesFor(log()).find((line) => line.includes('msg="prefetch request dropped"')))
        .toContain("reason=\"retry window closed\"");
    }, 30_000);
});

test("a runtime with a 30 s timeout still gets its reply within 2 s from a hanging snapshotter",
  async () => {
    const { snapshotter, harness, log } = await setup("", 30_000);
    snapshotter.behaviour.hang = true;
    const reply = await harness.runPod(await samplePod());
    expect(reply.ok).toBe(true);
    expect(reply.us / 1000).toBeGreaterThan(1900); // it did wait, for its own budget
    expect(reply.us / 1000).toBeLessThan(3000); // not for half of the runtime's 30 s
    expect(log()).toContain("retrying in background");
  }, 30_000);

test("with nothing listening on the snapshotter socket, pod starts are answered at once",
  async () => {
    const { snapshotter, harness, log } = await setup();
    await snapshotter.stopListening();
    for (const id of ["one", "two", "three"]) {
      const reply = await harness.runPod(await samplePod(id));
      expect(reply.ok).toBe(true);
      // The runtime holds its lock for each call: a dead socket must not cost each pod 1 s.
      expect(reply.us / 1000).toBeLessThan(300);
    }
    expect(log().match(/retrying in background/g)).toHaveLength(3);
    snapshotter.listen();
    expect(await snapshotter.waitForRequests(3, 5000)).toHaveLength(3);
  }, 30_000);
