import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { takeSnapshot } from "../../src/catalog/snapshots.js";
import { type CapacityPoint, capacitySeries } from "../../src/query/series.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { expectExit, workspaceWith } from "../support/workspace.js";
import { bruteCapacity, type Key, type Totals } from "./capacity-brute.js";
import { catalogRows } from "./du-brute.js";

/** Capacity snapshots against the catalog summed row by row (capacity-brute.ts). */

/** The points of the latest snapshot, keyed as the brute force keys them. */
function latest(points: CapacityPoint[]): Map<Key, Totals> {
  const last = points.at(-1)?.at;
  return new Map(
    points
      .filter((p) => p.at === last)
      .map((p) => [
        JSON.stringify([p.location, p.class, p.state]),
        { files: p.files, logicalBytes: p.logicalBytes, storedBytes: p.storedBytes },
      ]),
  );
}

function workspace(catalog: string) {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 12; i++) files[`${i % 2 === 0 ? "old" : "new"}/f${i}.dat`] = Buffer.alloc(1000 * (i + 1), i);
  return workspaceWith(
    "strata-series-",
    [
      `catalog: ${catalog}`,
      "locations:",
      "  scratch:",
      "    url: ./tree",
      "  archive:",
      "    url: local:store",
      "policies:",
      "  - name: release-old",
      "    from: [scratch]",
      '    match: { path: ["old/**"] }',
      "    place: [{ to: archive, class: STANDARD_IA }]",
      "    then: release",
    ],
    files,
  );
}

describe.each(CATALOG_KINDS)("capacity snapshots on %s", (kind) => {
  it("are taken after each scan and run, and equal the catalog summed row by row", async () => {
    const url = await freshCatalogUrl(kind, tempDir("strata-series-db-"));
    const ws = workspace(url);
    const started = Date.now();
    expectExit(await ws.run("scan", "scratch"), "scan");
    expectExit(await ws.run("sync", "scratch", "archive"), "sync");
    expectExit(await ws.run("apply", "--policy", "release-old"), "apply");

    const catalog = await openCatalog(url);
    try {
      const points = await capacitySeries(catalog, { since: started });
      const times = [...new Set(points.map((p) => p.at))];
      // scan, sync's run, apply's scan-free run: at least three snapshots, each a full picture.
      expect(times.length).toBeGreaterThanOrEqual(3);
      const rows = await catalogRows(url);
      expect(latest(points)).toEqual(bruteCapacity(rows));
      // The released files and the archive's copies are both there, with their own states.
      const states = [...latest(points).keys()].map((key) => JSON.parse(key).filter((_: string, i: number) => i !== 1));
      expect(states).toEqual(
        expect.arrayContaining([
          ["scratch", "released"],
          ["archive", "present"],
        ]),
      );

      // Replica updates and deletes move the summary too: one copy lost, one forgotten.
      const [first, second] = rows.replicas;
      if (!first || !second) throw new Error("sync made no replicas");
      await catalog.db.updateTable("replicas").set({ state: "lost" }).where("id", "=", first.id).execute();
      await catalog.db.deleteFrom("replicas").where("id", "=", second.id).execute();
      await takeSnapshot(catalog, Date.now() + 1000);
      const after = await capacitySeries(catalog, { since: started });
      expect(latest(after)).toEqual(bruteCapacity(await catalogRows(url)));
      const lost = [...latest(after)].filter(([key]) => JSON.parse(key)[2] === "lost");
      expect(lost.map(([, t]) => t.files)).toEqual([1]);

      // since filters: nothing is later than the last snapshot.
      expect(await capacitySeries(catalog, { since: Date.now() + 5000 })).toEqual([]);
    } finally {
      await catalog.close();
    }
  });
});
