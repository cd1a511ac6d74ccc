import { utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { tierProfiles } from "../../src/report/age-profile.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

const DAY_MS = 86_400_000;
const PERIOD_US = 30 * DAY_MS * 1000;
/** docs/formats.md's bands, by whole 30-day periods before the current one. */
const BANDS: [string, number][] = [
  ["< 1 month", 1],
  ["1-3 months", 3],
  ["3-6 months", 6],
  ["6-12 months", 12],
  ["1-2 years", 24],
  ["2-5 years", 60],
  ["5+ years", Number.POSITIVE_INFINITY],
];

function bandOf(atimeMs: number, nowMs: number): string {
  const elapsed = Math.floor((nowMs * 1000) / PERIOD_US) - Math.floor((atimeMs * 1000) / PERIOD_US);
  return (BANDS.find(([, periods]) => elapsed < periods) as [string, number])[0];
}

/** Four files, each read last a different number of days ago, of different sizes. */
const FILES = [
  { path: "new/a.dat", size: 1000, daysAgo: 5 },
  { path: "old/b.dat", size: 20_000, daysAgo: 100 },
  { path: "old/c.dat", size: 300_000, daysAgo: 400 },
  { path: "old/d.dat", size: 7, daysAgo: 1500 },
];

describe.each(CATALOG_KINDS)("the tier map's age profile on %s", (kind) => {
  it("counts each location's files and each tier's copies per band of last access, from the catalog's summaries", async () => {
    const dir = tempDir("strata-age-");
    const catalogUrl = await freshCatalogUrl(kind, dir);
    const config = join(dir, "strata.yaml");
    writeFileSync(
      config,
      [
        `catalog: ${catalogUrl}`,
        "locations:",
        "  scratch:",
        "    url: ./tree",
        "  archive:",
        "    url: local:store",
        "    class: STANDARD_IA",
        "",
      ].join("\n"),
    );
    const tree = join(dir, "tree");
    writeTree(tree, Object.fromEntries(FILES.map((f) => [f.path, Buffer.alloc(f.size, 1)])));
    const atimes = new Map<string, number>();
    for (const f of FILES) {
      const atime = Date.now() - f.daysAgo * DAY_MS;
      atimes.set(f.path, atime);
      utimesSync(join(tree, f.path), atime / 1000, Date.now() / 1000 - 2 * 365 * 86_400);
    }
    const run = (...args: string[]) => strata(["--config", config, ...args], { cwd: dir });
    expect((await run("scan", "scratch")).code).toBe(0);
    expect((await run("sync", "scratch", "archive")).code).toBe(0);

    const now = Date.now();
    const expected: Record<string, { objects: number; bytes: number }> = {};
    for (const f of FILES) {
      const band = bandOf(atimes.get(f.path) as number, now);
      const sums = expected[band] ?? { objects: 0, bytes: 0 };
      expected[band] = { objects: sums.objects + 1, bytes: sums.bytes + f.size };
    }
    const total = { objects: 4, bytes: 1000 + 20_000 + 300_000 + 7 };

    const catalog = await openCatalog(catalogUrl);
    try {
      expect(await tierProfiles(catalog, now)).toEqual([
        { location: "archive", class: "STANDARD_IA", holds: "copies", ...total, bands: expected },
        { location: "scratch", class: "", holds: "files", ...total, bands: expected },
      ]);
    } finally {
      await catalog.close();
    }
  });
});
