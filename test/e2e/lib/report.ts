// One line per step, with how long it took, and a closing count.

/** Thrown by a step that cannot run on this machine; the message is the exact reason. */
export class Skip extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "Skip";
  }
}

export interface StepContext {
  /** Adds a short remark to the step's line, e.g. "cached" or a version. */
  note(text: string): void;
}

export class Reporter {
  passed = 0;
  failed = 0;
  skipped = 0;

  constructor(
    private readonly prefix = "e2e",
    private readonly write: (line: string) => void = (line) => console.log(line),
  ) {}

  /** Runs one step and prints `ok`, `FAIL` or `skip` with its duration. */
  async step<T>(title: string, action: (context: StepContext) => Promise<T>): Promise<T> {
    const notes: string[] = [];
    const started = performance.now();
    try {
      const result = await action({ note: (text) => notes.push(text) });
      this.passed++;
      this.print("ok", title, started, notes);
      return result;
    } catch (error) {
      const skipping = error instanceof Skip;
      if (skipping) this.skipped++;
      else this.failed++;
      this.print(skipping ? "skip" : "FAIL", title, started, notes);
      throw error;
    }
  }

  /** The closing line, in the plain form CI reads. */
  summary(): string {
    const skipped = this.skipped ? `, ${this.skipped} skipped` : "";
    return `${this.prefix}: ${this.passed} passed, ${this.failed} failed${skipped}`;
  }

  private print(status: string, title: string, started: number, notes: string[]): void {
    const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
    const detail = notes.length ? ` (${notes.join("; ")})` : "";
    this.write(`[${this.prefix}] ${status.padEnd(4)} ${seconds}s  ${title}${detail}`);
  }
}
