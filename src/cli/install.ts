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
  readFileSync,
  readlinkSync,
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
 * Folders install makes a file in before renaming it into place (the
 * executable in plugin_path, the .conf in plugin_config_path). containerd
 * launches every executable file directly in plugin_path, and refuses to
 * start any plugin when one of them is not named NN-name, but it never looks
 * inside a folder: neither a half-copied file nor an executable one under
 * another name is ever seen. The name says which install made the folder
 * (its PID namespace, pid and start time, so that a pid used again by
 * another process is no match), for another install to tell whether it is
 * still at work: `.prefetchfiles-nri-plugin.staging-<ns>-<pid>-<start>-XXXXXX`.
 */
const STAGING_PREFIX = `.${PLUGIN_BASENAME}.staging-`;
/** The maker's fields are missing from names made by earlier versions. */
const STAGING = /^\.prefetchfiles-nri-plugin\.staging-(?:([0-9]+)-([0-9]+)-([0-9]+)-)?.{6}$/;
/** Where earlier versions staged the copy, a name containerd would launch. */
const OLD_STAGING = /^[0-9]{2}-prefetchfiles-nri-plugin\.new$/;
/** How long unchanged a staging folder whose maker cannot be checked is kept. */
const STALE_MS = 10 * 60_000;

/**
 * The start of a staging folder's name for one made by process `pid` (this
 * one by default); unknown fields are 0, which no check takes for a match.
 */
export function stagingPrefix(pid = process.pid): string {
  return `${STAGING_PREFIX}${pidNamespace() ?? 0}-${pid}-${startTime(pid) ?? 0}-`;
}

/** This process's PID namespace, as /proc/self/ns/pid names it ("pid:[4026531836]"). */
function pidNamespace(): string | undefined {
  try {
    // /proc from another namespace (a container's host /proc) would name others.
    if (statFields("self")?.[0] !== String(process.pid)) return undefined;
    return /^pid:\[([0-9]+)\]$/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
  } catch {
    return undefined;
  }
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function startTime(pid: number | "self"): string | undefined {
  try {
    return statFields(pid)?.[21];
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/stat's fields; the name (field 2) may hold spaces and parentheses. */
function statFields(pid: number | "self"): string[] | undefined {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const close = stat.lastIndexOf(")");
  const open = stat.indexOf(" (");
  if (open < 0 || close < open) return undefined;
  return [stat.slice(0, open), stat.slice(open + 2, close),
    ...stat.slice(close + 2).trim().split(" ")];
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

/**
 * Removes what installs that are no longer running left in `dir`: staging
 * folders whose maker is gone, and the files earlier versions staged in;
 * says what it removed, and what it kept and why.
 */
function removeLeftovers(dir: string, command: "install" | "uninstall"): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const out: string[] = [];
  const namespace = pidNamespace();
  for (const entry of entries) {
    if (!isLeftover(entry)) continue;
    const path = join(dir, entry);
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // gone since the listing
    }
    let why: string;
    if (OLD_STAGING.test(entry)) {
      // An old staging name that is a folder was not made by install: leave it.
      if (stat.isDirectory()) continue;
      why = "left by an interrupted install";
    } else {
      if (!stat.isDirectory()) continue; // install only ever makes folders by that name
      const maker = makerState(entry, namespace, path);
      if (!maker) continue; // gone since the listing: its install finished
      if (maker.running) {
        out.push(command === "install"
          ? `kept ${path}: another install (pid ${maker.pid}) is using it; of installs run ` +
            "at once, the last to finish puts its copy in place"
          : `warning: ${path} belongs to an install (pid ${maker.pid}) under way; it puts ` +
            "the plugin back when it finishes");
        continue;
      }
      if (maker.pid === undefined && !maker.stale) {
        out.push(`kept ${path}: its install cannot be checked from here (another PID ` +
          "namespace, or an earlier version); install and uninstall remove it once unchanged " +
          `for ${STALE_MS / 60_000} minutes`);
        continue;
      }
      why = maker.pid === undefined
        ? "left by an install that cannot be checked from here, unchanged for over " +
          `${STALE_MS / 60_000} minutes`
        : `left by an install (pid ${maker.pid}) that is no longer running`;
    }
    try {
      rmSync(path, { recursive: stat.isDirectory(), force: true });
      out.push(`removed ${path}, ${why}`);
    } catch (error) {
      out.push(`warning: cannot remove ${path} (${why}): ${fileProblem(error)}`);
    }
  }
  return out;
}

/**
 * Whether the install that made staging folder `entry` still runs. Its pid
 * is known (`pid` set) when it ran in this PID namespace; else it is taken as
 * gone once nothing in the folder changed for STALE_MS (`stale`).
 */
function makerState(entry: string, namespace: string | undefined, path: string):
  { running: boolean; pid?: number; stale?: boolean } | undefined {
  const [, ns, pidText, start] = STAGING.exec(entry) ?? [];
  const pid = Number(pidText);
  if (namespace !== undefined && ns === namespace && pid > 0 && start !== "0") {
    return { running: isRunning(pid, start!), pid };
  }
  const changed = lastChange(path);
  return changed === undefined ? undefined
    : { running: false, stale: Date.now() - changed > STALE_MS };
}

/** Whether process `pid` is the one that started at `start`; unsure counts as running. */
function isRunning(pid: number, start: string): boolean {
  const now = startTime(pid);
  return now === undefined ? signalable(pid) : now === start;
}

/** Whether a process `pid` exists, for when /proc hides it (hidepid). */
function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * The latest change to a folder or anything directly in it, in ms since the
 * epoch; undefined when the folder is gone.
 */
function lastChange(folder: string): number | undefined {
  let latest: number;
  let entries: string[];
  try {
    latest = lstatSync(folder).mtimeMs;
    entries = readdirSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  for (const entry of entries) {
    try {
      latest = Math.max(latest, lstatSync(join(folder, entry)).mtimeMs);
    } catch {
      // gone since the listing
    }
  }
  return latest;
}

/** An install still at work in `dir` (one of its staging folders, and its maker alive). */
function runningInstall(dir: string): { pid: number; dir: string } | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return undefined; // no folder, no install at work there
  }
  const namespace = pidNamespace();
  for (const entry of entries) {
    if (!STAGING.test(entry)) continue;
    const maker = makerState(entry, namespace, join(dir, entry));
    if (maker?.running && maker.pid !== undefined) return { pid: maker.pid, dir };
  }
  return undefined;
}

function isLeftover(entry: string): boolean {
  return STAGING.test(entry) || OLD_STAGING.test(entry);
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
