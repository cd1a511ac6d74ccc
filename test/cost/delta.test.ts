import { describe, expect, it } from "vitest";
import {
  AWS_PROFILE,
  type CostDelta,
  copyDelta,
  deleteDelta,
  GCS_PROFILE,
  oneTimeTotal,
  onpremProfile,
  releaseDelta,
  restoreDelta,
  sumDeltas,
  transitionDelta,
} from "../../src/cost/index.js";
import { expectUsd, GIB } from "./usd.js";

const scratch = { profile: onpremProfile() };
const s3 = (storageClass: string) => ({ profile: AWS_PROFILE, storageClass });

function expectDelta(actual: CostDelta, monthly: number, oneTime: Partial<CostDelta["oneTime"]>): void {
  expectUsd(actual.monthly, monthly);
  const want = { requests: 0, earlyDeletion: 0, retrieval: 0, egress: 0, ...oneTime };
  for (const key of Object.keys(want) as (keyof CostDelta["oneTime"])[]) expectUsd(actual.oneTime[key], want[key]);
}

// The GLACIER per-object overhead, per month: 32 KiB at $0.0036 and 8 KiB at $0.023.
const GLACIER_OVERHEAD = (32 / 1048576) * 0.0036 + (8 / 1048576) * 0.023;

describe("monthly cost deltas per action", () => {
  it("copy: a new replica adds its storage; the PUT is paid once, nothing leaves the site", () => {
    // 10 GiB scratch → S3 STANDARD: +10 × $0.023 a month; once, one PUT at $0.005/1000.
    expectDelta(copyDelta(scratch, s3("STANDARD"), 10 * GIB), 0.23, { requests: 0.000005 });
  });

  it("copy across providers pays the source's egress and read", () => {
    const delta = copyDelta(s3("STANDARD_IA"), { profile: GCS_PROFILE, storageClass: "NEARLINE" }, 10 * GIB);
    expectDelta(delta, 0.1, { requests: 0.00001, retrieval: 0.1 + 0.000001, egress: 0.9 });
  });

  it("copy within one provider pays no egress", () => {
    expect(copyDelta(s3("STANDARD"), s3("GLACIER"), GIB).oneTime.egress).toBe(0);
  });

  it("transition: the new class's storage less the old's", () => {
    const delta = transitionDelta(AWS_PROFILE, "STANDARD", "GLACIER", 10 * GIB, 400);
    expectDelta(delta, 10 * 0.0036 + GLACIER_OVERHEAD - 0.23, { requests: 0.00003 });
  });

  it("transition out of a young class owes its early deletion", () => {
    // 10 GiB, 10 days into STANDARD_IA: 20/30 of a month at $0.125.
    const delta = transitionDelta(AWS_PROFILE, "STANDARD_IA", "GLACIER", 10 * GIB, 10);
    expectDelta(delta, 10 * 0.0036 + GLACIER_OVERHEAD - 0.125, { requests: 0.00003, earlyDeletion: (20 / 30) * 0.125 });
  });

  it("release: the on-premises storage of the source stops", () => {
    // 10 GiB at $10 per TB-month (1 TB = 1024 GB).
    expectDelta(releaseDelta(scratch, 10 * GIB), (-10 * 10) / 1024, {});
  });

  it("delete (and purge) stops storage and owes what is left of the minimum", () => {
    const delta = deleteDelta(s3("GLACIER"), GIB, 30);
    expectDelta(delta, -(0.0036 + GLACIER_OVERHEAD), { earlyDeletion: 2 * 0.0036 * (1 + 32 / 1048576) });
    expectDelta(deleteDelta(scratch, GIB, 0), -10 / 1024, {});
  });

  it("restore from DEEP_ARCHIVE to scratch pays the thaw, the read, a day of the copy and the egress", () => {
    const delta = restoreDelta(s3("DEEP_ARCHIVE"), scratch, GIB, "standard");
    expectDelta(delta, 10 / 1024, { retrieval: 0.02 + 0.0001 + 0.0000004 + 0.023 / 30, egress: 0.09 });
    const week = restoreDelta(s3("DEEP_ARCHIVE"), scratch, GIB, "bulk", 7);
    expectDelta(week, 10 / 1024, { retrieval: 0.0025 + 0.000025 + 0.0000004 + (7 * 0.023) / 30, egress: 0.09 });
  });

  it("sums per action", () => {
    const copies = [copyDelta(scratch, s3("STANDARD"), GIB), copyDelta(scratch, s3("STANDARD"), 3 * GIB)];
    const sum = sumDeltas([...copies, releaseDelta(scratch, 4 * GIB)]);
    expectDelta(sum, 4 * 0.023 - 40 / 1024, { requests: 0.00001 });
    expectUsd(oneTimeTotal(sum), 0.00001);
  });
});
