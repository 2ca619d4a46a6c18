/** Log levels, least to most severe. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
export type Level = (typeof LEVELS)[number];

export type FieldValue = string | number | boolean | bigint | null | undefined | readonly string[];
export type Fields = Record<string, FieldValue>;

/** Somewhere a finished log line goes (stderr, a file, syslog). */
export interface Sink {
  write(line: string, level: Level): void;
  close?(): void;
}

/** The level and sinks shared by a logger and every logger derived from it. */
class Output {
  constructor(public sinks: Sink[], public level: Level) {}
}

/**
 * A structured, leveled logger writing one key=value line per event:
 *   time=2026-12-04T15:51:14.123Z level=info msg="pod forwarded" pod=default/web
 * Fields given to `with` are repeated on every line of the derived logger.
 */
export class Logger {
  private constructor(private readonly output: Output, private readonly context: Fields) {}

  static create(sinks: Sink[], level: Level = "info"): Logger {
    return new Logger(new Output(sinks, level), {});
  }

  /** A logger that writes nowhere (for tests and library use). */
  static discard(): Logger {
    return Logger.create([]);
  }

  with(fields: Fields): Logger {
    return new Logger(this.output, { ...this.context, ...fields });
  }

  get level(): Level {
    return this.output.level;
  }

  set level(level: Level) {
    this.output.level = level;
  }

  /** Replaces where lines go, for this logger and every one derived from it. */
  setSinks(sinks: Sink[]): void {
    for (const sink of this.output.sinks) if (!sinks.includes(sink)) sink.close?.();
    this.output.sinks = sinks;
  }

  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) >= LEVELS.indexOf(this.output.level);
  }

  debug(msg: string, fields?: Fields): void {
    this.log("debug", msg, fields);
  }

  info(msg: string, fields?: Fields): void {
    this.log("info", msg, fields);
  }

  warn(msg: string, fields?: Fields): void {
    this.log("warn", msg, fields);
  }

  error(msg: string, fields?: Fields): void {
    this.log("error", msg, fields);
  }

  private log(level: Level, msg: string, fields?: Fields): void {
    if (!this.enabled(level) || this.output.sinks.length === 0) return;
    const line = formatLine(level, msg, { ...this.context, ...fields });
    for (const sink of this.output.sinks) sink.write(line, level);
  }
}

/** Formats one line; exported for sinks and tests. */
export function formatLine(level: Level, msg: string, fields: Fields, now = new Date()): string {
  let line = `time=${now.toISOString()} level=${level} msg=${quote(msg)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${key}=${field(value)}`;
  }
  return line;
}

/** Bounds on one field, so a 256 KiB annotation cannot make a 256 KiB line. */
const MAX_LIST_ITEMS = 20;
const MAX_VALUE_CHARS = 2048;

function formatValue(value: Exclude<FieldValue, undefined>): string {
  if (value === null) return "null";
  if (!Array.isArray(value)) return String(value);
  const shown = value.slice(0, MAX_LIST_ITEMS).join(",");
  const more = value.length - MAX_LIST_ITEMS;
  return more > 0 ? `${shown},… (${more} more)` : shown;
}

/**
 * The field as written, at most about MAX_VALUE_CHARS long. The text is cut
 * before it is quoted, counting what each character costs once escaped, so
 * escapes stay whole and control characters cannot inflate the line.
 */
function field(value: Exclude<FieldValue, undefined>): string {
  const text = formatValue(value);
  const written = quote(text);
  if (written.length <= MAX_VALUE_CHARS) return written;
  let cost = 0;
  let end = 0;
  for (; end < text.length; end++) {
    cost += JSON.stringify(text[end]).length - 2;
    if (cost > MAX_VALUE_CHARS) break;
  }
  return quote(`${text.slice(0, end)}… (${text.length - end} more characters)`);
}

function quote(text: string): string {
  return text === "" || /[\s"=\\]|[^\x20-\x7e]/.test(text) ? JSON.stringify(text) : text;
}

/** An error's message, for a log field. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
