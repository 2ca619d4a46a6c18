// Running commands for the end-to-end test: one helper that waits and checks the exit
// status, and one that starts a long-lived daemon with its output sent to a log file.
import { closeSync, openSync } from "node:fs";

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Kill the command after this long; the default suits builds, not quick checks. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero or timed out; the message carries its stderr tail. */
export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const why = exitCode === null ? "timed out" : `exited ${exitCode}`;
    super(`${argv.join(" ")} ${why}\n${tail(stderr || stdout, 40)}`);
    this.name = "CommandError";
  }
}

/** Runs argv to completion and returns its output; throws CommandError unless it exits 0. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env ?? (process.env as Record<string, string>),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 20 * 60_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  if (timedOut || code !== 0) {
    throw new CommandError(argv, timedOut ? null : code, stdout, stderr);
  }
  return { stdout, stderr };
}

/** Runs argv and parses its stdout as JSON. */
export async function runJson<T>(argv: string[], options: RunOptions = {}): Promise<T> {
  const { stdout } = await run(argv, options);
  return JSON.parse(stdout) as T;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number>;
  /** Sends SIGTERM, waits up to graceMs, then SIGKILL. */
  stop(graceMs?: number): Promise<StopResult>;
}

export interface StopResult {
  code: number;
  /** It had to be killed: SIGTERM did not end it within the grace time. */
  forced: boolean;
}

/** Starts a long-running process with stdin closed and stdout+stderr appended to logFile. */
export function startDaemon(
  name: string,
  argv: string[],
  logFile: string,
  options: RunOptions = {},
): Daemon {
  const fd = openSync(logFile, "a");
  const child = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env ?? (process.env as Record<string, string>),
    stdin: "ignore",
    stdout: fd,
    stderr: fd,
  });
  closeSync(fd);
  const stop = async (graceMs = 10_000): Promise<StopResult> => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return { code: await child.exited, forced: false };
    }
    let forced = false;
    child.kill("SIGTERM");
    const timer = setTimeout(() => {
      forced = true;
      child.kill("SIGKILL");
    }, graceMs);
    const code = await child.exited;
    clearTimeout(timer);
    return { code, forced };
  };
  return { name, pid: child.pid, logFile, exited: child.exited, stop };
}

/** The last `lines` lines of text. */
export function tail(text: string, lines: number): string {
  const all = text.trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}
