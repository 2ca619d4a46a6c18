// The generated protobuf-es code is committed; this proves it matches proto/.
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "../..");

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

test("src/gen is what proto/ generates today", () => {
  const out = mkdtempSync(join(tmpdir(), "gen-"));
  try {
    const template = readFileSync(join(root, "proto/buf.gen.yaml"), "utf8")
      .replace("out: src/gen", `out: ${out}`);
    const run = Bun.spawnSync(
      [join(root, "node_modules/.bin/buf"), "generate", "proto", "--template", template],
      { cwd: root, stderr: "pipe" },
    );
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
    const generated = files(out);
    expect(generated).toEqual(files(join(root, "src/gen")));
    for (const file of generated) {
      const fresh = readFileSync(join(out, file), "utf8");
      expect(readFileSync(join(root, "src/gen", file), "utf8")).toBe(fresh);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 60_000);
