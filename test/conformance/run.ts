/** npm run conformance: every NRI release a containerd ships, in every launch mode. */
import { NRI_VERSIONS } from "../harness/harness.ts";
import { modesFor, type Row, runCase, table } from "./matrix.ts";

const rows: Row[] = [];
for (const version of NRI_VERSIONS) {
  for (const mode of modesFor(version)) {
    const row = await runCase(version, mode);
    console.error(`${row.nri} ${row.mode}: ${row.result} ${row.detail}`);
    rows.push(row);
  }
}
console.log(table(rows));
process.exit(rows.every((row) => row.result !== "FAIL") ? 0 : 1);
