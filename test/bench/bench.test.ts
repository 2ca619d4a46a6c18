// The benchmark in tiny mode: proves that the script runs end to end (harness
// in its private mount namespace, our plugin, the Go plugin and the floor,
// report, chart). It asserts no goal; the numbers of a tiny run mean nothing.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "./bench.ts";

const out = mkdtempSync(join(tmpdir(), "bench-tiny-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// The private mount namespace the Go plugin must run in needs root.
const root = process.getuid?.() === 0;

const NAME = "bench --tiny writes the table, the goals and the chart";
const title = root ? NAME : `${NAME} (skipped: needs root for the private mount namespace)`;

test.skipIf(!root)(title, async () => {
  const lines: string[] = [];
  const result = await main({ tiny: true, outDir: out, log: (line) => lines.push(line) });
  const markdown = readFileSync(join(out, "results.md"), "utf8");
  expect(markdown).toBe(result.markdown);
  expect(markdown).toContain("| measure | ours | Go plugin | ours/Go | do-nothing floor |");
  expect(markdown).toContain("## Goals");
  expect(result.goals.length).toBe(10);
  for (const goal of result.goals) expect(typeof goal.met).toBe("boolean");
  // Every trial ran and every annotated pod start reached the snapshotter.
  expect(result.trials.map((t) => `${t.contender}@${t.version}`)).toEqual([
    "ours@v0.8.0", "go@v0.8.0", "floor@v0.8.0", "ours@v0.12.2", "floor@v0.12.2"]);
  for (const t of result.trials) expect(t.errors, lines.join("\n")).toEqual([]);
  if (Bun.which("rsvg-convert")) expect(existsSync(join(out, "latency.png"))).toBe(true);
  // The Go plugin's fixed config path exists only inside the namespace.
  expect(markdown).toContain("checked unchanged after it");
}, 300_000); // the first run also builds the Go plugin (about 80 s); later runs take 20-30 s
