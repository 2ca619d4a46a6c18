/** Readings of one process from /proc. */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second for utime/stime (USER_HZ; 100 on Linux x86-64 and arm64). */
export const CLOCK_TICKS = clockTicks();

function clockTicks(): number {
  const run = Bun.spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
  const value = Number(run.stdout.toString().trim());
  return Number.isFinite(value) && value > 0 ? value : 100;
}

/** User plus system CPU time of the whole process (all threads), in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS;
}

/** Resident set size in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  return statusKiB(pid, "VmRSS");
}

/** One "<field>: N kB" line of /proc/<pid>/status, e.g. VmRSS, RssAnon, RssFile. */
export function statusKiB(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]);
}

/** Number of open file descriptors. */
export function fdCount(pid: number | "self"): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Waits until this process has at most `limit` fds open, or `timeoutMs` passed. */
export async function waitOwnFds(limit: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = fdCount("self");
  while (count > limit && Date.now() < deadline) {
    await Bun.sleep(100);
    count = fdCount("self");
  }
  return count;
}
