import { fstatSync } from "node:fs";
import { type ConfFile, parseConf, readLogKeys } from "../config/conf.ts";
import { type LegacyConfig, readLegacyConfig } from "../config/legacy.ts";
import { type FlagSettings, resolveSettings } from "../config/resolve.ts";
import { isPermissive, LEGACY_CONFIG_PATH, type Settings } from "../config/settings.ts";
import { Logger, type Sink } from "../log/logger.ts";
import { PendingSink, StderrSink } from "../log/sinks.ts";
import { resolveIdentity } from "../nri/identity.ts";
import { runExternal, runPrelaunched } from "../nri/runner.ts";
import { PrefetchHandler } from "../prefetch/handler.ts";
import { VERSION } from "../version.ts";
import { readNamedFile } from "./failure.ts";
import { applyLogSettings } from "./logging.ts";

export interface RunFlags extends FlagSettings {
  name?: string;
  idx?: string;
  confPath?: string;
  nriSocket: string;
  registerTimeoutMs: number;
  configureTimeoutMs: number;
  /** Serve RunPodSandbox as its own RPC (off only in a test build). */
  dedicatedPodEvents: boolean;
}

/** How long queued prefetch requests may still be delivered once the plugin stops. */
const STOP_GRACE_MS = 2000;

/**
 * The plugin's main job. Pre-launched when the runtime passed a socket in
 * NRI_PLUGIN_SOCKET, otherwise started by hand and dialling the runtime.
 */
export async function runPlugin(
  flags: RunFlags,
  env: Record<string, string | undefined>,
): Promise<number> {
  const fd = env.NRI_PLUGIN_SOCKET;
  const plugin = new PluginProcess(flags, fd !== undefined && fd !== "");
  const identity = resolveIdentity({ flagName: flags.name, flagIdx: flags.idx, env,
    argv0: process.argv0 });
  plugin.log.info("plugin starting", { version: VERSION, mode: plugin.mode,
    plugin: `${identity.idx}-${identity.name}` });
  const handler = plugin.handler();
  const unusable = plugin.prelaunched ? launchSocketProblem(fd!) : undefined;
  if (unusable) {
    plugin.log.error("plugin stopped; exiting", { error: unusable });
    plugin.flushLog();
    return 1;
  }
  stopOnSignals(plugin, handler);
  const options = { identity, handler, log: plugin.log,
    registerTimeoutMs: flags.registerTimeoutMs, configureTimeoutMs: flags.configureTimeoutMs,
    dedicatedPodEvents: flags.dedicatedPodEvents };
  const code = plugin.prelaunched
    ? await runPrelaunched(Number(fd), options)
    : await runExternal({ ...options, socketPath: flags.nriSocket });
  await handler.stop(STOP_GRACE_MS);
  plugin.flushLog();
  return code;
}

/**
 * Settings and log destinations over the process's life. A launched plugin
 * learns its .conf only from Configure, so its first lines are held until
 * then (or until it exits without one).
 */
class PluginProcess {
  readonly log: Logger;
  private readonly pending = new PendingSink();
  private readonly fileConf: ConfFile;
  private readonly legacy = readLegacyConfig(LEGACY_CONFIG_PATH);
  private sinks: Sink[] = [];
  private warned = false;
  private announced = ""; // the settings last logged, so a reconnect does not repeat them

  constructor(private readonly flags: RunFlags, readonly prelaunched: boolean) {
    this.log = Logger.create(prelaunched ? [this.pending] : [new StderrSink()]);
    this.fileConf = flags.confPath ? readConfFile(flags.confPath) : {};
  }

  get mode(): string {
    return this.prelaunched ? "pre-launched" : "external";
  }

  /** The prefetch handler, with settings from --conf now and from Configure later. */
  handler(): PrefetchHandler {
    const initial = this.prelaunched
      ? resolveSettings(this.flags, this.fileConf, this.legacy)
      : this.apply(this.fileConf);
    return new PrefetchHandler(initial, {
      log: this.log,
      settingsFor: (text) => this.apply(text ? this.runtimeConf(text) : this.fileConf),
    });
  }

  /**
   * The .conf text the runtime sent in Configure; a bad one refuses Configure.
   * Before refusing, the log opens where the text's own valid log keys (or the
   * defaults) say, so the held lines and the refusal reach the operator even
   * if the runtime then kills us.
   */
  private runtimeConf(text: string): ConfFile {
    try {
      const { conf, unknownKeys } = parseConf(text, "the .conf from the runtime");
      if (unknownKeys.length > 0) {
        this.log.warn("unknown .conf keys ignored", { keys: unknownKeys });
      }
      return conf;
    } catch (error) {
      this.openLog({ ...this.fileConf, ...readLogKeys(text) });
      throw error;
    }
  }

  /** Writes held lines somewhere, even if no Configure ever came. */
  flushLog(): void {
    if (this.sinks.length === 0) this.apply(this.fileConf);
  }

  private apply(conf: ConfFile): Settings {
    const settings = this.openLog(conf);
    const text = JSON.stringify(settings);
    if (text !== this.announced) announce(this.log, settings, this.legacy, this.warned);
    this.announced = text;
    this.warned = true;
    return settings;
  }

  /** Opens the log destinations `conf` names and writes the held lines there, in order. */
  private openLog(conf: ConfFile): Settings {
    const settings = resolveSettings(this.flags, conf, this.legacy);
    const { sinks, problems } = applyLogSettings(this.log, settings, this.prelaunched, this.sinks);
    this.sinks = sinks;
    this.pending.flushTo(sinks);
    for (const reason of problems) this.log.warn("log destination not used", { reason });
    return settings;
  }
}

/** The --conf file; one that cannot be read or used stops the plugin before it registers. */
function readConfFile(path: string): ConfFile {
  const { conf, unknownKeys } = parseConf(readNamedFile(path, ".conf"), path);
  if (unknownKeys.length > 0) {
    process.stderr.write(`${path}: unknown keys ignored: ${unknownKeys.join(", ")}\n`);
  }
  return conf;
}

/** The start-up lines that say what the plugin will do; the policy warning only once. */
function announce(log: Logger, settings: Settings, legacy: LegacyConfig, warned: boolean): void {
  if (legacy.problem) log.warn("legacy config file ignored", { reason: legacy.problem });
  log.info("settings applied", {
    socket: settings.socketAddress,
    socket_from: settings.socketSource,
    fail_pod_on_error: settings.failPodOnError,
    log_level: settings.logLevel,
  });
  if (!warned && isPermissive(settings.policy)) {
    log.warn("no policy set: any pod author can point the snapshotter at any node path " +
      "or URL (see allowed_namespaces, allowed_prefetch_prefixes, allowed_url_schemes)");
  }
}

/** What is wrong with the runtime's NRI_PLUGIN_SOCKET, if anything. */
function launchSocketProblem(value: string): string | undefined {
  const named = `NRI_PLUGIN_SOCKET names fd ${value}`;
  if (!/^[0-9]+$/.test(value)) {
    return `NRI_PLUGIN_SOCKET is "${value}", not a file descriptor number`;
  }
  try {
    if (!fstatSync(Number(value)).isSocket()) return `${named}, which is not a socket`;
  } catch (error) {
    return `${named}, which is not open (${(error as NodeJS.ErrnoException).code ?? error})`;
  }
  return undefined;
}

/**
 * The first signal stops after the grace for queued requests; a second one at
 * once, logging what was still queued. SIGHUP (a closed terminal) is a stop too.
 */
function stopOnSignals(plugin: PluginProcess, handler: PrefetchHandler): void {
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, async () => {
      if (stopping) {
        handler.stopNow();
        plugin.flushLog();
        process.exit(0);
      }
      stopping = true;
      plugin.log.info("stopping on signal", { signal });
      await handler.stop(STOP_GRACE_MS);
      plugin.flushLog(); // a launched plugin stopped before Configure still leaves its lines
      process.exit(0);
    });
  }
}

