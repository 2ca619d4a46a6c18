// The running stack of one scenario: nydus-snapshotter, containerd (which launches the
// plugin) or a plugin started by hand, and the CRI client that drives containerd.
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { containerdConfig } from "./configs.ts";
import { type Daemon, run, runJson, startDaemon, tail } from "./exec.ts";
import type { Layout } from "./layout.ts";

/** Built binaries the stack runs (paths inside the cache or the temporary root). */
export interface Tools {
  containerd: string;
  ctr: string;
  shimDir: string;
  snapshotter: string;
  cri: string;
  runc: string;
}

/** The plugin binary under test and what it offers to check. */
export interface PluginUnderTest {
  /** Ours, or nydus-snapshotter's own (which checks the test's plumbing on its own). */
  kind: "ours" | "upstream";
  label: string;
  binary: string;
  /** Whether it writes the `log_file` named in its `.conf`. */
  writesLogFile: boolean;
  /** Whether it can be started by hand against a given NRI socket. */
  runsExternally: boolean;
}

/** One pod as the CRI client prints it. */
export interface PodView {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  state?: string;
  annotations: Record<string, string>;
}

/** The name containerd launches the plugin under, and the file it runs. */
export const PLUGIN_INSTANCE = "03-prefetchfiles-nri-plugin";

const SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** A daemon the stack started has died; waiting any longer is pointless. */
export class DaemonExited extends Error {
  constructor(daemon: Daemon, code: number) {
    super(`${daemon.name} exited with ${code}; see ${daemon.logFile}`);
    this.name = "DaemonExited";
  }
}

/** Polls probe until it returns something other than undefined/false, or throws on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof DaemonExited) throw error;
      lastError = error;
    }
    await Bun.sleep(100);
  }
  const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${cause}`);
}

/** Lines of a text file, or none if it does not exist yet. */
export function logLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").filter((line) => line.length > 0);
}

/** Everything the stack is started with besides the layout. */
export interface StackSettings {
  tools: Tools;
  plugin: PluginUnderTest;
  /** containerd's config format: 3 for 2.x, 2 for 1.7. */
  configVersion: 2 | 3;
  sandboxImage: string;
  /** cgroup every pod goes under, so the run's cgroups can be found and removed. */
  cgroupParent: string;
}

export class Stack {
  private snapshotter?: Daemon;
  private containerd?: Daemon;
  private externalPlugin?: Daemon;
  private containerdStarts = 0;

  private readonly tools: Tools;

  constructor(
    readonly layout: Layout,
    readonly settings: StackSettings,
  ) {
    this.tools = settings.tools;
  }

  /** containerd's log of its current (or last) start. */
  get containerdLog(): string {
    return join(this.layout.logs, `containerd-${this.containerdStarts}.log`);
  }

  get externalPluginLog(): string {
    return join(this.layout.logs, "plugin-external.out");
  }

  get installedPlugin(): string {
    return join(this.layout.nri.pluginDir, PLUGIN_INSTANCE);
  }

  async startSnapshotter(): Promise<void> {
    const { config, systemSocket, socket } = this.layout.snapshotter;
    const argv = [this.tools.snapshotter, "--config", config];
    const out = join(this.layout.logs, "snapshotter.out");
    this.snapshotter = startDaemon("nydus-snapshotter", argv, out, { env: { PATH: SYSTEM_PATH } });
    await waitFor("nydus-snapshotter's sockets", async () => {
      this.assertAlive(this.snapshotter);
      if (!existsSync(socket) || !existsSync(systemSocket)) return false;
      const reply = await fetch("http://localhost/api/v1/daemons", { unix: systemSocket });
      return reply.ok;
    });
  }

  /** Writes containerd's config and starts it; it launches the plugins in plugin_path. */
  async startContainerd(options: { disableConnections: boolean }): Promise<void> {
    const config = containerdConfig(this.layout, {
      configVersion: this.settings.configVersion,
      sandboxImage: this.settings.sandboxImage,
      runc: this.tools.runc,
      disableConnections: options.disableConnections,
    });
    await writeFile(this.layout.containerd.config, config);
    this.containerdStarts++;
    const argv = [this.tools.containerd, "--config", this.layout.containerd.config];
    const env = { PATH: `${this.tools.shimDir}:${SYSTEM_PATH}` };
    this.containerd = startDaemon("containerd", argv, this.containerdLog, { env });
    await waitFor("containerd to answer", async () => {
      this.assertAlive(this.containerd);
      if (!existsSync(this.layout.containerd.socket)) return false;
      await this.ctr(["version"]);
      return true;
    }, 60_000);
    // The containerd API answers before CRI does: containerd 1.7 refuses CRI calls ("server is
    // not initialized yet") until NRI has synchronised its plugins, so wait for CRI as well.
    await waitFor("CRI to answer", async () => {
      this.assertAlive(this.containerd);
      await this.pods();
      return true;
    }, 60_000);
  }

  /** Stops containerd (SIGTERM) and waits for it to exit. */
  async stopContainerd(): Promise<void> {
    await this.containerd?.stop(15_000);
    this.containerd = undefined;
  }

  async ctr(args: string[]): Promise<string> {
    const argv = [this.tools.ctr, "--address", this.layout.containerd.socket, ...args];
    return (await run(argv, { timeoutMs: 60_000 })).stdout;
  }

  async cri<T>(args: string[]): Promise<T> {
    const endpoint = `unix://${this.layout.containerd.socket}`;
    const argv = [this.tools.cri, "--endpoint", endpoint, "--timeout", "60s", ...args];
    return runJson<T>(argv, { timeoutMs: 90_000 });
  }

  /** RunPodSandbox on a host-network pod under the run's cgroup parent. */
  async runPod(podConfig: string): Promise<PodView> {
    const flags = ["--host-network", "--cgroup-parent", this.settings.cgroupParent];
    return this.cri<PodView>(["runp", ...flags, podConfig]);
  }

  async pods(): Promise<PodView[]> {
    return this.cri<PodView[]>(["pods"]);
  }

  async removePod(id: string): Promise<void> {
    await this.cri(["stopp", id]);
    await this.cri(["rmp", id]);
  }

  /** PIDs of processes running the installed (pre-launched) plugin binary. */
  launchedPluginPids(): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readlinkSync(`/proc/${entry}/exe`) === this.installedPlugin) pids.push(Number(entry));
      } catch {
        // The process ended while we looked, or is a kernel thread.
      }
    }
    return pids;
  }

  /** Starts the plugin by hand, connecting to containerd's NRI socket. */
  startExternalPlugin(): Daemon {
    const argv = [
      this.settings.plugin.binary,
      "--nri-socket",
      this.layout.nri.socket,
      "--idx",
      "03",
      "--conf",
      this.layout.plugin.conf,
    ];
    this.externalPlugin = startDaemon("plugin", argv, this.externalPluginLog, {
      env: { PATH: SYSTEM_PATH },
    });
    return this.externalPlugin;
  }

  /** Stops whatever still runs, plugin first, snapshotter last. */
  async stopAll(): Promise<void> {
    await this.externalPlugin?.stop(5_000);
    await this.stopContainerd();
    await this.snapshotter?.stop(10_000);
  }

  /**
   * containerd's own word on dropping the plugin, e.g. for not answering within
   * plugin_request_timeout, from every containerd start of this run.
   */
  droppedPlugin(): string[] {
    const lines: string[] = [];
    for (let start = 1; start <= this.containerdStarts; start++) {
      const log = join(this.layout.logs, `containerd-${start}.log`);
      lines.push(...logLines(log).filter((line) => line.includes("closing plugin")));
    }
    return lines;
  }

  /** The logs worth reading when a step fails. */
  diagnostics(): string {
    const sections: [string, string, number][] = [
      ["plugin log_file", this.layout.plugin.log, 200],
      ["plugin started by hand (stdout/stderr)", this.externalPluginLog, 100],
      ["containerd", this.containerdLog, 150],
      ["nydus-snapshotter", this.layout.snapshotter.log, 60],
      ["nydus-snapshotter stdout/stderr", join(this.layout.logs, "snapshotter.out"), 30],
    ];
    const dropped = this.droppedPlugin().map((line) => `containerd dropped a plugin: ${line}`);
    const logs = sections
      .filter(([, path]) => existsSync(path))
      .map(([title, path, lines]) => {
        const text = tail(readFileSync(path, "utf8"), lines);
        return `----- ${title}: ${path} (last ${lines} lines)\n${text}`;
      });
    return [...dropped, ...logs].join("\n");
  }

  private assertAlive(daemon: Daemon | undefined): void {
    if (!daemon) throw new Error("daemon not started");
    const code = Bun.peek(daemon.exited);
    if (typeof code === "number") throw new DaemonExited(daemon, code);
  }
}
