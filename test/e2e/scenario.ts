// The end-to-end scenario itself. It runs as the first process of its own mount, PID and
// network namespaces (see lib/isolation.ts); test/e2e/e2e.ts prepares everything it reads
// and starts it. Usage: scenario.ts <temporary root>
import { readFileSync, readdirSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guardedWrites, isolate, usedFixedPaths } from "./lib/isolation.ts";
import { type Layout, layoutUnder } from "./lib/layout.ts";
import { Reporter, type StepContext } from "./lib/report.ts";
import type { Daemon } from "./lib/exec.ts";
import {
  DaemonExited,
  logLines,
  PLUGIN_INSTANCE,
  type PluginUnderTest,
  type PodView,
  Stack,
  type StackSettings,
  waitFor,
} from "./lib/stack.ts";

/** What the preparing process hands over in <root>/scenario.json. */
export interface ScenarioInput {
  stack: StackSettings;
  pauseArchive: string;
  fixtures: string;
  versions: { containerd: string; snapshotter: string };
}

/** What the scenario hands back in <root>/result.json. */
export interface ScenarioResult {
  passed: number;
  failed: number;
}

const ANNOTATION = "containerd.io/nydus-prefetch";

/** The documented annotation exactly as its YAML block scalar yields it. */
const WORDPRESS_ANNOTATION =
  "[\n" +
  "    {\n" +
  '        "image": "ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6", \n' +
  '        "prefetch": "http://example.com/api/v1/resource/wordpress"\n' +
  "    }\n" +
  "]\n";

const RECEIVED = "received prefetch list from nri plugin";

interface PrefetchEntry {
  image: string;
  prefetch: string;
}

const WORDPRESS: PrefetchEntry = {
  image: "ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6",
  prefetch: "http://example.com/api/v1/resource/wordpress",
};
const NGINX: PrefetchEntry = {
  image: "docker.io/library/nginx:latest",
  prefetch: "/etc/nydus/prefetch/nginx.list",
};
const BUSYBOX: PrefetchEntry = {
  image: "docker.io/library/busybox:latest",
  prefetch: "/etc/nydus/prefetch/busybox.list",
};
const REDIS: PrefetchEntry = {
  image: "docker.io/library/redis:latest",
  prefetch: "/etc/nydus/prefetch/redis.list",
};

class Scenario {
  readonly report = new Reporter();
  readonly stack: Stack;

  constructor(
    readonly layout: Layout,
    readonly input: ScenarioInput,
  ) {
    this.stack = new Stack(layout, input.stack);
  }

  private get plugin(): PluginUnderTest {
    return this.input.stack.plugin;
  }

  private fixture(name: string): string {
    return join(this.input.fixtures, name);
  }

  async run(): Promise<void> {
    const { containerd, snapshotter } = this.input.versions;
    await this.report.step("isolate the host's fixed paths", (s) => this.isolate(s));
    await this.report.step(`start nydus-snapshotter ${snapshotter}`, () =>
      this.stack.startSnapshotter(),
    );
    await this.report.step(`start containerd ${containerd}, NRI plugin in plugin_path`, () =>
      this.stack.startContainerd({ disableConnections: true }),
    );
    await this.report.step("import the pause image; CRI sees it", (s) => this.importImage(s));
    const launched = await this.runLaunchedMode();
    await this.runExternalMode(launched);
    await this.report.step("stop nydus-snapshotter; nothing left running", (s) =>
      this.finish(s),
    );
  }

  /** containerd launches the plugin; returns the pid of the last instance it launched. */
  private async runLaunchedMode(): Promise<number> {
    let launched = await this.report.step("containerd launched and registered the plugin", (s) =>
      this.expectLaunchedPlugin(s, 1),
    );
    const wordpress = await this.report.step("run pod default/wordpress-sandbox", (s) =>
      this.runDocumentedPod(s),
    );
    const malformed = await this.report.step("pod with a malformed annotation runs", (s) =>
      this.runMalformedPod(s),
    );
    await this.report.step("stop and remove both pods", () =>
      this.removePods([wordpress.id, malformed.id]),
    );
    await this.report.step("restart containerd; the old plugin process exits", async (s) => {
      await this.stack.stopContainerd();
      await this.expectPluginGone(s, launched);
      await this.stack.startContainerd({ disableConnections: true });
    });
    launched = await this.report.step("plugin launched and registered again", (s) =>
      this.expectLaunchedPlugin(s, 2),
    );
    const nginx = await this.report.step("a second pod is forwarded after the restart", (s) =>
      this.runForwardedPod(s, "restart-pod.yaml", NGINX),
    );
    await this.report.step("stop and remove it", () => this.removePods([nginx.id]));
    return launched;
  }

  private async isolate(step: StepContext): Promise<void> {
    await isolate(this.layout);
    step.note("overlays on /run /etc /opt /var/lib, temporary folders bound on fixed paths");
  }

  private async importImage(step: StepContext): Promise<void> {
    await this.stack.ctr(["-n", "k8s.io", "images", "import", this.input.pauseArchive]);
    const image = await waitFor("CRI to list the sandbox image", async () => {
      const status = await this.stack.cri<{ present: boolean; id?: string }>([
        "image",
        this.input.stack.sandboxImage,
      ]);
      return status.present ? status : undefined;
    });
    step.note(`${this.input.stack.sandboxImage} ${image.id?.slice(0, 19)}`);
  }

  /** The nth registration of the launched plugin in containerd's logs, and its live process. */
  private async expectLaunchedPlugin(step: StepContext, starts: number): Promise<number> {
    await waitFor("containerd to log the plugin's registration", () =>
      logLines(this.stack.containerdLog).some(
        (line) => line.includes(PLUGIN_INSTANCE) && line.includes("registered as"),
      ),
    );
    const pids = await waitFor("one plugin process", () => {
      const found = this.stack.launchedPluginPids();
      return found.length === 1 ? found : undefined;
    });
    step.note(`start ${starts}, pid ${pids[0]}`);
    return pids[0]!;
  }

  private async expectPluginGone(step: StepContext, pid: number): Promise<void> {
    await waitFor(`plugin pid ${pid} to exit once containerd closed its socket`, () =>
      !isLive(pid),
    );
    step.note(`pid ${pid} exited`);
  }

  /** The documented pod, its annotation byte for byte, forwarded to nydus-snapshotter. */
  private async runDocumentedPod(step: StepContext): Promise<PodView> {
    return this.runForwardedPod(step, "wordpress-pod.yaml", WORDPRESS, (pod) => {
      if (pod.annotations[ANNOTATION] !== WORDPRESS_ANNOTATION) {
        const sent = JSON.stringify(pod.annotations[ANNOTATION]);
        throw new Error(`annotation sent differs from the documented one: ${sent}`);
      }
      step.note("annotation as documented, byte for byte");
    });
  }

  private async expectReady(pod: PodView): Promise<void> {
    const listed = (await this.stack.pods()).find((p) => p.id === pod.id);
    if (listed?.state !== "SANDBOX_READY") {
      throw new Error(`pod ${pod.name} is ${listed?.state ?? "not listed"}, not SANDBOX_READY`);
    }
    if (listed.annotations[ANNOTATION] !== pod.annotations[ANNOTATION]) {
      throw new Error(`CRI lists pod ${pod.name} with a different ${ANNOTATION} annotation`);
    }
  }

  /**
   * Waits for one more `received prefetch list` line than before, naming entry, and for the
   * plugin's own log line about forwarding the pod.
   */
  private async expectForwarded(
    step: StepContext,
    before: number,
    entry: PrefetchEntry,
    pod: PodView,
  ): Promise<void> {
    const line = await waitFor(`nydus-snapshotter to log "${RECEIVED}"`, () => {
      const received = this.receivedLines();
      return received.length > before ? received[received.length - 1] : undefined;
    });
    if (!line.includes(`${entry.image}:${entry.prefetch}`)) {
      throw new Error(`last ${RECEIVED} line lacks ${entry.image}: ${line}`);
    }
    step.note(`nydus-snapshotter has ${entry.image}`);
    if (this.plugin.writesLogFile) await this.expectPluginLogged("forwarded", pod.name);
  }

  private receivedLines(): string[] {
    return logLines(this.layout.snapshotter.log).filter((line) => line.includes(RECEIVED));
  }

  /** A line of the plugin's log_file with `word` about pod default/<pod>. */
  private async expectPluginLogged(word: string, pod: string): Promise<string> {
    return waitFor(`the plugin's log_file to show a "${word}" line for ${pod}`, () =>
      logLines(this.layout.plugin.log).find(
        (line) => line.includes(word) && line.includes(`pod=default/${pod}`),
      ),
    );
  }

  /** Runs a pod and expects its annotation's entry to reach nydus-snapshotter. */
  private async runForwardedPod(
    step: StepContext,
    fixture: string,
    entry: PrefetchEntry,
    checkSent: (pod: PodView) => void = () => {},
  ): Promise<PodView> {
    const before = this.receivedLines().length;
    const pod = await this.stack.runPod(this.fixture(fixture));
    checkSent(pod);
    await this.expectReady(pod);
    step.note(`pod ${pod.namespace}/${pod.name} ready, sandbox ${pod.id.slice(0, 12)}`);
    await this.expectForwarded(step, before, entry, pod);
    return pod;
  }

  private async runMalformedPod(step: StepContext): Promise<PodView> {
    const before = this.receivedLines().length;
    const pod = await this.stack.runPod(this.fixture("malformed-pod.yaml"));
    await this.expectReady(pod);
    if (this.plugin.writesLogFile) {
      const line = await this.expectPluginLogged("skipped", pod.name);
      step.note(`plugin log: ${line.match(/reason=.*/)?.[0] ?? line}`);
    } else {
      step.note(`${this.plugin.label} writes no log file: only the pod's start is checked`);
    }
    // RunPodSandbox has returned, so a forward would already be on its way: give it a moment.
    await Bun.sleep(500);
    if (this.receivedLines().length !== before) {
      throw new Error("nydus-snapshotter stored a list for the malformed annotation");
    }
    return pod;
  }

  private async removePods(ids: string[]): Promise<void> {
    for (const id of ids) await this.stack.removePod(id);
    const left = (await this.stack.pods()).filter((pod) => ids.includes(pod.id));
    if (left.length) throw new Error(`pods still listed: ${left.map((p) => p.name).join(", ")}`);
  }

  /** The same forwards with the plugin started by hand against containerd's NRI socket. */
  private async runExternalMode(launchedPid: number): Promise<void> {
    if (!this.plugin.runsExternally) {
      console.log(`[e2e] note ${this.plugin.label} cannot be pointed at an NRI socket: ` +
        "external mode not run");
      return;
    }
    await this.report.step("stop containerd; uninstall the launched plugin", async (s) => {
      await this.stack.stopContainerd();
      await this.expectPluginGone(s, launchedPid);
      await rm(this.stack.installedPlugin);
    });
    await this.report.step("start containerd with disable_connections = false", () =>
      this.stack.startContainerd({ disableConnections: false }),
    );
    const plugin = await this.report.step("start the plugin by hand; it registers", (s) =>
      this.startExternalPlugin(s),
    );
    const busybox = await this.report.step("a pod is forwarded by the external plugin", (s) =>
      this.runForwardedPod(s, "external-pod.yaml", BUSYBOX),
    );
    await this.report.step("stop and remove it", () => this.removePods([busybox.id]));
    await this.report.step("restart containerd; the external plugin reconnects", async (s) => {
      await this.stack.stopContainerd();
      await this.stack.startContainerd({ disableConnections: false });
      await this.expectExternalPluginConnected(s, plugin);
    });
    const redis = await this.report.step("a second pod is forwarded after the restart", (s) =>
      this.runForwardedPod(s, "external-restart-pod.yaml", REDIS),
    );
    await this.report.step("stop and remove it", () => this.removePods([redis.id]));
    await this.report.step("stop containerd; SIGTERM stops the external plugin", async (s) => {
      await this.stack.stopContainerd();
      const { code, forced } = await plugin.stop(5_000);
      if (forced) throw new Error("plugin still running 5s after SIGTERM; killed it");
      s.note(`exit code ${code}`);
    });
  }

  private async startExternalPlugin(step: StepContext): Promise<Daemon> {
    const plugin = this.stack.startExternalPlugin();
    await this.expectExternalPluginConnected(step, plugin);
    return plugin;
  }

  /** containerd's current log shows an external plugin with index 03 fully registered. */
  private async expectExternalPluginConnected(step: StepContext, plugin: Daemon) {
    await waitFor("containerd to log the external plugin as connected and synchronized", () => {
      const dead = Bun.peek(plugin.exited);
      if (typeof dead === "number") throw new DaemonExited(plugin, dead);
      return logLines(this.stack.containerdLog).some((line) =>
        /03-[A-Za-z0-9_.+-]+\\?" connected and synchronized/.test(line),
      );
    }, 30_000);
    step.note(`pid ${plugin.pid}`);
  }

  private async finish(step: StepContext): Promise<void> {
    await this.stack.stopAll();
    await waitFor("every other process to end", () =>
      livePids().every((pid) => pid === process.pid),
    15_000);
    const used = [...usedFixedPaths(this.layout), ...guardedWrites(this.layout)];
    step.note(`written under the temporary root instead of the host: ${used.join(" ")}`);
  }
}

/** Whether pid exists and is not a zombie (orphans reparented to the scenario stay zombies). */
function isLive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    return state !== "Z";
  } catch {
    return false;
  }
}

/** PIDs in this PID namespace that are not zombies. */
function livePids(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter(isLive);
}

async function main(): Promise<number> {
  const root = process.argv[2];
  if (!root) throw new Error("usage: scenario.ts <temporary root>");
  const layout = layoutUnder(root);
  const input = JSON.parse(readFileSync(join(root, "scenario.json"), "utf8")) as ScenarioInput;
  const scenario = new Scenario(layout, input);
  try {
    await scenario.run();
  } catch (error) {
    console.log(`[e2e] error: ${(error as Error).message}`);
    console.log(scenario.stack.diagnostics());
    await scenario.stack.stopAll().catch(() => {});
  }
  const { passed, failed } = scenario.report;
  const result: ScenarioResult = { passed, failed };
  await writeFile(join(root, "result.json"), JSON.stringify(result));
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) process.exit(await main());
