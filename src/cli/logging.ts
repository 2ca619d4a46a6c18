import type { Settings } from "../config/settings.ts";
import { errorText, type Logger, type Sink } from "../log/logger.ts";
import { FileSink, StderrSink } from "../log/sinks.ts";
import { SyslogSink } from "../log/syslog.ts";

/** Where a launched plugin logs when syslog cannot be reached. */
export const FALLBACK_LOG_FILE = "/var/log/prefetchfiles-nri-plugin.log";

/**
 * Points the logger at the sinks the settings ask for. Started by hand:
 * stderr. Launched by the runtime (stderr goes to /dev/null): syslog when it
 * can be reached. Either way, also the .conf's log_file when it names one;
 * and a launched plugin with neither logs to the fallback file. Sinks already
 * open are kept. Returns the sinks, and what kept a destination from opening
 * (for the caller to log once the lines held before are out).
 */
export function applyLogSettings(
  log: Logger,
  settings: Settings,
  prelaunched: boolean,
  current: Sink[],
): { sinks: Sink[]; problems: string[] } {
  log.level = settings.logLevel;
  const problems: string[] = [];
  const open = (make: () => Sink) => {
    try {
      return make();
    } catch (error) {
      problems.push(errorText(error));
      return undefined;
    }
  };
  const sinks: (Sink | undefined)[] = [];
  if (!prelaunched) sinks.push(current.find((s) => s instanceof StderrSink) ?? new StderrSink());
  if (prelaunched && settings.syslogSocket !== "") {
    sinks.push(open(() =>
      current.find((s) => s instanceof SyslogSink && s.path === settings.syslogSocket) ??
        new SyslogSink(settings.syslogSocket)));
  }
  if (settings.logFile) sinks.push(open(() => fileSink(current, settings.logFile!)));
  const chosen = sinks.filter((sink): sink is Sink => sink !== undefined);
  if (prelaunched && chosen.length === 0) {
    const fallback = open(() => fileSink(current, FALLBACK_LOG_FILE));
    if (fallback) chosen.push(fallback); // nothing else took: never log nowhere
  }
  log.setSinks(chosen);
  return { sinks: chosen, problems };
}

function fileSink(current: Sink[], path: string): Sink {
  return current.find((s) => s instanceof FileSink && s.path === path) ?? new FileSink(path);
}
