// Runs the end-to-end test (test/e2e/run.ts) as part of `bun test`. It needs root; on a
// machine that cannot run containers it reports itself skipped with the reason.
import { expect, test } from "bun:test";
import { runE2E } from "./e2e.ts";

/** Room for a cold run: every component built from source on 2 cores. */
const COLD_BUILD_BUDGET_MS = 40 * 60_000;

test("containerd launches the plugin and it forwards each pod's prefetch list", async () => {
  const result = await runE2E();
  console.log(result.summary);
  if (result.status === "skipped") console.log(`e2e skipped: ${result.reason}`);
  if (result.status === "failed") throw new Error(`e2e failed: ${result.reason}`);
  expect(result.status).toBeOneOf(["passed", "skipped"]);
}, COLD_BUILD_BUDGET_MS);
