// The conformance matrix (npm run conformance) as tests: every NRI release a
// containerd ships, each launch mode, the delivery path that release uses.
import { afterAll, describe, expect, test } from "bun:test";
import { NRI_VERSIONS } from "../harness/harness.ts";
import { expectedDelivery, modesFor, type Row, runCase, table } from "../conformance/matrix.ts";

const rows: Row[] = [];
afterAll(() => console.log(`\nNRI conformance\n${table(rows)}\n`));

for (const version of NRI_VERSIONS) {
  describe(`NRI ${version.version} (containerd ${version.containerd})`, () => {
    for (const mode of modesFor(version)) {
      test(`${mode}: forwards via ${expectedDelivery(version, mode)}`, async () => {
        const row = await runCase(version, mode);
        rows.push(row);
        expect(row.result, row.detail).toBe("pass");
      }, 300_000);
    }
  });
}
