import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import { configSchema } from "../../src/policy/config-schema.js";
import { forecastCosts } from "../../src/report/forecast.js";
import { expectUsd, GIB, KIB } from "../cost/usd.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { addFile, addLocation, addReplica, addScan, DAY_MS, REPLICA_HASH } from "./cost-rows.js";

/*
 * Prices copied by hand: scratch is configured at $20 per TB-month (TB = 1024 GB); Amazon S3
 * STANDARD_IA, US East, $0.0125 per GB-month and $0.01 per 1,000 PUTs, read 2026-11-24 from
 * https://aws.amazon.com/s3/pricing/. Reading a POSIX file and sending it from on premises
 * cost nothing (the on-premises profile has no retrieval or egress price).
 */
const SCRATCH_PER_GB = 20 / 1024;
const S3_STANDARD_IA = 0.0125;
const S3_STANDARD_IA_PUT = 0.01 / 1000;

const NOW = Date.UTC(2026, 11, 1);
const MIB = 1024 * KIB;
/** Scans 10 days apart saw 100 MiB more each time: 10 MiB a day, 300 MiB a 30-day month. */
const GROWTH_PER_MONTH = 300 * MIB;

/** Month m holds 1 GiB + 300 MiB × (m − 1): this many GiB. */
const gib = (month: number) => (GIB + GROWTH_PER_MONTH * (month - 1)) / GIB;
/** Σ over months 1..n of gib(m) = n + (300/1024) × n (n − 1) / 2. */
const gibMonths = (n: number) => n + (300 / 1024) * ((n * (n - 1)) / 2);

function config(tree: string, policies: unknown[] = []) {
  return configSchema.parse({
    locations: {
      scratch: { url: tree, price: { perTBMonth: 20 } },
      archive: { url: "s3://lab-archive" },
    },
    policies,
  });
}

const TO_ARCHIVE = { name: "to-archive", from: ["scratch"], place: [{ to: "archive", class: "STANDARD_IA" }] };

/** S3 GLACIER, same source: $0.0036 per GB-month + 32 KiB per object at it and 8 KiB at STANDARD ($0.023); PUT $0.03/1000. */
const S3_GLACIER = 0.0036;
const S3_STANDARD = 0.023;
const S3_GLACIER_PUT = 0.03 / 1000;
/** A dear scratch tree ($100 per TB-month) whose data costs $0.50 per GB to send out. */
const DEAR_PER_GB = 100 / 1024;
const DEAR_EGRESS_PER_GB = 0.5;

const ARCHIVE_AND_RELEASE = {
  name: "archive-and-release",
  from: ["scratch"],
  place: [{ to: "archive", class: "GLACIER" }],
  // biome-ignore lint/suspicious/noThenProperty: the policy language's word
  then: "release",
};

describe.each(CATALOG_KINDS)("forecastCosts (%s catalog)", (kind) => {
  let catalog: CatalogDb | undefined;
  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
  });

  /** scratch holds one 1 GiB file; its scans ended at the given days before NOW. */
  async function scratchScannedAt(daysAgo: number[]) {
    const dir = tempDir();
    catalog = await freshCatalog(kind, dir);
    const tree = join(dir, "tree");
    const scratch = await addLocation(catalog, "scratch", `file://${tree}`, "posix");
    let scan = 0;
    for (const days of daysAgo) {
      scan = await addScan(catalog, scratch, NOW - days * DAY_MS, 1, GIB - (days / 10) * 100 * MIB);
    }
    await addFile(catalog, scratch, scan, { path: "big.dat", size: GIB });
    return { catalog, tree, scratch, scan };
  }

  it("grows each location at its scan history's rate, priced at its blended rate", async () => {
    const { catalog, tree } = await scratchScannedAt([20, 10, 0]);
    const forecast = await forecastCosts(catalog, config(tree), { months: 36, now: NOW });
    expect(forecast.growth).toEqual([expect.objectContaining({ location: "scratch", bytesPerDay: 10 * MIB })]);
    expect(forecast.months).toHaveLength(36);
    expectUsd(forecast.months[0]?.asIs as number, SCRATCH_PER_GB);
    expectUsd(forecast.months[35]?.asIs as number, gib(36) * SCRATCH_PER_GB);
    expectUsd(forecast.months[35]?.asIsByTier["scratch/POSIX"] as number, gib(36) * SCRATCH_PER_GB);
    expect(forecast.months.map((m) => m.withPolicies)).toEqual(forecast.months.map((m) => m.asIs));
    expect(forecast.totals.map((t) => t.months)).toEqual([36, 60]);
    expectUsd(forecast.totals[0]?.asIs as number, gibMonths(36) * SCRATCH_PER_GB);
    expectUsd(forecast.totals[1]?.asIs as number, gibMonths(60) * SCRATCH_PER_GB);
    expect(forecast.migration).toEqual({ oneTime: 0, monthlySaving: 0 });
    expect(forecast.roi).toBeUndefined();
    expect(forecast.unknown.filter((u) => u.startsWith("growth"))).toEqual([]);
  });

  it("with one scan says growth is unknown and projects flat, inventing no rate", async () => {
    const { catalog, tree } = await scratchScannedAt([0]);
    const forecast = await forecastCosts(catalog, config(tree), { months: 12, now: NOW });
    expect(forecast.growth).toEqual([
      { location: "scratch", points: [expect.anything()], basis: "1 scan within one day: no growth rate yet" },
    ]);
    expect(forecast.unknown).toContain("growth of scratch unknown: 1 scan within one day: no growth rate yet");
    expect(new Set(forecast.months.map((m) => m.asIs))).toEqual(new Set([SCRATCH_PER_GB]));
    expectUsd(forecast.totals[1]?.asIs as number, 60 * SCRATCH_PER_GB);
  });

  it("applies the enabled policies' plan in month 1 and grows at the post-plan rate", async () => {
    const { catalog, tree } = await scratchScannedAt([20, 10, 0]);
    const forecast = await forecastCosts(catalog, config(tree, [TO_ARCHIVE]), { months: 36, now: NOW });
    // The plan: one copy of big.dat to archive in STANDARD_IA.
    expectUsd(forecast.migration.oneTime, S3_STANDARD_IA_PUT);
    expectUsd(forecast.migration.monthlySaving, -S3_STANDARD_IA);
    expect(forecast.migration.breakEvenMonth).toBeUndefined();
    const month36 = forecast.months[35];
    expectUsd(month36?.withPoliciesByTier["archive/STANDARD_IA"] as number, gib(36) * S3_STANDARD_IA);
    expectUsd(month36?.withPoliciesByTier["scratch/POSIX"] as number, gib(36) * SCRATCH_PER_GB);
    expect(month36?.asIsByTier["archive/STANDARD_IA"]).toBe(0);
    const asIs36 = gibMonths(36) * SCRATCH_PER_GB;
    const with36 = gibMonths(36) * (SCRATCH_PER_GB + S3_STANDARD_IA);
    expectUsd(forecast.totals[0]?.withPolicies as number, with36 + S3_STANDARD_IA_PUT);
    expectUsd(forecast.roi as number, (asIs36 - with36 - S3_STANDARD_IA_PUT) / S3_STANDARD_IA_PUT);
    expect(forecast.prices.map((p) => p.profile).sort()).toEqual(["aws", "onprem"]);
  });

  it("prices new bytes as the plan treats the files it acts on, when earlier runs handled the rest", async () => {
    const { catalog, tree, scratch, scan } = await scratchScannedAt([20, 10, 0]);
    const archive = await addLocation(catalog, "archive", "s3://lab-archive", "s3");
    const copied = await addFile(catalog, scratch, scan, { path: "copied.dat", size: GIB, hash: REPLICA_HASH });
    await addReplica(catalog, copied, archive, {
      key: "copied.dat",
      size: GIB,
      storageClass: "STANDARD_IA",
      createdAt: NOW - 400 * DAY_MS,
    });
    const forecast = await forecastCosts(catalog, config(tree, [TO_ARCHIVE]), { months: 36, now: NOW });
    // Pending: big.dat's copy alone. scratch holds 2 GiB; archive 1 GiB (copied.dat) + 1 GiB once copied.
    expectUsd(forecast.migration.monthlySaving, -S3_STANDARD_IA);
    const addedGib = (month: number) => gib(month) - 1;
    for (const month of [1, 2, 36]) {
      const asIs = forecast.months[month - 1];
      // As-is, a new byte at scratch stays there: scratch's blended rate.
      expectUsd(asIs?.asIsByTier["scratch/POSIX"] as number, (2 + addedGib(month)) * SCRATCH_PER_GB);
      expectUsd(asIs?.asIsByTier["archive/STANDARD_IA"] as number, S3_STANDARD_IA);
      // With the policy, a new byte is also copied to STANDARD_IA, as big.dat is.
      expectUsd(asIs?.withPoliciesByTier["scratch/POSIX"] as number, (2 + addedGib(month)) * SCRATCH_PER_GB);
      expectUsd(asIs?.withPoliciesByTier["archive/STANDARD_IA"] as number, (2 + addedGib(month)) * S3_STANDARD_IA);
    }
    expect(forecast.unknown).toContain("growth of archive unknown: never scanned");
  });

  it("from a catalog with no scan and no run: still a forecast, saying what it cannot know", async () => {
    const dir = tempDir();
    catalog = await freshCatalog(kind, dir);
    const forecast = await forecastCosts(catalog, config(join(dir, "tree"), [TO_ARCHIVE]), { months: 6, now: NOW });
    expect(forecast.months.map((m) => [m.asIs, m.withPolicies])).toEqual(Array(6).fill([0, 0]));
    expect(forecast.growth).toEqual([]);
    expect(forecast.migration).toEqual({ oneTime: 0, monthlySaving: 0 });
    expect(forecast.roi).toBeUndefined();
    expect(forecast.unknown).toEqual([
      "scratch: never scanned and no copies made there: nothing of it is counted",
      "archive: never scanned and no copies made there: nothing of it is counted",
    ]);
  });

  it("breaks even when the saving of a releasing policy has paid for its copies", async () => {
    const { catalog, tree } = await scratchScannedAt([0]);
    const settings = configSchema.parse({
      locations: {
        scratch: { url: tree, price: { perTBMonth: 100, egressPerGB: DEAR_EGRESS_PER_GB } },
        archive: { url: "s3://lab-archive" },
      },
      policies: [ARCHIVE_AND_RELEASE],
    });
    const forecast = await forecastCosts(catalog, settings, { months: 36, now: NOW });
    // Once: 1 GiB sent out of scratch, and one PUT into GLACIER.
    const oneTime = DEAR_EGRESS_PER_GB + S3_GLACIER_PUT;
    // Monthly: scratch's 1 GiB is released; GLACIER keeps 1 GiB + 32 KiB, and 8 KiB at STANDARD.
    const glacier = ((GIB + 32 * KIB) / GIB) * S3_GLACIER + ((8 * KIB) / GIB) * S3_STANDARD;
    const saving = DEAR_PER_GB - glacier;
    expectUsd(forecast.migration.oneTime, oneTime);
    expectUsd(forecast.migration.monthlySaving, saving);
    // 0.5 / (0.09766 − 0.00360) = 5.3…: month 6 is the first whose savings cover it.
    expect(forecast.migration.breakEvenMonth).toBe(Math.ceil(oneTime / saving));
    expect(forecast.migration.breakEvenMonth).toBe(6);
    expectUsd(forecast.months[0]?.withPoliciesByTier["scratch/POSIX"] as number, 0);
    expectUsd(forecast.totals[1]?.withPolicies as number, 60 * glacier + oneTime);
    expectUsd(forecast.roi as number, (36 * saving - oneTime) / oneTime);
  });
});
