import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { basename, join, resolve } from "node:path";
import { DEFAULT_SOCKET_ADDRESS } from "../config/settings.ts";
import { checkIdentity, splitIndexedName } from "../nri/identity.ts";
import { UsageError } from "./args.ts";
import { CommandError, fileProblem } from "./failure.ts";
import { isLeftover, removeLeftovers, runningInstall, stagingPrefix } from "./staging.ts";

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

/**
 * Writes the .conf and copies the executable; returns the lines to print.
 * Every path is looked at before anything is written, so a refusal leaves the
 * node as it was; the .conf goes first, since without its executable it does nothing.
 */
export function install(options: InstallOptions): string[] {
  const { pluginPath, configPath, idx } = options;
  checkIdentity({ idx, name: PLUGIN_BASENAME });
  if (options.socketAddress !== undefined && !options.socketAddress.startsWith("/")) {
    throw new UsageError(`--socket-addr must be an absolute path, got "${options.socketAddress}"`);
  }
  const target = join(pluginPath, `${idx}-${PLUGIN_BASENAME}`);
  const conf = confFile(options);
  expect("install", pluginPath, "folder", "--plugin-path");
  expect("install", configPath, "folder", "--plugin-config-path");
  expect("install", target, "file", "--plugin-path or --idx");
  const confKind = expect("install", conf, "file", "--plugin-config-path or --idx");
  const out = neighbourWarnings(pluginPath, idx);
  mkdirSync(pluginPath, { recursive: true });
  out.push(...removeLeftovers(pluginPath, "install"));
  if (resolve(configPath) !== resolve(pluginPath)) {
    out.push(...removeLeftovers(configPath, "install"));
  }
  const confLine = confKind === "file" && !options.force
    ? `kept existing ${conf} (--force replaces it)`
    : writeConf(conf, options);
  placeExecutable(options.executable, pluginPath, target);
  out.push(`installed ${target}`, confLine);
  out.push("", ...containerdLines(pluginPath, configPath));
  return out;
}

/**
 * Copies the executable into a new staging folder without any execute bit,
 * makes it executable once complete and on disk, then renames it over
 * `target` in one step. The folder goes whatever happens; one left by a
 * killed install is removed by the next. Two installs at once each copy in
 * their own folder: the last rename wins, and either way a whole executable
 * is in place.
 */
function placeExecutable(executable: string, pluginPath: string, target: string): void {
  const staging = mkdtempSync(join(pluginPath, stagingPrefix()));
  try {
    const staged = join(staging, basename(target));
    try {
      copyFile(executable, staged);
    } catch (error) {
      if ((error as NodeJS.ErrnoException)?.code === undefined) throw error;
      if (!existsSync(staging)) throw removedMeanwhile(staging, target);
      throw new CommandError(`cannot install: copying ${executable} to ${target} failed: ` +
        fileProblem(error));
    }
    try {
      renameSync(staged, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException)?.code === "ENOENT" && !existsSync(staging)) {
        throw removedMeanwhile(staging, target);
      }
      throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function removedMeanwhile(staging: string, target: string): CommandError {
  return new CommandError(`cannot install: the copy in ${staging} was removed while it was ` +
    `made (by another install?); ${target} is left as it was: run install again`);
}

function copyFile(source: string, destination: string): void {
  const input = openSync(source, "r");
  try {
    const output = openSync(destination, "wx", 0o600);
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (let read; (read = readSync(input, buffer, 0, buffer.length, null)) > 0;) {
        for (let written = 0; written < read;) {
          written += writeSync(output, buffer, written, read - written);
        }
      }
      fchmodSync(output, 0o755);
      fsyncSync(output);
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
}

/** Removes what install put in place; keeps the .conf when asked to. */
export function uninstall(options: Omit<InstallOptions, "executable" | "socketAddress"> & {
  keepConf: boolean;
}): string[] {
  checkIdentity({ idx: options.idx, name: PLUGIN_BASENAME });
  // Removing the .conf under an install at work would leave its executable without one.
  const busy = runningInstall(options.pluginPath) ?? runningInstall(options.configPath);
  if (busy) {
    throw new CommandError(`cannot uninstall: an install (pid ${busy.pid}) is at work in ` +
      `${busy.dir}; run uninstall again once it has finished`);
  }
  const name = `${options.idx}-${PLUGIN_BASENAME}`;
  const paths = [join(options.pluginPath, name)];
  if (!options.keepConf) paths.push(join(options.configPath, `${name}.conf`));
  // A folder there was not put there by install: removing nothing beats removing half.
  const kinds = paths.map((path) => expect("uninstall", path, "file", "--plugin-path, " +
    "--plugin-config-path or --idx", true));
  const out = paths.map((path, index) => {
    if (kinds[index] === "missing") return `not present: ${path}`;
    rmSync(path);
    return `removed ${path}`;
  });
  out.push(...removeLeftovers(options.pluginPath, "uninstall"));
  if (resolve(options.configPath) !== resolve(options.pluginPath)) {
    out.push(...removeLeftovers(options.configPath, "uninstall"));
  }
  return out;
}

type Kind = "missing" | "folder" | "file";

/**
 * What is at `path`, refusing (exit 1, naming the path) when it is not the
 * kind wanted. A symbolic link counts as what it points to, except that
 * uninstall (`link` true) removes a link itself, whatever it points to.
 */
function expect(command: string, path: string, wanted: "folder" | "file", flags: string,
  link = false): Kind {
  const refuse = (problem: string) => new CommandError(`cannot ${command}: ${path} ${problem}`);
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw refuse(`cannot be looked at: ${fileProblem(error)}`);
  }
  if (stat.isSymbolicLink()) {
    if (link) return "file";
    try {
      stat = statSync(path);
    } catch (error) {
      throw refuse(`is a symbolic link that cannot be followed: ${fileProblem(error)}`);
    }
  }
  const kind = stat.isDirectory() ? "folder" : stat.isFile() ? "file" : describe(stat);
  if (kind === wanted) return kind;
  const fix = command === "uninstall"
    ? "; install never puts one there, so nothing was removed"
    : `; ${wanted === "folder" ? "" : "move it away or "}choose another ${flags}`;
  throw refuse(`is ${article(kind)}, not ${article(wanted)}${fix}`);
}

function describe(stat: Stats): string {
  if (stat.isSocket()) return "socket";
  if (stat.isFIFO()) return "named pipe";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "device";
  return "special file";
}

function article(kind: string): string {
  return `${kind === "file" ? "a regular" : "a"} ${kind}`;
}

function confFile(options: Pick<InstallOptions, "configPath" | "idx">): string {
  return join(options.configPath, `${options.idx}-${PLUGIN_BASENAME}.conf`);
}

/**
 * Writes the .conf in a staging folder beside it and renames it into place,
 * so that neither a killed install nor two at once leave half of one. A .conf
 * that is a symbolic link is written through, as the link's owner meant.
 */
function writeConf(conf: string, options: InstallOptions): string {
  // Without --socket-addr the key stays commented, so the Go plugin's
  // /etc/nydus/prefetchConfig.toml (or the default) still decides.
  const line = options.socketAddress
    ? `socket_address = ${JSON.stringify(options.socketAddress)}`
    : `# socket_address = "${DEFAULT_SOCKET_ADDRESS}"`;
  const text = "# UNIX domain socket address for connection to the nydus-snapshotter API\n" +
    `${line}\n`;
  mkdirSync(options.configPath, { recursive: true });
  if (isLink(conf)) {
    writeFileSync(conf, text);
    return `wrote ${conf}`;
  }
  const staging = mkdtempSync(join(options.configPath, stagingPrefix()));
  try {
    const staged = join(staging, basename(conf));
    const output = openSync(staged, "wx", 0o666);
    try {
      writeFileSync(output, text);
      fsyncSync(output);
    } finally {
      closeSync(output);
    }
    renameSync(staged, conf);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return `wrote ${conf}`;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What else in the plugin directory would break containerd or double our work. */
function neighbourWarnings(pluginPath: string, idx: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(pluginPath);
  } catch {
    return []; // not there yet: install creates it
  }
  const out: string[] = [];
  for (const entry of entries) {
    const path = join(pluginPath, entry);
    let stat: Stats;
    try {
      stat = statSync(path);
    } catch {
      continue; // a link to nothing, or gone since the listing
    }
    if (!stat.isFile() || (stat.mode & 0o111) === 0 || isLeftover(entry)) continue;
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

/** The lines for containerd's config; its paths absolute, as containerd runs elsewhere. */
function containerdLines(pluginPath: string, configPath: string): string[] {
  return [
    "Add to containerd's config (config.toml), then restart containerd:",
    '  [plugins."io.containerd.nri.v1.nri"]',
    "    disable = false",
    `    plugin_path = ${JSON.stringify(resolve(pluginPath))}`,
    `    plugin_config_path = ${JSON.stringify(resolve(configPath))}`,
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
