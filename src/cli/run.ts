import { readFileSync } from "node:fs";
import { type ConfFile, parseConf } from "../config/conf.ts";
import { type LegacyConfig, readLegacyConfig } from "../config/legacy.ts";
import { type FlagSettings, resolveSettings } from "../config/resolve.ts";
import { isPermissive, LEGACY_CONFIG_PATH, type Settings } from "../config/settings.ts";
import { Logger, type Sink } from "../log/logger.ts";
import { PendingSink, StderrSink } from "../log/sinks.ts";
import { resolveIdentity } from "../nri/identity.ts";
import { runExternal, runPrelaunched } from "../nri/runner.ts";
import { PrefetchHandler } from "../prefetch/handler.ts";
import { VERSION } from "../version.ts";
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

/**
 * The plugin's main job. Pre-launched when the runtime passed a socket in
 * NRI_PLUGIN_SOCKET, otherwise started by hand and dialling the runtime.
 */
export async function runPlugin(
  flags: RunFlags,
  env: Record<string, string | undefined>,
): Promise<number> {
  const fd = env.NRI_PLUGIN_SOCKET;
  const prelaunched = fd !== undefined && fd !== "";
  const pending = new PendingSink();
  const log = Logger.create(prelaunched ? [pending] : [new StderrSink()]);
  const identity = resolveIdentity({ flagName: flags.name, flagIdx: flags.idx, env,
    argv0: process.argv0 });
  const fileConf = flags.confPath ? readConfFile(flags.confPath) : {};
  const legacy = readLegacyConfig(LEGACY_CONFIG_PATH);
  const state = { sinks: [] as Sink[], warned: false };
  const settle = (conf: ConfFile) => {
    const settings = resolveSettings(flags, conf, legacy);
    state.sinks = applyLogSettings(log, settings, prelaunched, state.sinks);
    pending.flushTo(state.sinks);
    state.warned = announce(log, settings, legacy, state.warned);
    return settings;
  };
  const initial = prelaunched ? resolveSettings(flags, fileConf, legacy) : settle(fileConf);
  const handler = new PrefetchHandler(initial, {
    log,
    settingsFor: (text) => settle(text ? runtimeConf(text, log) : fileConf),
  });
  log.info("plugin starting", { version: VERSION, mode: prelaunched ? "pre-launched" : "external",
    plugin: `${identity.idx}-${identity.name}` });
  stopOnSignals(log);
  const options = { identity, handler, log, registerTimeoutMs: flags.registerTimeoutMs,
    configureTimeoutMs: flags.configureTimeoutMs, dedicatedPodEvents: flags.dedicatedPodEvents };
  const code = prelaunched
    ? await runPrelaunched(Number(fd), options)
    : await runExternal({ ...options, socketPath: flags.nriSocket });
  if (state.sinks.length === 0) applyLogSettings(log, initial, prelaunched, []);
  pending.flushTo(state.sinks);
  return code;
}

/** The .conf text the runtime sent in Configure; a bad one refuses Configure. */
function runtimeConf(text: string, log: Logger): ConfFile {
  const { conf, unknownKeys } = parseConf(text, "the .conf from the runtime");
  if (unknownKeys.length > 0) log.warn("unknown .conf keys ignored", { keys: unknownKeys });
  return conf;
}

function readConfFile(path: string): ConfFile {
  const { conf, unknownKeys } = parseConf(readFileSync(path, "utf8"), path);
  if (unknownKeys.length > 0) {
    process.stderr.write(`${path}: unknown keys ignored: ${unknownKeys.join(", ")}\n`);
  }
  return conf;
}

/** The start-up lines that say what the plugin will do; the policy warning only once. */
function announce(log: Logger, settings: Settings, legacy: LegacyConfig, warned: boolean) {
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
  return true;
}

function stopOnSignals(log: Logger): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      log.info("stopping on signal", { signal });
      process.exit(0);
    });
  }
}

