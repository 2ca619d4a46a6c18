import type { Level, Sink } from "../../src/log/logger.ts";

/** A log sink that keeps every line, for assertions on what was logged. */
export class CapturingSink implements Sink {
  readonly lines: string[] = [];

  write(line: string, _level: Level): void {
    this.lines.push(line);
  }

  /** The first line whose msg is exactly `msg`. */
  find(msg: string): string | undefined {
    return this.lines.find((line) => line.includes(`msg=${JSON.stringify(msg)}`));
  }
}
