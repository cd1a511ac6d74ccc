import { describe, expect, it } from "vitest";
import { AWS_PROFILE, LOCAL_PROFILE, onpremProfile, repackCost } from "../../src/cost/index.js";
import { expectUsd, GIB } from "./usd.js";

/** `pack gc`'s rule, priced by hand from the published figures (src/cost/prices/aws.ts, docs/cost-model.md). */
describe("repackCost", () => {
  it("rewrites a mostly dead STANDARD_IA pack: a year's saving beats a month's early deletion and the reads", () => {
    const cost = repackCost(AWS_PROFILE, {
      storageClass: "STANDARD_IA",
      size: GIB,
      newSize: 0.1 * GIB,
      liveFrames: 1000,
      ageDays: 0,
      horizonMonths: 12,
    });
    // $0.0125/GB-month; 30 days minimum, none served: one month of the whole pack.
    expectUsd(cost.keep, 12 * 0.0125);
    expectUsd(cost.storage, 12 * 0.0125 * 0.1);
    expectUsd(cost.earlyDeletion, 0.0125);
    // Two PUTs at $0.01/1000; 1000 GETs at $0.001/1000 and $0.01/GB retrieval; $0.09/GB egress.
    expectUsd(cost.requests, 0.00002);
    expectUsd(cost.reads, 0.001 + 0.1 * 0.01);
    expectUsd(cost.egress, 0.1 * 0.09);
    expect(cost.repack).toBe(true);
    expectUsd(cost.saving, 0.15 - (0.015 + 0.0125 + 0.00002 + 0.002 + 0.009));
  });

  it("keeps a young GLACIER_IR pack when its unserved minimum outweighs the saving over a short horizon", () => {
    const cost = repackCost(AWS_PROFILE, {
      storageClass: "GLACIER_IR",
      size: GIB,
      newSize: 0.5 * GIB,
      liveFrames: 10,
      ageDays: 10,
      horizonMonths: 3,
    });
    // 80 of 90 days unserved at $0.004/GB-month; three months of half the pack saved.
    expectUsd(cost.earlyDeletion, (80 / 30) * 0.004);
    expectUsd(cost.keep - cost.storage, 3 * 0.004 * 0.5);
    expect(cost.repack).toBe(false);
    expect(cost.saving).toBeLessThan(0);
  });

  it("on a store that bills nothing a shrinking rewrite is a tie and goes ahead; a pack that would not shrink is kept", () => {
    const input = { storageClass: undefined, size: 1000, newSize: 400, liveFrames: 3, ageDays: 0, horizonMonths: 12 };
    expect(repackCost(LOCAL_PROFILE, input)).toMatchObject({ saving: 0, repack: true });
    expect(repackCost(LOCAL_PROFILE, { ...input, newSize: 1000 }).repack).toBe(false);
    // On premises: storage only, so any shrinking rewrite saves.
    expect(repackCost(onpremProfile(10), input).saving).toBeGreaterThan(0);
  });
});
