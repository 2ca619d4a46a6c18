import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { Level, Sink } from "./logger.ts";

/** Lines to standard error, for a plugin started by hand. */
export class StderrSink implements Sink {
  write(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}

/** Lines appended to a file, created with its folder if missing. */
export class FileSink implements Sink {
  private fd: number;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "a", 0o640);
  }

  write(line: string): void {
    try {
      writeSync(this.fd, `${line}\n`);
    } catch {
      // A full disk must not take the plugin down; the line is lost.
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Holds lines until the real sinks are known (a pre-launched plugin learns
 * its log file from Configure), then hands them over in order.
 */
export class PendingSink implements Sink {
  private lines: [string, Level][] = [];

  write(line: string, level: Level): void {
    if (this.lines.length < 1000) this.lines.push([line, level]);
  }

  flushTo(sinks: Sink[]): void {
    for (const [line, level] of this.lines) for (const sink of sinks) sink.write(line, level);
    this.lines = [];
  }
}
