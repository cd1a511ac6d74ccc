import { expect } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { capacityNow } from "../../src/catalog/snapshots.js";
import { strata } from "../support/cli.js";
import { bruteCapacity } from "./capacity-brute.js";
import { bruteDu, catalogRows, duArgs, duRows, type Request } from "./du-brute.js";

/** du's questions that read every summary table: totals, a directory's children, by class, owner, state, location, tag. */
export const SUMMARY_REQUESTS: Request[] = [
  { operands: [] },
  { operands: [{ location: "scratch", path: "" }], depth: 1 },
  { operands: [{ location: "scratch", path: "d1" }], by: "class" },
  ...["owner", "state", "location", "tag:project"].map((by) => ({ operands: [], by })),
];

/**
 * `strata du --json` for each request, and the capacity summaries metrics read, held against the
 * same sums computed in plain TypeScript from every files and replicas row (`step` names the
 * moment in messages).
 */
export async function expectSummariesMatchRows(url: string, cwd: string, step: string): Promise<void> {
  const rows = await catalogRows(url);
  for (const request of SUMMARY_REQUESTS) {
    const du = await strata(["--catalog", url, ...duArgs(request)], { cwd });
    expect(duRows(du), `${step}: ${duArgs(request).join(" ")}`).toEqual(bruteDu(rows, request));
  }
  const catalog = await openCatalog(url);
  try {
    const now = await capacityNow(catalog);
    const names = new Map(rows.locations.map((l) => [l.id, l.name]));
    const capacity = new Map(
      now.map((r) => [
        JSON.stringify([names.get(r.location_id), r.storage_class, r.state]),
        { files: r.files, logicalBytes: r.logical_bytes, storedBytes: r.stored_bytes },
      ]),
    );
    expect(capacity, step).toEqual(bruteCapacity(rows));
  } finally {
    await catalog.close();
  }
}
