import type { Level } from "../log/logger.ts";
import type { ConfFile } from "./conf.ts";
import type { LegacyConfig } from "./legacy.ts";
import { DEFAULT_SOCKET_ADDRESS, DEFAULTS, type Settings } from "./settings.ts";

/** Settings given on the command line; they win over every file. */
export interface FlagSettings {
  socketAddress?: string;
  logLevel?: Level;
}

/**
 * Merges the sources, first found wins: flag, then .conf, then (for the
 * socket only) the Go plugin's legacy file, then the default.
 */
export function resolveSettings(
  flags: FlagSettings,
  conf: ConfFile,
  legacy: LegacyConfig,
): Settings {
  const policy = DEFAULTS.policy;
  return {
    ...socketAddress(flags, conf, legacy),
    logLevel: flags.logLevel ?? conf.logLevel ?? DEFAULTS.logLevel,
    logFile: conf.logFile ?? DEFAULTS.logFile,
    syslogSocket: conf.syslogSocket ?? DEFAULTS.syslogSocket,
    failPodOnError: conf.failPodOnError ?? DEFAULTS.failPodOnError,
    normalizeImageReferences: conf.normalizeImageReferences ??
      DEFAULTS.normalizeImageReferences,
    retryWindowMs: conf.retryWindowMs ?? DEFAULTS.retryWindowMs,
    queueMaxRequests: conf.queueMaxRequests ?? DEFAULTS.queueMaxRequests,
    queueMaxBytes: conf.queueMaxBytes ?? DEFAULTS.queueMaxBytes,
    policy: {
      allowedNamespaces: conf.allowedNamespaces ?? policy.allowedNamespaces,
      allowedPrefetchPrefixes: conf.allowedPrefetchPrefixes ?? policy.allowedPrefetchPrefixes,
      allowedUrlSchemes: conf.allowedUrlSchemes ?? policy.allowedUrlSchemes,
      maxAnnotationBytes: conf.maxAnnotationBytes ?? policy.maxAnnotationBytes,
    },
  };
}

function socketAddress(
  flags: FlagSettings,
  conf: ConfFile,
  legacy: LegacyConfig,
): Pick<Settings, "socketAddress" | "socketSource"> {
  if (flags.socketAddress) return { socketAddress: flags.socketAddress, socketSource: "flag" };
  if (conf.socketAddress) return { socketAddress: conf.socketAddress, socketSource: "conf" };
  if (legacy.socketAddress) {
    return { socketAddress: legacy.socketAddress, socketSource: "legacy" };
  }
  return { socketAddress: DEFAULT_SOCKET_ADDRESS, socketSource: "default" }
}
