// Drives the Go NRI runtime harness (containerd's pkg/adaptation) from bun
// tests and scripts. See README.md beside this file for the JSON protocol.
import type { Subprocess } from "bun";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Directory of the Go harness sources (module root). */
export const HARNESS_DIR = import.meta.dir;

/** One NRI release the harness can be built against. */
export interface NriVersion {
  /** NRI module tag, e.g. "v0.12.2". */
  version: string;
  /** containerd releases that ship this NRI release. */
  containerd: string;
  /** true when RunPodSandbox arrives as its own RPC (else only StateChange). */
  dedicatedRunPodSandbox: boolean;
  /** Go build tags selecting the API variant of this release. */
  tags: string[];
}

const PRE012 = ["nri_pre012"];
const PRE08 = ["nri_pre08", "nri_pre012"];

/** Every NRI release shipped by a containerd release, oldest first. */
export const NRI_VERSIONS: readonly NriVersion[] = [
  { version: "v0.3.0", containerd: "1.7.0-1.7.6", dedicatedRunPodSandbox: false,
    tags: ["nri_pre04", ...PRE08] },
  { version: "v0.4.0", containerd: "1.7.7-1.7.13", dedicatedRunPodSandbox: false,
    tags: PRE08 },
  { version: "v0.6.0", containerd: "1.7.14-1.7.15", dedicatedRunPodSandbox: false,
    tags: PRE08 },
  { version: "v0.6.1", containerd: "1.7.16-1.7.25", dedicatedRunPodSandbox: false,
    tags: PRE08 },
  { version: "v0.8.0", containerd: "1.7.26-1.7.34, 2.0.x, 2.1.x",
    dedicatedRunPodSandbox: false, tags: PRE012 },
  { version: "v0.10.0", containerd: "2.2.0", dedicatedRunPodSandbox: false, tags: PRE012 },
  { version: "v0.11.0", containerd: "2.2.1-2.2.7", dedicatedRunPodSandbox: false,
    tags: PRE012 },
  { version: "v0.12.0", containerd: "2.3.0-2.3.4", dedicatedRunPodSandbox: true, tags: [] },
  { version: "v0.12.1", containerd: "2.4.0-beta.0", dedicatedRunPodSandbox: true, tags: [] },
  { version: "v0.12.2", containerd: "main", dedicatedRunPodSandbox: true, tags: [] },
];

/** Looks up a row of NRI_VERSIONS; throws for unknown versions. */
export function nriVersion(version: string): NriVersion {
  const row = NRI_VERSIONS.find((v) => v.version === version);
  if (!row) throw new Error(`unknown NRI version ${version}`);
  return row;
}

/** Raised when `go build` fails; `output` holds the compiler's output. */
export class HarnessBuildError extends Error {
  constructor(readonly version: string, readonly target: string, readonly output: string) {
    super(`building ${target} against NRI ${version} failed:\n${output}`);
    this.name = "HarnessBuildError";
  }
}

// Static binaries; no C toolchain needed. Part of the cache key.
const GO_BUILD_ENV = { CGO_ENABLED: "0" };

function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "prefetchfiles-nri-plugin", "harness");
}

function listGoSources(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...listGoSources(dir, p));
    else if (e.name.endsWith(".go")) out.push(p);
  }
  return out.sort();
}

/** Hash of everything a build depends on: Go sources, modfile, sum and tags. */
export function harnessSourceHash(version: string): string {
  const row = nriVersion(version);
  const files = [...listGoSources(HARNESS_DIR), `mod/nri-${version}.mod`,
    `mod/nri-${version}.sum`];
  const h = createHash("sha256");
  h.update(`${row.tags.join(",")} ${JSON.stringify(GO_BUILD_ENV)}\n`);
  for (const f of files) {
    h.update(`${f}\n`);
    h.update(fs.readFileSync(path.join(HARNESS_DIR, f)));
  }
  return h.digest("hex").slice(0, 16);
}

/** Cache directory of one version's build outputs. */
export function harnessCacheDir(version: string): string {
  return path.join(cacheRoot(), `${version}-${harnessSourceHash(version)}`);
}

const builds = new Map<string, Promise<string>>();

async function goBuild(version: string, pkg: string, out: string): Promise<void> {
  const row = nriVersion(version);
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const proc = Bun.spawn(["go", "build", "-modfile", `mod/nri-${version}.mod`,
    "-tags", row.tags.join(","), "-o", tmp, pkg], {
    cwd: HARNESS_DIR, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, ...GO_BUILD_ENV },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new HarnessBuildError(version, pkg, (stdout + stderr).trim());
  }
  fs.renameSync(tmp, out);
}

function cachedBuild(version: string, pkg: string, name: string): Promise<string> {
  const dir = harnessCacheDir(version);
  const out = path.join(dir, name);
  let p = builds.get(out);
  if (!p) {
    p = (async () => {
      if (fs.existsSync(out)) return out;
      fs.mkdirSync(dir, { recursive: true });
      await goBuild(version, pkg, out);
      return out;
    })();
    p.catch(() => builds.delete(out));
    builds.set(out, p);
  }
  return p;
}

/** Builds (or reuses) the harness binary for an NRI version; returns its path. */
export function buildHarness(version: string): Promise<string> {
  return cachedBuild(version, ".", "harness");
}

/** Builds (or reuses) the reference stub plugin for an NRI version. */
export function buildRefPlugin(version: string): Promise<string> {
  return cachedBuild(version, "./refplugin", "refplugin");
}

/** Settings of the reference plugin (see refplugin/main.go). */
export interface RefPluginSettings {
  out?: string;
  noop?: boolean;
  delayMs?: number;
  fail?: string;
}

/** Drop-in config text for the pre-launched reference plugin. */
export function refPluginConf(s: RefPluginSettings): string {
  const lines: string[] = [];
  if (s.out !== undefined) lines.push(`out=${s.out}`);
  if (s.noop !== undefined) lines.push(`noop=${s.noop}`);
  if (s.delayMs !== undefined) lines.push(`delay=${s.delayMs}ms`);
  if (s.fail !== undefined) lines.push(`fail=${s.fail}`);
  return lines.join("\n") + "\n";
}

/** Starts the reference plugin in external mode, dialing the given socket. */
export function spawnExternalRefPlugin(binary: string, socket: string,
  s: RefPluginSettings & { name?: string; idx?: string } = {}): Subprocess {
  const args = [binary, "-socket", socket, "-name", s.name ?? "refplugin",
    "-idx", s.idx ?? "05"];
  if (s.out !== undefined) args.push("-out", s.out);
  if (s.noop) args.push("-noop");
  if (s.delayMs !== undefined) args.push("-delay", `${s.delayMs}ms`);
  if (s.fail !== undefined) args.push("-fail", s.fail);
  return Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
}

/** Reads a JSON-lines file written by the reference plugin. */
export function readRecords(file: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Pod fields a test controls; see PodSandbox in the NRI API. */
export interface PodSpec {
  id: string;
  name?: string;
  namespace?: string;
  uid?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  runtimeHandler?: string;
  pid?: number;
}

/** Every reply carries ok, and error when ok is false. */
export interface Reply {
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** Reply of start: how long Start() took. */
export interface StartReply extends Reply { startMs: number }
/** Reply of runPod: duration in µs; gRPC status code name on error. */
export interface RunPodReply extends Reply { us: number; code?: string }
/** Reply of burst: error count, total ms and per-call latency in µs. */
export interface BurstReply extends Reply {
  errors: number; ms: number; p50Us: number; p99Us: number; maxUs: number;
}
/** Reply of waitPlugins: how many active plugins were seen. */
export interface WaitPluginsReply extends Reply { plugins: number }
/** Reply of stop: plugins whose connection the harness closed. */
export interface StopReply extends Reply { closed: string[] }

/** One captured NRI log line. */
export interface LogEntry { seq: number; ms: number; level: string; msg: string }
/** One entry of the adaptation's plugin list. */
export interface PluginInfo {
  name: string; idx: string; pid: number; events: number; closed: boolean;
}
/** A "closing plugin ..." line: the plugin was removed after a fatal error. */
export interface DroppedPlugin { plugin: string; event: string; error: string }
/** Plugin life-cycle facts taken from NRI's log since the last start. */
export interface LogFacts {
  registered: string[]; synced: string[]; closed: string[];
  dropped: DroppedPlugin[]; failures: string[]; timedOut: boolean; deprecated: string[];
}
/** Reply of status; see README.md. */
export interface StatusReply extends Reply {
  started: boolean;
  starts: number;
  busy?: boolean;
  active: number;
  plugins: PluginInfo[];
  syncs: Array<{ ms: number; pods: number; error?: string }>;
  log: LogFacts;
  metrics?: {
    pluginCount: number; invocations: Record<string, number>;
    errors: Record<string, number>; deprecations: string[];
  };
  logCount: number;
  logs: LogEntry[];
}
/** Reply of version: linked module versions and compiled-in API features. */
export interface VersionReply extends Reply {
  go: string; nri: string; ttrpc: string; runtimeName: string; runtimeVersion: string;
  features: { podRPC: boolean; blockPluginSync: boolean };
}

/** Options of Harness.spawn; temp dirs are created for unset paths. */
export interface HarnessOptions {
  version: string;
  /** Use this binary instead of building one. */
  binary?: string;
  pluginDir?: string;
  confDir?: string;
  socket?: string;
  registrationTimeoutMs?: number;
  requestTimeoutMs?: number;
  disableConnections?: boolean;
  runtimeName?: string;
  runtimeVersion?: string;
  /** Echo the harness's stderr (NRI log) to this process's stderr. */
  echoStderr?: boolean;
}

/** The default plugin file name, as the project installs it. */
export const PLUGIN_NAME = "03-prefetchfiles-nri-plugin";

const MAX_STDERR = 1 << 20;

type Pending = { resolve: (r: Reply) => void; reject: (e: Error) => void; op: string };

/** A running harness process: one NRI adaptation playing containerd. */
export class Harness {
  readonly pluginDir: string;
  readonly confDir: string;
  readonly socket: string;
  private stderrText = "";
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  private closing?: Promise<void>;

  private constructor(
    readonly version: string,
    private readonly proc: Subprocess<"pipe", "pipe", "pipe">,
    private readonly tempDir: string | undefined,
    dirs: { pluginDir: string; confDir: string; socket: string },
    echo: boolean,
  ) {
    this.pluginDir = dirs.pluginDir;
    this.confDir = dirs.confDir;
    this.socket = dirs.socket;
    void this.readStdout();
    void this.readStderr(echo);
    void proc.exited.then(() => this.onExit());
  }

  /** Builds (if needed) and starts a harness; the adaptation is not started yet. */
  static async spawn(opts: HarnessOptions): Promise<Harness> {
    const binary = opts.binary ?? await buildHarness(opts.version);
    const needTemp = !opts.pluginDir || !opts.confDir || !opts.socket;
    const tempDir = needTemp ? fs.mkdtempSync(path.join(os.tmpdir(), "nri-h-")) : undefined;
    const dirs = {
      pluginDir: opts.pluginDir ?? path.join(tempDir!, "plugins"),
      confDir: opts.confDir ?? path.join(tempDir!, "conf"),
      socket: opts.socket ?? path.join(tempDir!, "nri.sock"),
    };
    fs.mkdirSync(dirs.pluginDir, { recursive: true });
    fs.mkdirSync(dirs.confDir, { recursive: true });
    const proc = Bun.spawn([binary, ...harnessArgs(opts, dirs)], {
      stdin: "pipe", stdout: "pipe", stderr: "pipe",
    });
    return new Harness(opts.version, proc, tempDir, dirs, opts.echoStderr ?? false);
  }

  /** The temp dir created for this harness (removed by close), if any. */
  get dir(): string | undefined {
    return this.tempDir;
  }

  /** Captured stderr: NRI log lines and any Go panic. */
  get stderr(): string {
    return this.stderrText;
  }

  /** Process id of the harness. */
  get pid(): number {
    return this.proc.pid;
  }

  /** Places a plugin binary (copied) and optional drop-in config. */
  installPlugin(binaryPath: string, confText?: string, name = PLUGIN_NAME): string {
    const dest = path.join(this.pluginDir, name);
    fs.copyFileSync(binaryPath, dest);
    fs.chmodSync(dest, 0o755);
    if (confText !== undefined) {
      fs.writeFileSync(path.join(this.confDir, `${name}.conf`), confText);
    }
    return dest;
  }

  /** Sends one raw command; resolves with its reply line. */
  send<R extends Reply = Reply>(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<R> {
    if (this.exited) {
      return Promise.reject(new Error(`harness exited; stderr:\n${this.stderrTail()}`));
    }
    const id = this.nextId++;
    const op = String(cmd.op);
    const reply = new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, op });
    });
    this.proc.stdin.write(JSON.stringify({ ...cmd, id }) + "\n");
    this.proc.stdin.flush();
    return withTimeout(reply, timeoutMs, `harness op ${op}`) as Promise<R>;
  }

  /** Creates the adaptation and calls Start() (launches plugins in pluginDir). */
  start(): Promise<StartReply> {
    return this.send({ op: "start" });
  }

  /** Waits until count plugins are registered, configured and synchronized. */
  waitPlugins(count: number, timeoutMs = 10_000): Promise<WaitPluginsReply> {
    return this.send({ op: "waitPlugins", count, timeoutMs }, timeoutMs + 10_000);
  }

  /** Delivers one RunPodSandbox the way this NRI release's containerd does. */
  runPod(pod: PodSpec, timeoutMs = 60_000): Promise<RunPodReply> {
    return this.send({ op: "runPod", pod, timeoutMs }, timeoutMs + 10_000);
  }

  /** count sequential RunPodSandbox calls; pod ids get "-<i>" appended. */
  burst(count: number, pod: PodSpec, timeoutMs = 600_000): Promise<BurstReply> {
    return this.send({ op: "burst", count, pod }, timeoutMs);
  }

  /** Sets the pods the sync callback reports (count filler pods + pods). */
  setPods(count: number, annotationBytes = 0, pods: PodSpec[] = []): Promise<Reply> {
    return this.send({ op: "setPods", count, annotationBytes, pods });
  }

  /** Plugin list, log-derived facts, metrics and the last lines of NRI log. */
  status(lines = 50): Promise<StatusReply> {
    return this.send({ op: "status", lines });
  }

  /** Captured NRI log lines from sequence number since, optionally filtered. */
  logs(since = 0, pattern?: string): Promise<Reply & { lines: LogEntry[]; next: number }> {
    return this.send({ op: "logs", since, pattern });
  }

  /** Waits for an NRI log line matching a Go regexp. */
  waitLog(pattern: string, since = 0, timeoutMs = 10_000):
    Promise<Reply & { line?: LogEntry }> {
    return this.send({ op: "waitLog", pattern, since, timeoutMs }, timeoutMs + 10_000);
  }

  /** Versions linked into the binary and the API features compiled in. */
  versionInfo(): Promise<VersionReply> {
    return this.send({ op: "version" });
  }

  /** Stop(): closes plugin connections (unless kept), listener, kills launched plugins. */
  stop(keepConnections = false): Promise<StopReply> {
    return this.send({ op: "stop", keepConnections });
  }

  /** Quits the harness (killing it after timeoutMs) and removes its temp dir. */
  close(timeoutMs = 5_000): Promise<void> {
    this.closing ??= this.doClose(timeoutMs);
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(timeoutMs: number): Promise<void> {
    try {
      if (!this.exited) {
        this.proc.stdin.write(JSON.stringify({ op: "quit" }) + "\n");
        await this.proc.stdin.end();
      }
    } catch {
      // The process is already gone.
    }
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await this.proc.exited;
    clearTimeout(timer);
    if (this.tempDir) fs.rmSync(this.tempDir, { recursive: true, force: true });
  }

  private async readStdout(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        this.onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    let reply: Reply & { id?: number };
    try {
      reply = JSON.parse(line) as Reply & { id?: number };
    } catch {
      this.stderrText += `[stdout, not JSON] ${line}\n`;
      return;
    }
    const id = typeof reply.id === "number" ? reply.id : -1;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    delete reply.id;
    p.resolve(reply);
  }

  private async readStderr(echo: boolean): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      const text = decoder.decode(chunk, { stream: true });
      if (echo) process.stderr.write(text);
      this.stderrText += text;
      if (this.stderrText.length > MAX_STDERR) {
        this.stderrText = this.stderrText.slice(-MAX_STDERR / 2);
      }
    }
  }

  private onExit(): void {
    this.exited = true;
    for (const [, p] of this.pending) {
      p.reject(new Error(`harness exited during ${p.op}; stderr:\n${this.stderrTail()}`));
    }
    this.pending.clear();
  }

  private stderrTail(): string {
    return this.stderrText.slice(-4000);
  }
}

function harnessArgs(opts: HarnessOptions,
  dirs: { pluginDir: string; confDir: string; socket: string }): string[] {
  const args = ["-plugin-dir", dirs.pluginDir, "-conf-dir", dirs.confDir,
    "-socket", dirs.socket];
  if (opts.registrationTimeoutMs !== undefined) {
    args.push("-registration-timeout", `${opts.registrationTimeoutMs}ms`);
  }
  if (opts.requestTimeoutMs !== undefined) {
    args.push("-request-timeout", `${opts.requestTimeoutMs}ms`);
  }
  if (opts.disableConnections) args.push("-disable-connections");
  if (opts.runtimeName !== undefined) args.push("-runtime-name", opts.runtimeName);
  if (opts.runtimeVersion !== undefined) args.push("-runtime-version", opts.runtimeVersion);
  return args;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
