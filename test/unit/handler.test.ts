import { describe, expect, test } from "bun:test";
import { SAMPLE_VALUE } from "../support/sample-pod.ts";
import { CapturingSink } from "../support/capturing-sink.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveSettings } from "../../src/config/resolve.ts";
import type { Policy, Settings } from "../../src/config/settings.ts";
import { Logger } from "../../src/log/logger.ts";
import type { PodInfo, RuntimeInfo } from "../../src/nri/handler.ts";
import { PREFETCH_ANNOTATION } from "../../src/prefetch/annotation.ts";
import { DeliveryError, type Forwarder } from "../../src/prefetch/forwarder.ts";
import { PrefetchHandler } from "../../src/prefetch/handler.ts";

/** Nothing listens here; the fake forwarder only uses it as a name. */
const SOCKET = join(tmpdir(), "prefetch-handler-test", "system.sock");

const RUNTIME: RuntimeInfo = { name: "containerd", version: "2.1.0", nriVersion: "v0.12.2" };

/** Records what reaches the snapshotter; `outcome` decides each send. */
class FakeForwarder implements Forwarder {
  readonly bodies: Uint8Array[] = [];
  attempts = 0;

  constructor(readonly target: string, public outcome: () => Promise<void>) {}

  async send(body: Uint8Array): Promise<void> {
    this.attempts++;
    await this.outcome();
    this.bodies.push(body);
  }

  texts(): string[] {
    return this.bodies.map((body) => new TextDecoder().decode(body));
  }
}

interface SetupOptions {
  settings?: Partial<Omit<Settings, "policy">>;
  policy?: Partial<Policy>;
  outcome?: () => Promise<void>;
}

function setup(options: SetupOptions = {}) {
  const base = resolveSettings({ socketAddress: SOCKET }, {}, {});
  const settings: Settings = {
    ...base,
    ...options.settings,
    policy: { ...base.policy, ...options.policy },
  };
  const sink = new CapturingSink();
  const forwarders: FakeForwarder[] = [];
  let nextSettings = settings;
  const handler = new PrefetchHandler(settings, {
    log: Logger.create([sink], "debug"),
    settingsFor: () => nextSettings,
    forwarderFor(socketAddress) {
      const forwarder = new FakeForwarder(socketAddress, options.outcome ?? (async () => {}));
      forwarders.push(forwarder);
      return forwarder;
    },
  });
  const forwarder = forwarders[0]!;
  const reconfigure = (next: Settings) => {
    nextSettings = next;
    handler.configure("", RUNTIME);
  };
  return { handler, forwarder, forwarders, sink, settings, reconfigure };
}

function pod(annotation?: string, namespace = "default", name = "wordpress-sandbox"): PodInfo {
  const annotations: Record<string, string> = { "io.kubernetes.cri.sandbox-name": name };
  if (annotation !== undefined) annotations[PREFETCH_ANNOTATION] = annotation;
  return { id: "sandbox-1", namespace, name, uid: "hdishd83djaidwnduwk28bcsb", annotations };
}

function budget(budgetMs = 1000) {
  return { budgetMs, signal: new AbortController().signal };
}

const refused = () =>
  Promise.reject(new DeliveryError("snapshotter answered 404 Not Found", false));
const unavailable = () => Promise.reject(new DeliveryError("connection refused", true));

describe("PrefetchHandler", () => {
  test("a pod without the annotation sends nothing", async () => {
    const { handler, forwarder, sink } = setup();
    await handler.runPodSandbox(pod(), budget());
    expect(forwarder.attempts).toBe(0);
    expect(sink.find("pod has no prefetch annotation")).toContain("pod=default/wordpress-sandbox");
  });

  test("the documentation's sample annotation is sent byte for byte", async () => {
    const { handler, forwarder, sink } = setup();
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget());
    expect(forwarder.bodies).toEqual([new TextEncoder().encode(SAMPLE_VALUE)]);
    expect(sink.find("prefetch list forwarded"))
      .toContain("images=ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6");
  });

  test("requests go to the configured socket", () => {
    const { forwarder } = setup();
    expect(forwarder.target).toBe(SOCKET);
  });

  test("a short image name is rewritten to the form containerd records", async () => {
    const { handler, forwarder } = setup();
    const value = ' [ {"image": "nginx", "prefetch": "/p/nginx.list"} ]\n';
    await handler.runPodSandbox(pod(value), budget());
    expect(forwarder.texts())
      .toEqual(['[{"image":"docker.io/library/nginx:latest","prefetch":"/p/nginx.list"}]']);
  });

  test("a rewrite is logged with the old and new references", async () => {
    const { handler, sink } = setup();
    await handler.runPodSandbox(pod('[{"image":"nginx","prefetch":"/p/nginx.list"}]'), budget());
    const line = sink.find("image references normalized");
    expect(line).toContain("from=nginx");
    expect(line).toContain("to=docker.io/library/nginx:latest");
  });

  test("a rewrite keeps the other fields and their order", async () => {
    const { handler, forwarder } = setup();
    const value = '[{"note":"warm","image":"user/app:1","prefetch":"/p/a"},' +
      '{"image":"ghcr.io/o/b:2","prefetch":"/p/b"}]';
    await handler.runPodSandbox(pod(value), budget());
    expect(forwarder.texts()).toEqual(['[{"note":"warm","image":"docker.io/user/app:1",' +
      '"prefetch":"/p/a"},{"image":"ghcr.io/o/b:2","prefetch":"/p/b"}]']);
  });

  test("with normalization off a short image name is sent as written", async () => {
    const { handler, forwarder } = setup({ settings: { normalizeImageReferences: false } });
    const value = '[{"image":"nginx","prefetch":"/p/nginx.list"}]';
    await handler.runPodSandbox(pod(value), budget());
    expect(forwarder.texts()).toEqual([value]);
  });

  test("an invalid annotation is not sent and is logged with the pod and reason", async () => {
    const { handler, forwarder, sink } = setup();
    await handler.runPodSandbox(pod("not json", "shop", "cart"), budget());
    expect(forwarder.attempts).toBe(0);
    const line = sink.find("pod skipped: annotation not forwarded");
    expect(line).toContain("level=warn");
    expect(line).toContain("pod=shop/cart");
    expect(line).toContain("reason=\"not valid JSON");
  });

  test("an invalid image reference is not sent and names the element", async () => {
    const { handler, forwarder, sink } = setup();
    await handler.runPodSandbox(pod('[{"image":"Bad Name","prefetch":"/p"}]'), budget());
    expect(forwarder.attempts).toBe(0);
    expect(sink.find("pod skipped: annotation not forwarded")).toContain("element 0:");
  });

  test("with fail_pod_on_error an invalid annotation fails the pod, naming it", async () => {
    const { handler, forwarder } = setup({ settings: { failPodOnError: true } });
    await expect(handler.runPodSandbox(pod('{"image":"a"}'), budget()))
      .rejects.toThrow(`annotation ${PREFETCH_ANNOTATION}: must be a JSON array of objects`);
    expect(forwarder.attempts).toBe(0);
  });

  test("a namespace refused by policy sends nothing and does not fail the pod", async () => {
    const { handler, forwarder, sink } = setup({
      settings: { failPodOnError: true },
      policy: { allowedNamespaces: ["web"] },
    });
    await handler.runPodSandbox(pod(SAMPLE_VALUE, "default"), budget());
    expect(forwarder.attempts).toBe(0);
    expect(sink.find("pod skipped by policy")).toContain("not in allowed_namespaces");
  });

  test("a prefetch value refused by policy sends nothing and does not fail the pod", async () => {
    const { handler, forwarder, sink } = setup({
      settings: { failPodOnError: true },
      policy: { allowedUrlSchemes: ["https"] },
    });
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget());
    expect(forwarder.attempts).toBe(0);
    expect(sink.find("pod skipped by policy")).toContain('URL scheme \\"http\\"');
  });

  test("a value over max_annotation_bytes is skipped", async () => {
    const { handler, forwarder, sink } = setup({ policy: { maxAnnotationBytes: 64 } });
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget());
    expect(forwarder.attempts).toBe(0);
    expect(sink.find("pod skipped: annotation not forwarded"))
      .toContain("over max_annotation_bytes (64)");
  });

  test("a request over queue_max_bytes is skipped with the reason, never queued", async () => {
    const { handler, forwarder, sink } = setup({
      settings: { queueMaxBytes: 100, failPodOnError: true },
    });
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget()); // does not throw
    expect(forwarder.attempts).toBe(0);
    expect(sink.find("pod skipped by policy"))
      .toContain("the request is 166 bytes, over queue_max_bytes (100)");
  });

  test("a refused delivery is logged and does not fail the pod by default", async () => {
    const { handler, sink } = setup({ outcome: refused });
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget());
    const line = sink.find("prefetch list not forwarded");
    expect(line).toContain("level=error");
    expect(line).toContain("404 Not Found");
  });

  test("with fail_pod_on_error a refused delivery fails the pod", async () => {
    const { handler } = setup({ settings: { failPodOnError: true }, outcome: refused });
    await expect(handler.runPodSandbox(pod(SAMPLE_VALUE), budget()))
      .rejects.toThrow(`prefetch list not forwarded to ${SOCKET}: snapshotter answered 404`);
  });

  test("with fail_pod_on_error an undelivered request fails the pod and is withdrawn", async () => {
    const { handler, forwarder } = setup({
      settings: { failPodOnError: true },
      outcome: unavailable,
    });
    await expect(handler.runPodSandbox(pod(SAMPLE_VALUE), budget(150)))
      .rejects.toThrow("connection refused");
    const attempts = forwarder.attempts;
    await Bun.sleep(300);
    expect(forwarder.attempts).toBe(attempts);
  });

  test("an undelivered request is left to the background by default", async () => {
    const { handler, sink } = setup({ settings: { retryWindowMs: 100 }, outcome: unavailable });
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget(50));
    expect(sink.find("snapshotter did not take the prefetch list in time; retrying in background"))
      .toContain("error=\"connection refused\"");
  });

  test("a new socket from Configure sends later pods there", async () => {
    const { handler, forwarders, settings, reconfigure } = setup();
    const other = join(tmpdir(), "prefetch-handler-test", "other.sock");
    reconfigure({ ...settings, socketAddress: other });
    await handler.runPodSandbox(pod(SAMPLE_VALUE), budget());
    expect(forwarders.map((forwarder) => [forwarder.target, forwarder.bodies.length]))
      .toEqual([[SOCKET, 0], [other, 1]]);
  });
});
