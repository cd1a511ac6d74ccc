import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Comparison, CostNow, Forecast, MigrationEstimate } from "../../src/report/model.js";
import { expectUsd, GIB, KIB } from "../cost/usd.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/*
 * Prices copied by hand: scratch at its configured $20 per TB-month (TB = 1024 GB); the archive
 * is an embedded store priced as Amazon S3 (`price: { profile: aws }`), STANDARD_IA at $0.0125
 * per GB-month with 128 KiB billed at least per object (https://aws.amazon.com/s3/pricing/,
 * read 2026-11-24).
 */
const SCRATCH_PER_GB = 20 / 1024;
const S3_STANDARD_IA = 0.0125;
const SMALL = 10 * KIB; // billed as 128 KiB in STANDARD_IA
const LARGE = 300_000;

function workspace(catalog: string) {
  const dir = tempDir("strata-cost-");
  writeFileSync(
    join(dir, "strata.yaml"),
    [
      `catalog: ${catalog}`,
      "locations:",
      "  scratch:",
      "    url: ./tree",
      "    price: { perTBMonth: 20 }",
      "  archive:",
      "    url: local:store",
      "    price: { profile: aws }",
      "",
    ].join("\n"),
  );
  writeTree(join(dir, "tree"), { "small.dat": Buffer.alloc(SMALL, 1), "run/large.dat": Buffer.alloc(LARGE, 2) });
  return { dir, run: (...args: string[]) => strata(args, { cwd: dir }) };
}

function expectExit(result: CliResult, code: number, what: string): void {
  expect(`${what}: exit ${result.code}\n${code === 0 ? result.stderr : ""}`).toBe(`${what}: exit ${code}\n`);
}

describe.each(CATALOG_KINDS)("strata cost and strata cost forecast (%s catalog)", (kind) => {
  it("price a scanned tree and its synced copies by hand's figures, in tables, JSON and CSV", async () => {
    const dir = tempDir();
    const url = await freshCatalogUrl(kind, dir);
    const ws = workspace(url);
    expectExit(await ws.run("scan", "scratch"), 0, "scan");
    expectExit(await ws.run("sync", "scratch", "archive", "--class", "STANDARD_IA"), 0, "sync");
    const catalogFile = kind === "sqlite" ? readFileSync(url) : undefined;

    const json = await ws.run("--json", "cost");
    expectExit(json, 0, "cost --json");
    const cost = JSON.parse(json.stdout) as CostNow;
    expect(cost.lines.map((l) => [l.group.location, l.group.class, l.objects])).toEqual([
      ["archive", "STANDARD_IA", 2],
      ["scratch", "POSIX", 2],
    ]);
    const scratch = ((SMALL + LARGE) / GIB) * SCRATCH_PER_GB;
    const archive = ((128 * KIB + LARGE) / GIB) * S3_STANDARD_IA;
    expectUsd(cost.lines[1]?.monthly as number, scratch);
    expectUsd(cost.lines[0]?.monthly as number, archive);
    expectUsd(cost.total.monthly, scratch + archive);
    // Copies made just now still owe (almost) all of STANDARD_IA's 30 days: a month's storage.
    expect(cost.lines[0]?.minimumDurationExposure).toBeGreaterThan(archive * 0.999);
    expect(cost.lines[0]?.minimumDurationExposure).toBeLessThanOrEqual(archive);

    const table = await ws.run("cost");
    expectExit(table, 0, "cost");
    expect(table.stdout).toMatch(/^LOCATION +CLASS +OBJECTS +LOGICAL +STORED +BILLABLE +STORAGE +OVERHEADS +MONTHLY/);
    expect(table.stdout).toMatch(/\narchive +STANDARD_IA +2 +303\.0 KiB +303\.0 KiB +421\.0 KiB /);
    expect(table.stdout).toContain("Prices: aws (us-east-1), https://aws.amazon.com/s3/pricing/, as of 2026-11-24");

    const byOwner = await ws.run("--json", "cost", "--by", "owner,project");
    expectExit(byOwner, 0, "cost --by owner,project");
    const owners = JSON.parse(byOwner.stdout) as CostNow;
    expect(owners.lines.map((l) => Object.keys(l.group))).toEqual(owners.lines.map(() => ["owner", "project"]));
    expectUsd(owners.total.monthly, scratch + archive);

    const csv = await ws.run("cost", "--csv");
    expectExit(csv, 0, "cost --csv");
    const [header, ...rows] = csv.stdout.trimEnd().split("\r\n");
    for (const column of ["BilledCost", "ChargeCategory", "ChargePeriodStart", "ServiceName"]) {
      expect(header?.split(",")).toContain(column);
    }
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^0\.000005,.*,Usage,.*,Amazon S3,Amazon Web Services,us-east-1,archive\/STANDARD_IA,/);

    const forecastJson = await ws.run("--json", "cost", "forecast", "--months", "24");
    expectExit(forecastJson, 0, "cost forecast --json");
    const forecast = JSON.parse(forecastJson.stdout) as Forecast;
    expect(forecast.months).toHaveLength(24);
    expectUsd(forecast.months[23]?.asIs as number, scratch + archive);
    // The scan and the sync's own scan, moments apart: no rate yet.
    expect(forecast.unknown).toContainEqual(
      expect.stringMatching(/^growth of scratch unknown: \d scans? within one day/),
    );

    const forecastTable = await ws.run("cost", "forecast", "--months", "3");
    expectExit(forecastTable, 0, "cost forecast");
    expect(forecastTable.stdout).toMatch(/^MONTH +AS-IS +WITH POLICIES +SAVING +SAVED SO FAR\n +1 +\$/);
    expect(forecastTable.stdout).toContain("3-year total: as-is $");

    const forecastCsv = await ws.run("cost", "forecast", "--months", "2", "--csv");
    expectExit(forecastCsv, 0, "cost forecast --csv");
    const forecastRows = forecastCsv.stdout.trimEnd().split("\r\n");
    // 2 months × 2 tiers × 2 scenarios; no plan, so no one-time purchase.
    expect(forecastRows.slice(1).map((row) => row.split(",")[4])).toEqual(Array(8).fill("Usage"));

    if (catalogFile) expect(readFileSync(url).equals(catalogFile), "catalog unchanged by cost").toBe(true);
  });

  it("compare and migrate run as commands: JSON, FOCUS CSV, read-only", async () => {
    const dir = tempDir();
    const url = await freshCatalogUrl(kind, dir);
    const ws = workspace(url);
    expectExit(await ws.run("scan", "scratch"), 0, "scan");
    expectExit(await ws.run("sync", "scratch", "archive", "--class", "STANDARD_IA"), 0, "sync");
    const catalogFile = kind === "sqlite" ? readFileSync(url) : undefined;

    const compared = await ws.run("--json", "cost", "compare", "--recall", "10%/year");
    expectExit(compared, 0, "cost compare --json");
    const comparison = JSON.parse(compared.stdout) as Comparison;
    expect(comparison.recall.sharePerYear).toBeCloseTo(0.1, 12);
    // The two scanned files, each once, whatever copies they have.
    expect(comparison.groups.reduce((sum, g) => sum + g.objects, 0)).toBe(2);
    expect(comparison.groups.reduce((sum, g) => sum + g.bytes, 0)).toBe(SMALL + LARGE);
    const compareCsv = await ws.run("cost", "compare", "--csv");
    expectExit(compareCsv, 0, "cost compare --csv");
    expect(compareCsv.stdout.split("\r\n")[0]).toMatch(/^BilledCost,.*ChargeCategory,.*ServiceName/);

    const moved = await ws.run("--json", "cost", "migrate", "scratch", "archive", "--class", "STANDARD_IA");
    expectExit(moved, 0, "cost migrate --json");
    const migration = JSON.parse(moved.stdout) as MigrationEstimate;
    expect([migration.objects, migration.bytes, migration.toClass]).toEqual([2, SMALL + LARGE, "STANDARD_IA"]);
    // The sync just made is the measured scratch → archive rate.
    expect(migration.rate?.bytes).toBe(SMALL + LARGE);

    const badRecall = await ws.run("cost", "compare", "--recall", "lots");
    expectExit(badRecall, 2, "cost compare --recall lots");
    expect(badRecall.stderr).toContain("lots");
    const unknown = await ws.run("cost", "migrate", "scratch", "nowhere");
    expectExit(unknown, 2, "cost migrate scratch nowhere");
    expect(unknown.stderr).toContain("nowhere");
    if (catalogFile)
      expect(readFileSync(url).equals(catalogFile), "catalog unchanged by compare and migrate").toBe(true);
  });

  it("refuses an unknown --by word or --months out of range, naming it, with exit 2", async () => {
    const url = await freshCatalogUrl(kind, tempDir());
    const ws = workspace(url);
    const by = await ws.run("cost", "--by", "location,colour");
    expectExit(by, 2, "cost --by location,colour");
    expect(by.stderr).toContain('"colour" is not one of location, class, owner, project');
    for (const months of ["0", "121", "3.5"]) {
      const bad = await ws.run("cost", "forecast", "--months", months);
      expectExit(bad, 2, `forecast --months ${months}`);
      expect(bad.stderr).toContain(`'${months}' is invalid`);
    }
    expect(by.stdout).toBe("");
    if (kind === "sqlite") expect(existsSync(url), "no catalog made by a refused command").toBe(false);
  });
});
