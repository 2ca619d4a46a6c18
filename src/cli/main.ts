import { ConfigError } from "../config/conf.ts";
import { parseDuration } from "../config/duration.ts";
import { DEFAULT_SOCKET_ADDRESS } from "../config/settings.ts";
import { LEVELS, type Level } from "../log/logger.ts";
import { checkIdentity, IdentityError } from "../nri/identity.ts";
import { MAX_SOCKET_PATH } from "../socket/stream.ts";
import { versionText } from "../version.ts";
import { type FlagSpec, flagHelp, type ParsedArgs, parseArgs, UsageError } from "./args.ts";
import { check } from "./check.ts";
import { CommandError, fileErrorText } from "./failure.ts";
import {
  DEFAULT_PLUGIN_CONFIG_PATH,
  DEFAULT_PLUGIN_PATH,
  install,
  PLUGIN_BASENAME,
  runningExecutable,
  uninstall,
} from "./install.ts";
import { runPlugin } from "./run.ts";

/** The runtime's socket for plugins started by hand (NRI v0.4+). */
export const DEFAULT_NRI_SOCKET = "/var/run/nri/nri.sock";
/** Longer than the runtime's default 5 s, which a node may have raised. */
const DEFAULT_WAIT = "30s";
/** The longest delay a timer takes (2^31 - 1 ms); a longer one would fire at once. */
const MAX_WAIT_MS = 2 ** 31 - 1;

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
  "plugin-path": { takesValue: true, value: "DIR",
    help: `install/uninstall: containerd's NRI plugin_path (default ${DEFAULT_PLUGIN_PATH})` },
  "plugin-config-path": { takesValue: true, value: "DIR", help: "install/uninstall: " +
    `containerd's NRI plugin_config_path (default ${DEFAULT_PLUGIN_CONFIG_PATH})` },
  force: { takesValue: false, help: "install: replace an existing .conf" },
  "keep-conf": { takesValue: false, help: "uninstall: leave the .conf in place" },
  version: { takesValue: false, help: "print the version and exit" },
  help: { takesValue: false, short: "h", help: "print this help and exit" },
};

const COMMANDS = ["run", "check", "install", "uninstall", "version"] as const;

/**
 * The flags each command reads; any other is a mistake. --help and --version
 * may follow any command word, and read no other flag.
 */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  run: ["name", "idx", "socket-addr", "conf", "nri-socket", "log-level", "register-timeout",
    "configure-timeout"],
  check: ["conf", "socket-addr"],
  install: ["idx", "plugin-path", "plugin-config-path", "socket-addr", "force"],
  uninstall: ["idx", "plugin-path", "plugin-config-path", "keep-conf"],
  version: ["version"],
  "--version": ["version"],
  "--help": ["help"],
};

/** Set by a test build to answer RunPodSandbox Unimplemented (see build.ts). */
declare const PREFETCH_NRI_DEDICATED_POD_EVENTS: boolean | undefined;

/** Runs the command line; the only place the process's exit code is decided. */
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  try {
    const args = parseArgs(argv, FLAGS, COMMANDS);
    checkPositionals(args);
    if (args.switches.has("help")) {
      checkFlags("--help", args);
      return print(helpText());
    }
    if (args.switches.has("version") || args.command === "version") {
      checkFlags(args.command === "version" ? "version" : "--version", args);
      return print(versionText());
    }
    checkFlags(args.command ?? "run", args);
    switch (args.command) {
      case "check":
        return checkCommand(args);
      case "install":
      case "uninstall":
        return installCommand(args.command, args);
      default:
        return await runPlugin(runFlags(args.values), env);
    }
  } catch (error) {
    return reportFailure(error);
  }
}

/** Stray words are mistakes: a mistyped command must not start the daemon. */
function checkPositionals({ command, positionals }: ParsedArgs): void {
  const allowed = command === "check" ? 1 : 0;
  if (positionals.length <= allowed) return;
  const word = positionals[allowed]!;
  throw new UsageError(command === undefined
    ? `unknown command "${word}" (commands: ${COMMANDS.join(", ")})`
    : `unexpected argument "${word}" after ${command}`);
}

/** A flag the command does not read would be silently ignored: say so instead. */
function checkFlags(command: string, { values, switches }: ParsedArgs): void {
  const allowed = COMMAND_FLAGS[command] ?? [];
  for (const flag of [...values.keys(), ...switches]) {
    if (!allowed.includes(flag)) {
      throw new UsageError(`flag --${flag} is not used by ${command} (see --help)`);
    }
  }
}

function checkCommand(args: ParsedArgs): number {
  const conf = nonEmpty(args.values, "conf");
  if (!args.positionals[0] && conf === undefined) {
    throw new UsageError("check needs a pod file (or - for stdin), or --conf FILE");
  }
  const result = check(args.positionals[0], conf, { socketAddress: socketAddr(args.values) });
  process.stdout.write(`${result.out.join("\n")}\n`);
  return result.code;
}

function installCommand(command: "install" | "uninstall", args: ParsedArgs): number {
  const { values, switches } = args;
  const common = {
    pluginPath: nonEmpty(values, "plugin-path") ?? DEFAULT_PLUGIN_PATH,
    configPath: nonEmpty(values, "plugin-config-path") ?? DEFAULT_PLUGIN_CONFIG_PATH,
    idx: identityFlag(values, "idx") ?? "03",
    force: switches.has("force"),
  };
  const out = command === "install"
    ? install({ ...common, socketAddress: socketAddr(values),
      executable: runningExecutable() })
    : uninstall({ ...common, keepConf: switches.has("keep-conf") });
  return print(out.join("\n"));
}

function runFlags(values: Map<string, string>) {
  return {
    name: identityFlag(values, "name"),
    idx: identityFlag(values, "idx"),
    socketAddress: socketAddr(values),
    confPath: nonEmpty(values, "conf"),
    nriSocket: absolutePath(values, "nri-socket") ?? DEFAULT_NRI_SOCKET,
    logLevel: logLevel(values.get("log-level")),
    registerTimeoutMs: duration(values, "register-timeout"),
    configureTimeoutMs: duration(values, "configure-timeout"),
    dedicatedPodEvents: typeof PREFETCH_NRI_DEDICATED_POD_EVENTS === "undefined" ||
      PREFETCH_NRI_DEDICATED_POD_EVENTS,
  };
}

function nonEmpty(values: Map<string, string>, flag: string): string | undefined {
  const value = values.get(flag);
  if (value === "") throw new UsageError(`--${flag} must not be empty`);
  return value;
}

/**
 * --idx and --name by the runtime's rules, as usage mistakes naming the flag.
 * Empty means not given, as it does for the Go plugin.
 */
function identityFlag(values: Map<string, string>, flag: "idx" | "name"): string | undefined {
  const value = values.get(flag);
  if (!value) return undefined;
  try {
    // The runtime's rules, one part at a time: the other part is a valid stand-in.
    checkIdentity(flag === "idx" ? { idx: value, name: PLUGIN_BASENAME }
      : { idx: "00", name: value });
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    throw new UsageError(flag === "idx"
      ? `--idx must be exactly two digits, got "${value}"`
      : `--name must be non-empty and use only [A-Za-z0-9_.+-], got "${value}"`);
  }
  return value;
}

/** The snapshotter socket, absolute as the .conf's socket_address must be. */
function socketAddr(values: Map<string, string>): string | undefined {
  return absolutePath(values, "socket-addr");
}

/**
 * A socket flag's value: absolute (a relative one would depend on where the
 * command runs) and short enough for a Unix socket address.
 */
function absolutePath(values: Map<string, string>, flag: string): string | undefined {
  const value = nonEmpty(values, flag);
  if (value !== undefined && !value.startsWith("/")) {
    throw new UsageError(`--${flag} must be an absolute path, got "${value}"`);
  }
  if (value !== undefined && Buffer.byteLength(value) > MAX_SOCKET_PATH) {
    throw new UsageError(`--${flag} must be at most ${MAX_SOCKET_PATH} bytes, ` +
      `a Unix socket path's limit, got ${Buffer.byteLength(value)}`);
  }
  return value;
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
  if (ms > MAX_WAIT_MS) throw new UsageError(`--${flag} must be at most 596h, got "${text}"`);
  return ms;
}

function reportFailure(error: unknown): number {
  const known = error instanceof UsageError || error instanceof ConfigError ||
    error instanceof IdentityError || error instanceof CommandError;
  const coded = (error as NodeJS.ErrnoException)?.code !== undefined;
  const message = known ? (error as Error).message : fileErrorText(error) ??
    (coded ? (error as Error).message : String((error as Error)?.stack ?? error));
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
    "Usage:",
    "  prefetchfiles-nri-plugin [run] [flags]        serve NRI (the default)",
    "  prefetchfiles-nri-plugin check [--conf FILE] [--socket-addr PATH] POD-FILE|-",
    "                                                validate a pod's annotation",
    "  prefetchfiles-nri-plugin check --conf FILE    validate a .conf",
    "  prefetchfiles-nri-plugin install [--idx NN] [--plugin-path DIR]",
    "      [--plugin-config-path DIR] [--socket-addr PATH] [--force]",
    "  prefetchfiles-nri-plugin uninstall [--idx NN] [--plugin-path DIR]",
    "      [--plugin-config-path DIR] [--keep-conf]",
    "  prefetchfiles-nri-plugin version",
    "",
    "Launched by containerd from its NRI plugin_path, it needs no flags: it reads its",
    "settings from the .conf the runtime passes. Started by hand, it dials the NRI socket.",
    "",
    "Flags:",
    flagHelp(FLAGS),
  ].join("\n");
}
