// Runs the end-to-end test (test/e2e/run.ts) as part of `bun test`. It needs root, overlayfs
// and cgroups; on a machine without them it is skipped, and the skip names what is missing.
import { expect, test } from "bun:test";
import { runE2E } from "./e2e.ts";
import { machineProblem } from "./lib/isolation.ts";

/** Room for a cold run: every component built from source on 2 cores. */
const COLD_BUILD_BUDGET_MS = 40 * 60_000;

const problem = machineProblem();
const name = "containerd launches the plugin and it forwards each pod's prefetch list";

test.skipIf(problem !== undefined)(problem ? `${name} (skipped: ${problem})` : name, async () => {
  const result = await runE2E();
  console.log(result.summary);
  // This machine passed the checks above, so a skip found later is a failure too.
  if (result.status !== "passed") throw new Error(`e2e ${result.status}: ${result.reason}`);
  expect(result.status).toBe("passed");
}, COLD_BUILD_BUDGET_MS);
