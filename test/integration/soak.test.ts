// The soak's short form: delivery and order only; `npm run soak` adds timings.
import { expect, test } from "bun:test";
import { soak } from "../soak/soak.ts";

test("1,000 mixed pod starts against a flaky snapshotter: every list once, in order", async () => {
  const result = await soak(1000, false);
  expect(result.outOfOrder).toEqual([]);
  expect(result.delivered).toBe(result.expected);
  expect(result.expected).toBeGreaterThan(500);
  expect(result.failedPods).toBe(0);
  expect(result.dropped).toBe(0);
}, 240_000);
