import { lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, type Stats } from "node:fs";
import { join } from "node:path";
import { fileProblem } from "./failure.ts";

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
const STAGING_PREFIX = ".prefetchfiles-nri-plugin.staging-";
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
 * Removes what installs that are no longer running left in `dir`: staging
 * folders whose maker is gone, and the files earlier versions staged in;
 * says what it removed, and what it kept and why.
 */
export function removeLeftovers(dir: string, command: "install" | "uninstall"): string[] {
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
export function runningInstall(dir: string): { pid: number; dir: string } | undefined {
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

/** Whether `entry` is a name install stages under (now or in earlier versions). */
export function isLeftover(entry: string): boolean {
  return STAGING.test(entry) || OLD_STAGING.test(entry);
}
