import { describe, expect, it } from "vitest";
import { S3_ARCHIVE_CLASSES, S3_STORAGE_CLASSES } from "../../src/backends/s3/s3-classes.js";
import { UsageError } from "../../src/config/errors.js";
import {
  AWS_PROFILE,
  AZURE_PROFILE,
  cheapestRetrieval,
  earlyDeletionCharge,
  GCS_PROFILE,
  LOCAL_PROFILE,
  monthlyStorageCost,
  onpremProfile,
  type PriceProfile,
  putCost,
  retrievalCost,
  transitionCost,
} from "../../src/cost/index.js";
import { expectUsd, GIB, KIB } from "./usd.js";

const HOUR = 3_600_000;

describe("the shipped profiles", () => {
  it("price every S3 class the backends know, archive classes as the backends mark them", () => {
    for (const profile of [AWS_PROFILE, LOCAL_PROFILE]) {
      expect(Object.keys(profile.classes).sort()).toEqual([...S3_STORAGE_CLASSES].sort());
      const archived = Object.entries(profile.classes).filter(([, price]) => price.archive);
      expect(archived.map(([name]) => name).sort()).toEqual([...S3_ARCHIVE_CLASSES].sort());
    }
    expect(Object.keys(AZURE_PROFILE.classes)).toEqual(["Hot", "Cool", "Cold", "Archive"]);
    expect(Object.keys(GCS_PROFILE.classes)).toEqual(["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"]);
  });

  it("say where and when their figures were read, and hold no negative or missing number", () => {
    for (const profile of [AWS_PROFILE, AZURE_PROFILE, GCS_PROFILE, LOCAL_PROFILE, onpremProfile()]) {
      expect(profile.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(profile.source.length).toBeGreaterThan(4);
      expect(profile.classes[profile.defaultClass]).toBeDefined();
      for (const price of Object.values(profile.classes)) {
        const numbers = [
          price.storagePerGBMonth,
          price.minStorageDays,
          price.minBillableBytes,
          price.putPer1000,
          price.getPer1000,
          price.transitionPer1000,
          price.retrievalPerGB,
          ...Object.values(price.archive?.tiers ?? {}).flatMap((t) => [t.perGB, t.per1000, t.latencyMs]),
        ];
        for (const n of numbers) expect(Number.isFinite(n) && n >= 0).toBe(true);
      }
    }
  });
});

describe("monthlyStorageCost", () => {
  const cases: [string, PriceProfile, string | undefined, number, number][] = [
    // By hand: 10 GiB in STANDARD_IA for a month = 10 GB × $0.0125/GB-month = $0.125.
    ["10 GiB in STANDARD_IA", AWS_PROFILE, "STANDARD_IA", 10 * GIB, 0.125],
    ["1 GiB in STANDARD", AWS_PROFILE, "STANDARD", GIB, 0.023],
    // A 1 KiB object in an IA class is billed as 128 KiB: 128/1048576 GB × $0.0125.
    ["1 KiB in STANDARD_IA, billed as 128 KiB", AWS_PROFILE, "STANDARD_IA", KIB, (128 / 1048576) * 0.0125],
    ["1 KiB in GLACIER_IR, billed as 128 KiB", AWS_PROFILE, "GLACIER_IR", KIB, (128 / 1048576) * 0.004],
    ["1 KiB in STANDARD, billed as is", AWS_PROFILE, "STANDARD", KIB, (1 / 1048576) * 0.023],
    // GLACIER: + 32 KiB at $0.0036 and 8 KiB at STANDARD's $0.023.
    ["1 GiB in GLACIER", AWS_PROFILE, "GLACIER", GIB, (1 + 32 / 1048576) * 0.0036 + (8 / 1048576) * 0.023],
    ["1 KiB in DEEP_ARCHIVE", AWS_PROFILE, "DEEP_ARCHIVE", KIB, (33 / 1048576) * 0.00099 + (8 / 1048576) * 0.023],
    // INTELLIGENT_TIERING: $0.0025 per 1,000 objects of 128 KiB and more, none below.
    ["1 GiB in INTELLIGENT_TIERING", AWS_PROFILE, "INTELLIGENT_TIERING", GIB, 0.023 + 0.0000025],
    ["100 KiB in INTELLIGENT_TIERING", AWS_PROFILE, "INTELLIGENT_TIERING", 100 * KIB, (100 / 1048576) * 0.023],
    ["no class: the default (Hot)", AZURE_PROFILE, undefined, GIB, 0.018],
    ["class names fold case", AZURE_PROFILE, "cool", GIB, 0.01],
    ["1 GiB in GCS ARCHIVE", GCS_PROFILE, "ARCHIVE", GIB, 0.0012],
    ["anything on the embedded store", LOCAL_PROFILE, "GLACIER", 5 * GIB, 0],
    ["1 TiB on premises at the default $10/TB-month", onpremProfile(), undefined, 1024 * GIB, 10],
    ["on premises, any class name", onpremProfile(25), "GLACIER", 1024 * GIB, 25],
  ];
  it.each(cases)("%s", (_label, profile, storageClass, size, expected) => {
    expectUsd(monthlyStorageCost(profile, storageClass, size), expected);
  });

  it("refuses a class the profile does not price, naming it", () => {
    expect(() => monthlyStorageCost(AWS_PROFILE, "Cool", GIB)).toThrow(UsageError);
    expect(() => monthlyStorageCost(AWS_PROFILE, "Cool", GIB)).toThrow(/"Cool".*profile aws/);
  });
});

describe("earlyDeletionCharge", () => {
  const cases: [string, PriceProfile, string, number, number, number][] = [
    ["STANDARD_IA at 10 days: 20 days left", AWS_PROFILE, "STANDARD_IA", 10, GIB, (20 / 30) * 0.0125],
    ["STANDARD_IA at exactly 30 days", AWS_PROFILE, "STANDARD_IA", 30, GIB, 0],
    ["STANDARD_IA at 45 days", AWS_PROFILE, "STANDARD_IA", 45, GIB, 0],
    ["STANDARD never", AWS_PROFILE, "STANDARD", 0, GIB, 0],
    ["a tiny IA object is charged at 128 KiB", AWS_PROFILE, "STANDARD_IA", 0, KIB, (128 / 1048576) * 0.0125],
    ["DEEP_ARCHIVE at 0 days: 180 days", AWS_PROFILE, "DEEP_ARCHIVE", 0, GIB, 6 * 0.00099 * (1 + 32 / 1048576)],
    // Azure's own example: 1,000 GB archived for 90 days owes (180 − 90)/30 months of Archive.
    ["Azure Archive, 1000 GB at 90 days", AZURE_PROFILE, "Archive", 90, 1000 * GIB, 3 * 1000 * 0.00099],
    ["GCS ARCHIVE at 0 days: 365 days", GCS_PROFILE, "ARCHIVE", 0, GIB, (365 / 30) * 0.0012],
  ];
  it.each(cases)("%s", (_label, profile, storageClass, ageDays, size, expected) => {
    expectUsd(earlyDeletionCharge(profile, storageClass, ageDays, size), expected);
  });
});

describe("requests, retrievals and restores", () => {
  it("prices one PUT per object", () => {
    expectUsd(putCost(AWS_PROFILE, "GLACIER"), 0.00003);
    expectUsd(putCost(AWS_PROFILE, "STANDARD", 1000), 0.005);
  });

  const retrievals: [string, PriceProfile, string, number, "expedited" | "standard" | "bulk" | undefined, number][] = [
    ["STANDARD: the GET only", AWS_PROFILE, "STANDARD", 10 * GIB, undefined, 0.0000004],
    ["STANDARD_IA: $0.01/GB and the GET", AWS_PROFILE, "STANDARD_IA", 10 * GIB, undefined, 0.1 + 0.000001],
    ["GLACIER expedited", AWS_PROFILE, "GLACIER", GIB, "expedited", 0.03 + 0.01 + 0.0000004],
    ["GLACIER standard", AWS_PROFILE, "GLACIER", GIB, "standard", 0.01 + 0.00005 + 0.0000004],
    ["GLACIER with no tier: the cheapest (bulk, free)", AWS_PROFILE, "GLACIER", GIB, undefined, 0.0000004],
    ["DEEP_ARCHIVE with no tier: bulk", AWS_PROFILE, "DEEP_ARCHIVE", GIB, undefined, 0.0025 + 0.000025 + 0.0000004],
    ["Azure Archive, high priority", AZURE_PROFILE, "Archive", GIB, "expedited", 0.1 + 0.0065 + 0.0000005],
    ["GCS ARCHIVE, read directly", GCS_PROFILE, "ARCHIVE", GIB, undefined, 0.05 + 0.00005],
  ];
  it.each(retrievals)("retrievalCost: %s", (_label, profile, storageClass, size, tier, expected) => {
    expectUsd(retrievalCost(profile, storageClass, size, tier), expected);
  });

  it("refuses a restore tier the class does not offer", () => {
    expect(() => retrievalCost(AWS_PROFILE, "DEEP_ARCHIVE", GIB, "expedited")).toThrow(/no expedited restore/);
  });

  it("cheapestRetrieval picks the cheapest tier within the latency, or none", () => {
    expect(cheapestRetrieval(AWS_PROFILE, "DEEP_ARCHIVE", GIB, 13 * HOUR)?.tier).toBe("standard");
    expect(cheapestRetrieval(AWS_PROFILE, "DEEP_ARCHIVE", GIB, HOUR)).toBeUndefined();
    expect(cheapestRetrieval(AWS_PROFILE, "DEEP_ARCHIVE", GIB)).toMatchObject({ tier: "bulk", latencyMs: 48 * HOUR });
    expect(cheapestRetrieval(AWS_PROFILE, "GLACIER", GIB, 10 * 60_000)).toMatchObject({ tier: "expedited" });
    expect(cheapestRetrieval(AZURE_PROFILE, "Archive", GIB, HOUR)).toMatchObject({ tier: "expedited" });
    expect(cheapestRetrieval(AWS_PROFILE, "STANDARD_IA", GIB, 0)).toMatchObject({ latencyMs: 0 });
  });

  const moves: [string, string, string, number, { requests: number; retrieval: number }][] = [
    ["down by lifecycle: STANDARD → GLACIER", "STANDARD", "GLACIER", GIB, { requests: 0.00003, retrieval: 0 }],
    ["down: GLACIER → DEEP_ARCHIVE, no restore", "GLACIER", "DEEP_ARCHIVE", GIB, { requests: 0.00005, retrieval: 0 }],
    // Up is a read (restore at the cheapest tier, bulk: free) and a PUT into STANDARD.
    ["up: GLACIER → STANDARD", "GLACIER", "STANDARD", GIB, { requests: 0.000005, retrieval: 0.0000004 }],
    ["up: STANDARD_IA → STANDARD", "STANDARD_IA", "STANDARD", GIB, { requests: 0.000005, retrieval: 0.010001 }],
    ["staying put", "STANDARD_IA", "STANDARD_IA", GIB, { requests: 0, retrieval: 0 }],
  ];
  it.each(moves)("transitionCost: %s", (_label, from, to, size, expected) => {
    const cost = transitionCost(AWS_PROFILE, from, to, size);
    expectUsd(cost.requests, expected.requests);
    expectUsd(cost.retrieval, expected.retrieval);
  });
});
