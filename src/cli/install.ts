import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { DEFAULT_SOCKET_ADDRESS } from "../config/settings.ts";
import { checkIdentity, splitIndexedName } from "../nri/identity.ts";
import { UsageError } from "./args.ts";

export const PLUGIN_BASENAME = "prefetchfiles-nri-plugin";
export const DEFAULT_PLUGIN_PATH = "/opt/nri/plugins";
export const DEFAULT_PLUGIN_CONFIG_PATH = "/etc/nri/conf.d";

export interface InstallOptions {
  pluginPath: string;
  configPath: string;
  idx: string;
  socketAddress?: string;
  force: boolean;
  /** The executable to install (the running one). */
  executable: string;
}

/** Copies the executable and writes its .conf; returns the lines to print. */
export function install(options: InstallOptions): string[] {
  const { pluginPath, configPath, idx } = options;
  checkIdentity({ idx, name: PLUGIN_BASENAME });
  if (options.socketAddress !== undefined && !options.socketAddress.startsWith("/")) {
    throw new UsageError(`--socket-addr must be an absolute path, got "${options.socketAddress}"`);
  }
  const out = neighbourWarnings(pluginPath, idx);
  const target = join(pluginPath, `${idx}-${PLUGIN_BASENAME}`);
  mkdirSync(pluginPath, { recursive: true });
  // Copied under another name without the execute bit (containerd skips such files),
  // then renamed: containerd never sees half a file or a second plugin.
  const staging = `${target}.new`;
  try {
    copyFileSync(options.executable, staging);
    chmodSync(staging, 0o644);
    renameSync(staging, target);
  } finally {
    rmSync(staging, { force: true });
  }
  chmodSync(target, 0o755);
  out.push(`installed ${target}`);
  out.push(writeConf(options));
  out.push("", ...containerdLines(pluginPath, configPath));
  return out;
}

/** Removes what install put in place; keeps the .conf when asked to. */
export function uninstall(options: Omit<InstallOptions, "executable" | "socketAddress"> & {
  keepConf: boolean;
}): string[] {
  checkIdentity({ idx: options.idx, name: PLUGIN_BASENAME });
  const name = `${options.idx}-${PLUGIN_BASENAME}`;
  const paths = [join(options.pluginPath, name)];
  if (!options.keepConf) paths.push(join(options.configPath, `${name}.conf`));
  return paths.map((path) => {
    if (!existsSync(path)) return `not present: ${path}`;
    rmSync(path);
    return `removed ${path}`;
  });
}

function writeConf(options: InstallOptions): string {
  const conf = join(options.configPath, `${options.idx}-${PLUGIN_BASENAME}.conf`);
  if (existsSync(conf) && !options.force) return `kept existing ${conf} (--force replaces it)`;
  mkdirSync(options.configPath, { recursive: true });
  // Without --socket-addr the key stays commented, so the Go plugin's
  // /etc/nydus/prefetchConfig.toml (or the default) still decides.
  const line = options.socketAddress
    ? `socket_address = ${JSON.stringify(options.socketAddress)}`
    : `# socket_address = "${DEFAULT_SOCKET_ADDRESS}"`;
  writeFileSync(conf,
    `# UNIX domain socket address for connection to the nydus-snapshotter API\n${line}\n`);
  return `wrote ${conf}`;
}

/** What else in the plugin directory would break containerd or double our work. */
function neighbourWarnings(pluginPath: string, idx: string): string[] {
  if (!existsSync(pluginPath)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(pluginPath)) {
    const path = join(pluginPath, entry);
    const stat = statSync(path);
    if (!stat.isFile() || (stat.mode & 0o111) === 0) continue;
    const split = splitIndexedName(entry);
    if (!split) {
      out.push(`warning: ${path} is not named NN-name; containerd then starts no NRI plugin`);
    } else if (split.name.includes("prefetch") && entry !== `${idx}-${PLUGIN_BASENAME}`) {
      out.push(`warning: ${path} looks like another prefetch plugin; with two, every ` +
        "prefetch list is sent twice (remove one)");
    }
  }
  return out;
}

function containerdLines(pluginPath: string, configPath: string): string[] {
  return [
    "Add to containerd's config (config.toml), then restart containerd:",
    '  [plugins."io.containerd.nri.v1.nri"]',
    "    disable = false",
    `    plugin_path = "${pluginPath}"`,
    `    plugin_config_path = "${configPath}"`,
    "and make sure nydus-snapshotter runs with [system] enable = true.",
  ];
}

/** The running executable, refusing to install the Bun interpreter itself. */
export function runningExecutable(): string {
  if (!process.argv[1]?.startsWith("/$bunfs/")) {
    throw new UsageError("install works from the compiled executable (bun build.ts first)");
  }
  return process.execPath;
}
