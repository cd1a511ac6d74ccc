import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/config/errors.js";
import {
  AWS_PROFILE,
  type ClassChoiceInput,
  chooseClass,
  GCS_PROFILE,
  LOCAL_PROFILE,
  type PriceProfile,
  profileFor,
} from "../../src/cost/index.js";
import { expectUsd, GIB, KIB } from "./usd.js";

const HOUR = 3_600_000;
const OLD = 400; // days: past every minimum storage duration

/** The total of one candidate in a choice. */
function totalOf(input: ClassChoiceInput, profile: PriceProfile, storageClass: string): number {
  const cost = chooseClass(input, profile).costs.find((c) => c.class === storageClass);
  if (!cost) throw new Error(`${storageClass} was not a candidate`);
  return cost.total;
}

describe("cost tiering: where IA or Glacier loses", () => {
  const cases: [string, PriceProfile, ClassChoiceInput, string][] = [
    [
      "a tiny object (10 KiB) stays STANDARD: IA bills 128 KiB, Glacier adds 40 KiB and a transition",
      AWS_PROFILE,
      { size: 10 * KIB, currentClass: "STANDARD", currentClassAgeDays: OLD, accessesPerMonth: 0.01, horizonMonths: 36 },
      "STANDARD",
    ],
    [
      "a new tiny object goes to STANDARD",
      AWS_PROFILE,
      { size: 10 * KIB, accessesPerMonth: 0.01, horizonMonths: 36 },
      "STANDARD",
    ],
    [
      "a file read 100 times a month stays STANDARD: IA pays $0.01/GB a read, Glacier keeps a restored copy all month",
      AWS_PROFILE,
      { size: GIB, currentClass: "STANDARD", currentClassAgeDays: OLD, accessesPerMonth: 100, horizonMonths: 12 },
      "STANDARD",
    ],
    [
      "5 days into STANDARD_IA, a move would owe 25 days of IA: it stays",
      AWS_PROFILE,
      { size: GIB, currentClass: "STANDARD_IA", currentClassAgeDays: 5, accessesPerMonth: 0.01, horizonMonths: 1 },
      "STANDARD_IA",
    ],
    [
      "over a 1-month horizon GCS ARCHIVE owes 335 more days: NEARLINE",
      GCS_PROFILE,
      { size: GIB, accessesPerMonth: 0.01, horizonMonths: 1 },
      "NEARLINE",
    ],
  ];
  it.each(cases)("%s", (_label, profile, input, expected) => {
    const choice = chooseClass(input, profile);
    expect(choice.class).toBe(expected);
    expect(choice.move).toBe(expected !== input.currentClass);
  });

  it("prices the tiny object by hand", () => {
    const input = { size: 10 * KIB, currentClass: "STANDARD", currentClassAgeDays: OLD, accessesPerMonth: 0.01 };
    const oneYear = { ...input, horizonMonths: 12 };
    // STANDARD: 10/1048576 GB × $0.023 × 12 months + 0.12 reads × $0.0004/1000.
    expectUsd(totalOf(oneYear, AWS_PROFILE, "STANDARD"), (10 / 1048576) * 0.023 * 12 + 0.12 * 0.0000004);
    // STANDARD_IA: 128 KiB billed, a $0.01/1000 transition, reads at $0.01/GB + $0.001/1000.
    expectUsd(
      totalOf(oneYear, AWS_PROFILE, "STANDARD_IA"),
      (128 / 1048576) * 0.0125 * 12 + 0.00001 + 0.12 * ((10 / 1048576) * 0.01 + 0.000001),
    );
  });

  it("prices frequent access by hand", () => {
    const input = { size: GIB, currentClass: "STANDARD", currentClassAgeDays: OLD, accessesPerMonth: 100 };
    const year = { ...input, horizonMonths: 12 };
    expectUsd(totalOf(year, AWS_PROFILE, "STANDARD"), 0.023 * 12 + 1200 * 0.0000004);
    expectUsd(totalOf(year, AWS_PROFILE, "STANDARD_IA"), 0.0125 * 12 + 0.00001 + 1200 * (0.01 + 0.000001));
    // GLACIER's bulk restores are free, but read 100 times a month a restored copy is held all
    // month in STANDARD: the archive's storage comes on top of STANDARD's.
    const glacierMonth = (1 + 32 / 1048576) * 0.0036 + (8 / 1048576) * 0.023;
    expectUsd(totalOf(year, AWS_PROFILE, "GLACIER"), 12 * glacierMonth + 0.00003 + 1200 * 0.0000004 + 12 * 0.023);
  });

  it("charges the early deletion of the class it leaves, and not once it is old enough", () => {
    const young = { size: GIB, currentClass: "STANDARD_IA", accessesPerMonth: 0.01, horizonMonths: 1 };
    const atFive = chooseClass({ ...young, currentClassAgeDays: 5 }, AWS_PROFILE);
    const deep = atFive.costs.find((c) => c.class === "DEEP_ARCHIVE");
    expectUsd(deep?.earlyDeletion ?? -1, (25 / 30) * 0.0125);
    // DEEP_ARCHIVE's own 180 days, cut to 30 by the horizon: 150 days more at its rate.
    expectUsd(deep?.minimumDuration ?? -1, 5 * 0.00099 * (1 + 32 / 1048576));
    // Staying: 0.0125 + 0.01 reads × ($0.01 + $0.001/1000).
    expectUsd(atFive.costs[0]?.total ?? -1, 0.0125 + 0.01 * 0.010001);
    expect(atFive.costs[0]?.class).toBe("STANDARD_IA");
    // At 40 days nothing is owed, and DEEP_ARCHIVE's six months still cost less than a month of IA.
    expect(chooseClass({ ...young, currentClassAgeDays: 40 }, AWS_PROFILE).class).toBe("DEEP_ARCHIVE");
  });
});

describe("cost tiering: where Glacier wins", () => {
  /*
   * By hand: 100 GiB, untouched (0.01 reads a month), over 36 months, now in STANDARD.
   *   STANDARD:     100 × $0.023 × 36                                   = $82.80
   *   DEEP_ARCHIVE: 100 × $0.00099 × 36                                 = $3.564
   *                 + overhead (32 KiB × $0.00099 + 8 KiB × $0.023) × 36 ≈ $0.0000068
   *                 + transition $0.05/1000                             = $0.00005
   *                 + 0.36 reads × (100 × $0.0025 + $0.025/1000 + $0.0004/1000, bulk) = $0.090009144
   *                 + each restored copy kept a day in STANDARD: 36 × 0.01/30 × 100 × $0.023 = $0.0276
   *                 ≈ $3.682 — a saving of about $79.12.
   */
  const bigCold = {
    size: 100 * GIB,
    currentClass: "STANDARD",
    currentClassAgeDays: OLD,
    accessesPerMonth: 0.01,
    horizonMonths: 36,
  };

  it("moves a big cold file to DEEP_ARCHIVE over a long horizon", () => {
    const choice = chooseClass(bigCold, AWS_PROFILE);
    expect(choice).toMatchObject({ class: "DEEP_ARCHIVE", move: true, excluded: [] });
    const overhead = ((32 / 1048576) * 0.00099 + (8 / 1048576) * 0.023) * 36;
    expectUsd(totalOf(bigCold, AWS_PROFILE, "STANDARD"), 82.8 + 0.36 * 0.0000004);
    expectUsd(
      totalOf(bigCold, AWS_PROFILE, "DEEP_ARCHIVE"),
      3.564 + overhead + 0.00005 + 0.36 * (100 * 0.0025 + 0.000025 + 0.0000004) + 0.0276,
    );
    expect(choice.costs.find((c) => c.class === "DEEP_ARCHIVE")?.restoreTier).toBe("bulk");
  });

  it("moves it to GCS ARCHIVE over 36 months", () => {
    expect(chooseClass({ ...bigCold, currentClass: undefined }, GCS_PROFILE).class).toBe("ARCHIVE");
  });

  const latencies: [string, number | undefined, string, string | undefined, string[]][] = [
    ["no limit: DEEP_ARCHIVE, bulk", undefined, "DEEP_ARCHIVE", "bulk", []],
    ["6 hours: GLACIER, standard tier", 6 * HOUR, "GLACIER", "standard", ["DEEP_ARCHIVE"]],
    ["1 hour: GLACIER, expedited", HOUR, "GLACIER", "expedited", ["DEEP_ARCHIVE"]],
    ["1 minute: no archive class; GLACIER_IR", 60_000, "GLACIER_IR", undefined, ["GLACIER", "DEEP_ARCHIVE"]],
  ];
  it.each(latencies)("maxRestoreLatency %s", (_label, maxRestoreLatencyMs, expected, tier, excluded) => {
    const choice = chooseClass({ ...bigCold, maxRestoreLatencyMs }, AWS_PROFILE);
    expect(choice.class).toBe(expected);
    expect(choice.costs.find((c) => c.class === expected)?.restoreTier).toBe(tier);
    expect(choice.excluded.map((e) => e.class)).toEqual(excluded);
  });

  it("prices the 1-minute case by hand: GLACIER_IR reads at $0.03/GB", () => {
    const input = { ...bigCold, maxRestoreLatencyMs: 60_000 };
    expectUsd(totalOf(input, AWS_PROFILE, "GLACIER_IR"), 100 * 0.004 * 36 + 0.00002 + 0.36 * (100 * 0.03 + 0.00001));
  });

  it("moves an archived object out when its class cannot meet the latency, whatever the penalty", () => {
    const archived = { ...bigCold, currentClass: "GLACIER", currentClassAgeDays: 10, maxRestoreLatencyMs: 60_000 };
    const choice = chooseClass(archived, AWS_PROFILE);
    expect(choice.class).toBe("GLACIER_IR");
    expectUsd(
      choice.costs.find((c) => c.class === "GLACIER_IR")?.earlyDeletion ?? -1,
      (80 / 30) * 0.0036 * (100 + 32 / 1048576),
    );
  });
});

describe("cost tiering: ties stay put", () => {
  // A made-up profile where STANDARD_IA saves exactly $0.01 a month on 1 GiB, with no reads.
  const priced = (transitionPer1000: number) =>
    profileFor({
      kind: "s3",
      url: "s3://bucket",
      price: {
        classes: {
          STANDARD: { storagePerGBMonth: 0.02 },
          STANDARD_IA: { storagePerGBMonth: 0.01, transitionPer1000 },
        },
      },
    });
  const input = {
    size: GIB,
    currentClass: "STANDARD",
    currentClassAgeDays: OLD,
    accessesPerMonth: 0,
    horizonMonths: 1,
    candidates: ["STANDARD", "STANDARD_IA"],
  };

  it("does not move when the saving equals the move's penalty", () => {
    // Saving $0.01, transition $10/1000 = $0.01 per object: a tie.
    expect(chooseClass(input, priced(10))).toMatchObject({ class: "STANDARD", move: false });
  });

  it("moves when the saving exceeds it", () => {
    expect(chooseClass(input, priced(9.99))).toMatchObject({ class: "STANDARD_IA", move: true });
  });

  it("never moves on the embedded store, where everything costs nothing", () => {
    const archived = { size: GIB, currentClass: "GLACIER", accessesPerMonth: 5, horizonMonths: 12 };
    expect(chooseClass(archived, LOCAL_PROFILE)).toMatchObject({ class: "GLACIER", move: false });
    expect(chooseClass({ ...archived, currentClass: undefined }, LOCAL_PROFILE).class).toBe("STANDARD");
  });

  it("refuses when no allowed class meets the latency, and a class the profile lacks", () => {
    const archiveOnly = { ...input, candidates: ["GLACIER", "DEEP_ARCHIVE"], maxRestoreLatencyMs: 1000 };
    expect(() => chooseClass(archiveOnly, AWS_PROFILE)).toThrow(UsageError);
    expect(() => chooseClass({ ...input, currentClass: "Cool", candidates: undefined }, AWS_PROFILE)).toThrow(/"Cool"/);
  });
});
