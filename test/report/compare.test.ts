import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import { FileUpserter, startScan } from "../../src/catalog/files.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import { parseRecall } from "../../src/cli/cost-compare.js";
import { type Config, configSchema } from "../../src/policy/config-schema.js";
import { compareCosts } from "../../src/report/compare.js";
import type { Comparison, PlacementCost } from "../../src/report/model.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

const DAY_US = 86_400e6;
const NOW = Date.parse("2026-12-01T00:00:00Z");
const GIB = 1024 ** 3;
const TIB = 1024 * GIB;

/** Cents, as a bill shows them. */
const cents = (usd: number) => Math.round(usd * 100);

function placement(comparison: Comparison, group: string, name: string): PlacementCost {
  const found = comparison.groups
    .find((g) => g.name === group)
    ?.placements.find((p) => `${p.provider}/${p.class}` === name);
  if (!found) throw new Error(`no ${name} in ${group}`);
  return found;
}

/** A file row as a scan writes it: last read `idleDays` ago (never read: atime = mtime). */
function entry(path: string, size: number, idleDays: number | "never") {
  const mtimeUs = NOW * 1000 - 400 * DAY_US;
  const atimeUs = idleDays === "never" ? mtimeUs : NOW * 1000 - idleDays * DAY_US;
  return {
    path,
    kind: "file" as const,
    size,
    mtimeUs,
    atimeUs,
    ctimeUs: mtimeUs,
    mode: 0o100644,
    uid: 1000,
    gid: 1000,
    inode: 1,
  };
}

describe.each(CATALOG_KINDS)("strata cost compare on %s", (kind) => {
  let catalog: CatalogDb | undefined;
  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
  });

  async function threeFiles(costs?: unknown): Promise<{ catalog: CatalogDb; config: Config }> {
    const root = tempDir();
    const config = configSchema.parse({ locations: { scratch: { url: join(root, "scratch") } }, costs });
    catalog = await freshCatalog(kind, root);
    const { id } = await ensureLocation(catalog, { name: "scratch", url: join(root, "scratch"), kind: "posix" });
    const upserter = new FileUpserter(catalog, id, await startScan(catalog, id));
    await upserter.write([
      entry("archive.tar", 10 * TIB, "never"), // 0.01 reads a month
      entry("results.h5", 500 * GIB, 60), // 30/60 = 0.5 reads a month
      entry("notes.txt", 1024, 1), // once a day: 30 reads a month
    ]);
    return { catalog, config };
  }

  it("prices the same files in S3 Glacier, on-premises disk and tape, by hand, with a 5%/year recall", async () => {
    const { catalog, config } = await threeFiles();
    const comparison = await compareCosts(catalog, config, { recall: { sharePerYear: 0.05 }, now: NOW });
    expect(comparison.groups.map((g) => [g.name, g.objects])).toEqual([
      ["under 128 KiB, read monthly", 1],
      ["1 GiB and over, read yearly", 1],
      ["1 GiB and over, read rarely", 1],
    ]);

    // archive.tar: 10 TiB = 10240 GB, read 0.01 times a month; 5%/year recall = 0.05/12 of it a month.
    const group = "1 GiB and over, read rarely";
    const recalledGB = (10240 * 0.05) / 12; // 42.6667
    const readGB = recalledGB + 10240 * 0.01; // 145.0667
    const readObjects = 0.05 / 12 + 0.01;

    // S3 GLACIER (us-east-1): $0.0036/GB-month + 32 KiB index at that rate + 8 KiB at STANDARD's $0.023;
    // GET $0.0004/1000; bulk restore $0 per GB and per request (cheaper than standard's $0.01/GB);
    // egress $0.09/GB of every byte read back.
    const glacier = placement(comparison, group, "aws/GLACIER");
    const glacierStorage = (10240 + 32 / 1048576) * 0.0036 + (8 / 1048576) * 0.023;
    const glacierRequests = (0.01 * 0.0004) / 1000;
    const glacierRetrieval = ((0.05 / 12) * 0.0004) / 1000;
    const glacierEgress = readGB * 0.09;
    expect(cents(glacier.storage)).toBe(cents(glacierStorage)); // $36.86
    expect(cents(glacier.egress)).toBe(cents(glacierEgress)); // $13.06
    expect(cents(glacier.monthly)).toBe(cents(glacierStorage + glacierRequests + glacierRetrieval + glacierEgress));
    expect(cents(glacier.monthly)).toBe(4992);
    expect(cents(glacier.upload)).toBe(cents(0.03 / 1000));

    // DEEP_ARCHIVE: $0.00099/GB-month; bulk restore $0.0025/GB + $0.025/1000 (cheaper than standard $0.02/GB).
    const deep = placement(comparison, group, "aws/DEEP_ARCHIVE");
    const deepMonthly =
      (10240 + 32 / 1048576) * 0.00099 +
      (8 / 1048576) * 0.023 +
      (0.01 * 0.0004) / 1000 +
      ((0.05 / 12) * 0.0004) / 1000 +
      readGB * 0.0025 +
      (readObjects * 0.025) / 1000 +
      readGB * 0.09;
    expect(cents(deep.monthly)).toBe(cents(deepMonthly)); // $23.56
    expect(cents(deep.retrieval)).toBe(cents(readGB * 0.0025)); // $0.36

    // On premises: 10 TB × $15/TB-year / 12 on tape, × $100/TB-year / 12 on disk; nothing else billed.
    const tape = placement(comparison, group, "onprem/tape");
    const disk = placement(comparison, group, "onprem/disk");
    expect(cents(tape.monthly)).toBe(1250);
    expect(cents(disk.monthly)).toBe(cents((10 * 100) / 12)); // $83.33
    expect(tape.requests + tape.retrieval + tape.egress + tape.upload).toBe(0);
    expect(tape.source.profile).toBe("tape");
    expect(disk.source.profile).toBe("disk");
    expect(comparison.groups.find((g) => g.name === group)?.cheapest).toBe("onprem/tape");
    expect(comparison.groups.find((g) => g.name === group)?.bytesReadPerMonth).toBeCloseTo(readGB * GIB, 3);

    // notes.txt: 1 KiB read 30 times a month. STANDARD_IA bills it as 128 KiB at $0.0125, GET
    // $0.001/1000, retrieval $0.01/GB of the bytes read; STANDARD: $0.023/GB-month, GET $0.0004/1000.
    const small = "under 128 KiB, read monthly";
    const kib = 1 / 1048576;
    const smallReadGB = (kib * 0.05) / 12 + kib * 30;
    const ia = placement(comparison, small, "aws/STANDARD_IA");
    const iaExact =
      128 * kib * 0.0125 + (30 * 0.001) / 1000 + smallReadGB * 0.01 + ((0.05 / 12) * 0.001) / 1000 + smallReadGB * 0.09;
    expect(ia.monthly).toBeCloseTo(iaExact, 12);
    const standard = placement(comparison, small, "aws/STANDARD");
    expect(standard.monthly).toBeCloseTo(
      kib * 0.023 + (30 * 0.0004) / 1000 + ((0.05 / 12) * 0.0004) / 1000 + smallReadGB * 0.09,
      12,
    );

    // The whole data set on tape: (10 TiB + 500 GiB + 1 KiB) × $15/TB-year / 12.
    const allTape = comparison.totals.find((t) => t.provider === "onprem" && t.class === "tape");
    expect(cents(allTape?.monthly ?? 0)).toBe(cents(((10 + 500 / 1024 + 1 / 1024 ** 3) * 15) / 12)); // $13.11
    const groupSum = comparison.groups.reduce(
      (n, g) => n + (g.placements.find((p) => p.class === "tape")?.monthly ?? 0),
      0,
    );
    expect(allTape?.monthly).toBeCloseTo(groupSum, 9);

    // The mix takes each group's cheapest.
    const mix = comparison.groups.reduce((n, g) => n + Math.min(...g.placements.map((p) => p.monthly)), 0);
    expect(comparison.cheapestMix.monthly).toBeCloseTo(mix, 9);
    expect(comparison.cheapestMix.byGroup[group]).toBe("onprem/tape");
    expect(comparison.prices.map((p) => p.profile)).toEqual(["aws", "azure", "gcs", "disk", "tape"]);
    expect(comparison.unknown).toEqual([]);
  });

  it("restores at the tier asked where the class offers it, and says where it does not", async () => {
    const { catalog, config } = await threeFiles();
    const comparison = await compareCosts(catalog, config, {
      recall: { sharePerYear: 0.05, tier: "standard" },
      now: NOW,
    });
    const readGB = (10240 * 0.05) / 12 + 10240 * 0.01;
    const readObjects = 0.05 / 12 + 0.01;
    const glacier = placement(comparison, "1 GiB and over, read rarely", "aws/GLACIER");
    // Standard: $0.01/GB + $0.05/1000 requests, plus the recall's GETs at $0.0004/1000.
    expect(cents(glacier.retrieval)).toBe(cents(readGB * 0.01 + (readObjects * 0.05) / 1000)); // $1.45
    const expedited = await compareCosts(catalog, config, {
      recall: { sharePerYear: 0.05, tier: "expedited" },
      now: NOW,
    });
    expect(expedited.basis?.join("\n")).toContain(
      "aws/DEEP_ARCHIVE offers no expedited restore: priced at its cheapest, bulk",
    );
  });

  it("takes the site's own tape price from costs.onprem", async () => {
    const { catalog, config } = await threeFiles({ onprem: { tape: { perTBYear: 6, source: "our tape rate" } } });
    const comparison = await compareCosts(catalog, config, { recall: { sharePerYear: 0 }, now: NOW });
    const tape = placement(comparison, "1 GiB and over, read rarely", "onprem/tape");
    expect(cents(tape.monthly)).toBe(500); // 10 TB × $6 / 12
    expect(tape.source.source).toBe("our tape rate");
  });

  it("says when there is nothing to compare", async () => {
    const root = tempDir();
    catalog = await freshCatalog(kind, root);
    const comparison = await compareCosts(catalog, configSchema.parse({}), {
      recall: { sharePerYear: 0.05 },
      now: NOW,
    });
    expect(comparison.groups).toEqual([]);
    expect(comparison.cheapestMix.monthly).toBe(0);
    expect(comparison.unknown.join(" ")).toContain("no files");
  });
});

describe("--recall", () => {
  it("reads a share per year or per month", () => {
    expect(parseRecall("5%/year")).toBeCloseTo(0.05, 12);
    expect(parseRecall("5%")).toBeCloseTo(0.05, 12);
    expect(parseRecall("1%/month")).toBeCloseTo(0.12, 12);
    expect(parseRecall("0%")).toBe(0);
    for (const bad of ["5", "0.05/year", "5%/week", "-5%/year", "lots"])
      expect(() => parseRecall(bad)).toThrow(/5%\/year/);
  });
});
