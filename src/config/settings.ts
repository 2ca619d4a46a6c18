import type { Level } from "../log/logger.ts";
import { DEFAULT_SYSLOG_SOCKET } from "../log/syslog.ts";

/** Where nydus-snapshotter's system controller listens unless told otherwise. */
export const DEFAULT_SOCKET_ADDRESS = "/run/containerd-nydus/system.sock";
/** The released Go plugin's fixed config file, still honoured for its socket. */
export const LEGACY_CONFIG_PATH = "/etc/nydus/prefetchConfig.toml";
/** Kubernetes' limit on all of a pod's annotations together. */
export const KUBERNETES_ANNOTATION_LIMIT = 256 * 1024;

/** Who may ask for what, checked before anything is sent. Empty lists allow all. */
export interface Policy {
  allowedNamespaces: string[];
  allowedPrefetchPrefixes: string[];
  allowedUrlSchemes: string[];
  maxAnnotationBytes: number;
}

/** Everything the plugin runs with, after flags, .conf, legacy file and defaults. */
export interface Settings {
  socketAddress: string;
  /** Where socketAddress came from, for the start-up log line. */
  socketSource: "flag" | "conf" | "legacy" | "default";
  logLevel: Level;
  logFile: string | undefined;
  /** Syslog's socket for a launched plugin; "" turns syslog off. */
  syslogSocket: string;
  /** Fail the pod when delivery fails or the annotation is invalid (the Go plugin's way). */
  failPodOnError: boolean;
  /** Rewrite image references to the form containerd records (docker.io/library/...). */
  normalizeImageReferences: boolean;
  /** How long a request that missed its pod's deadline is retried in the background. */
  retryWindowMs: number;
  queueMaxRequests: number;
  queueMaxBytes: number;
  policy: Policy;
}

export const DEFAULTS: Omit<Settings, "socketAddress" | "socketSource"> = {
  logLevel: "info",
  logFile: undefined,
  syslogSocket: DEFAULT_SYSLOG_SOCKET,
  failPodOnError: false,
  normalizeImageReferences: true,
  retryWindowMs: 10_000,
  queueMaxRequests: 1000,
  queueMaxBytes: 64 * 1024 * 1024,
  policy: {
    allowedNamespaces: [],
    allowedPrefetchPrefixes: [],
    allowedUrlSchemes: [],
    maxAnnotationBytes: KUBERNETES_ANNOTATION_LIMIT,
  },
};

/** True when no policy restricts what pod authors can send. */
export function isPermissive(policy: Policy): boolean {
  return policy.allowedNamespaces.length === 0 &&
    policy.allowedPrefetchPrefixes.length === 0 &&
    policy.allowedUrlSchemes.length === 0;
}
