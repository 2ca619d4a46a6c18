import { describe, expect, test } from "bun:test";
import { formatLine } from "../../src/log/logger.ts";

const AT = new Date("2026-12-04T12:00:00Z");

describe("formatLine", () => {
  test("key=value pairs, quoted only where needed", () => {
    expect(formatLine("info", "prefetch list forwarded",
      { pod: "default/web", images: ["a:1", "b:2"], bytes: 166, note: "two words" }, AT))
      .toBe('time=2026-12-04T12:00:00.000Z level=info msg="prefetch list forwarded" ' +
        'pod=default/web images=a:1,b:2 bytes=166 note="two words"');
  });

  test("a list shows its first 20 items and how many more there are", () => {
    const images = Array.from({ length: 5000 }, (_, i) => `docker.io/library/app${i}:latest`);
    const line = formatLine("info", "m", { images }, AT);
    expect(line).toContain("docker.io/library/app19:latest,… (4980 more)");
    expect(line).not.toContain("app20:");
    expect(line.length).toBeLessThan(1000);
  });

  test("a long value is cut at 2048 characters, saying how much was left out", () => {
    const line = formatLine("warn", "m", { error: "x".repeat(300_000) }, AT);
    expect(line).toContain(`${"x".repeat(2048)}… (297952 more characters)`);
    expect(line.length).toBeLessThan(2200);
  });

  test("escapes count against the bound, and a cut field is still one quoted string", () => {
    const line = formatLine("warn", "m", { prefetch: `/tmp/${"\u0001".repeat(30_000)}` }, AT);
    expect(line.length).toBeLessThan(2200);
    const written = line.slice(line.indexOf("prefetch=") + "prefetch=".length);
    const value = JSON.parse(written) as string;
    expect(value).toStartWith("/tmp/\u0001");
    expect(value).toEndWith("… (29660 more characters)");
  });
});
