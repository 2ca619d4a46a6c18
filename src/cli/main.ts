import { ConfigError } from "../config/conf.ts";
import { parseDuration } from "../config/duration.ts";
import { DEFAULT_SOCKET_ADDRESS } from "../config/settings.ts";
import { LEVELS, type Level } from "../log/logger.ts";
import { IdentityError } from "../nri/identity.ts";
import { versionText } from "../version.ts";
import { type FlagSpec, flagHelp, parseArgs, UsageError } from "./args.ts";
import { runPlugin } from "./run.ts";

/** The runtime's socket for plugins started by hand (NRI v0.4+). */
export const DEFAULT_NRI_SOCKET = "/var/run/nri/nri.sock";
/** Longer than the runtime's default 5 s, which a node may have raised. */
const DEFAULT_WAIT = "30s";

const FLAGS: Record<string, FlagSpec> = {
  name: { takesValue: true, value: "NAME", help: "plugin name to register with NRI" },
  idx: { takesValue: true, value: "NN", help: "plugin index to register with NRI (two digits)" },
  "socket-addr": { takesValue: true, value: "PATH",
    help: `nydus-snapshotter system socket (default ${DEFAULT_SOCKET_ADDRESS})` },
  conf: { takesValue: true, value: "PATH",
    help: "read settings from this .conf (a pre-launched plugin gets it from the runtime)" },
  "nri-socket": { takesValue: true, value: "PATH",
    help: `NRI socket to dial when started by hand (default ${DEFAULT_NRI_SOCKET})` },
  "log-level": { takesValue: true, value: "LEVEL", help: `one of ${LEVELS.join(", ")}` },
  "register-timeout": { takesValue: true, value: "DURATION",
    help: `wait this long for the RegisterPlugin reply (default ${DEFAULT_WAIT})` },
  "configure-timeout": { takesValue: true, value: "DURATION",
    help: `wait this long for Configure after registering (default ${DEFAULT_WAIT})` },
  version: { takesValue: false, help: "print the version and exit" },
  help: { takesValue: false, short: "h", help: "print this help and exit" },
};

const COMMANDS = ["run"] as const;

/** Set by a test build to answer RunPodSandbox Unimplemented (see build.ts). */
declare const PREFETCH_NRI_DEDICATED_POD_EVENTS: boolean | undefined;

/** Runs the command line; the only place the process's exit code is decided. */
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  try {
    const args = parseArgs(argv, FLAGS, COMMANDS);
    if (args.switches.has("help")) return print(helpText());
    if (args.switches.has("version")) return print(versionText());
    return await runPlugin(runFlags(args.values), env);
  } catch (error) {
    return reportFailure(error);
  }
}

function runFlags(values: Map<string, string>) {
  return {
    name: values.get("name"),
    idx: values.get("idx"),
    socketAddress: values.get("socket-addr"),
    confPath: values.get("conf"),
    nriSocket: values.get("nri-socket") ?? DEFAULT_NRI_SOCKET,
    logLevel: logLevel(values.get("log-level")),
    registerTimeoutMs: duration(values, "register-timeout"),
    configureTimeoutMs: duration(values, "configure-timeout"),
    dedicatedPodEvents: typeof PREFETCH_NRI_DEDICATED_POD_EVENTS === "undefined" ||
      PREFETCH_NRI_DEDICATED_POD_EVENTS,
  };
}

function logLevel(value: string | undefined): Level | undefined {
  if (value === undefined) return undefined;
  if (!LEVELS.includes(value as Level)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got "${value}"`);
  }
  return value as Level;
}

function duration(values: Map<string, string>, flag: string): number {
  const text = values.get(flag) ?? DEFAULT_WAIT;
  const ms = parseDuration(text);
  if (!ms) throw new UsageError(`--${flag} must be a duration such as "30s", got "${text}"`);
  return ms;
}

function reportFailure(error: unknown): number {
  const known = error instanceof UsageError || error instanceof ConfigError ||
    error instanceof IdentityError;
  const message = known ? (error as Error).message : String((error as Error)?.stack ?? error);
  process.stderr.write(`prefetchfiles-nri-plugin: ${message}\n`);
  return error instanceof UsageError ? 2 : 1;
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

function helpText(): string {
  return [
    "prefetchfiles-nri-plugin: forwards the pod annotation containerd.io/nydus-prefetch",
    "to nydus-snapshotter (PUT /api/v1/prefetch on its system socket) when a pod starts.",
    "",
    "Usage: prefetchfiles-nri-plugin [run] [flags]",
    "",
    "Launched by containerd from its NRI plugin_path, it needs no flags: it reads its",
    "settings from the .conf the runtime passes. Started by hand, it dials the NRI socket.",
    "",
    "Flags:",
    flagHelp(FLAGS),
  ].join("\n");
}
