import type { Settings } from "../config/settings.ts";
import type { Logger, Sink } from "../log/logger.ts";
import { FileSink, StderrSink } from "../log/sinks.ts";

/** Where a pre-launched plugin logs when its .conf names no file. */
export const FALLBACK_LOG_FILE = "/var/log/prefetchfiles-nri-plugin.log";

/**
 * Points the logger at the sinks the settings ask for: the .conf's log_file
 * when set; otherwise stderr when started by hand, or the fallback file when
 * the runtime launched us (our stderr then goes to /dev/null). A file that
 * cannot be opened is reported on the sinks that remain.
 */
export function applyLogSettings(
  log: Logger,
  settings: Settings,
  prelaunched: boolean,
  current: Sink[],
): Sink[] {
  log.level = settings.logLevel;
  const sinks: Sink[] = prelaunched ? [] : [reuse(current, StderrSink) ?? new StderrSink()];
  const path = settings.logFile ?? (prelaunched ? FALLBACK_LOG_FILE : undefined);
  let problem: string | undefined;
  if (path) {
    try {
      sinks.push(reuseFile(current, path) ?? new FileSink(path));
    } catch (error) {
      problem = `cannot open log file ${path}: ${(error as Error).message}`;
    }
  }
  log.setSinks(sinks);
  if (problem) log.error(problem);
  return sinks;
}

function reuse<T extends Sink>(sinks: Sink[], type: new (...args: never[]) => T): T | undefined {
  return sinks.find((sink): sink is T => sink instanceof type);
}

function reuseFile(sinks: Sink[], path: string): FileSink | undefined {
  return sinks.find((sink): sink is FileSink => sink instanceof FileSink && sink.path === path);
}
