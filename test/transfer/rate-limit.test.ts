import { describe, expect, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { parseBandwidth, rateAt, TokenBucket } from "../../src/transfer/rate-limit.js";
import { RateLimitedBackend } from "../../src/transfer/rate-limited-backend.js";
import { tempDir } from "../support/tmp.js";

const MiB = 1024 * 1024;

describe("bandwidth timetable", () => {
  it("reads a plain rate, a timetable and off", () => {
    expect(parseBandwidth("10M")).toEqual([{ at: 0, bytesPerSecond: 10 * MiB }]);
    expect(parseBandwidth("20:00,off 08:00,100M")).toEqual([
      { at: 8 * 60, bytesPerSecond: 100 * MiB },
      { at: 20 * 60, bytesPerSecond: Number.POSITIVE_INFINITY },
    ]);
  });

  it("refuses what it cannot read", () => {
    for (const bad of ["", "fast", "25:00,1M", "08:00", "08:00,zero", "0"])
      expect(parseBandwidth(bad), bad).toBeUndefined();
  });

  it("applies the entry in force, wrapping past midnight", () => {
    const table = parseBandwidth("08:00,100M 20:00,1M") ?? [];
    const at = (h: number, m: number) => new Date(2026, 0, 1, h, m);
    expect(rateAt(table, at(9, 0))).toBe(100 * MiB);
    expect(rateAt(table, at(20, 0))).toBe(1 * MiB);
    expect(rateAt(table, at(3, 30))).toBe(1 * MiB);
  });
});

describe("TokenBucket", () => {
  it("paces takes to the rate (lower bound: it never runs faster)", async () => {
    const bucket = new TokenBucket(() => 4000);
    const started = Date.now();
    for (let i = 0; i < 6; i++) await bucket.take(2000);
    // 12,000 tokens at 4,000/s with a one-second burst: at least 2 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it("does not wait when the rate is off", async () => {
    const bucket = new TokenBucket(() => Number.POSITIVE_INFINITY);
    const started = Date.now();
    await bucket.take(10 ** 12);
    expect(Date.now() - started).toBeLessThan(100);
  });
});

describe("RateLimitedBackend", () => {
  it("spends one token per request, so --tps caps the request rate", async () => {
    const dir = tempDir();
    const store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
    const limited = new RateLimitedBackend(store, new TokenBucket(() => 4));
    const started = Date.now();
    for (let i = 0; i < 12; i++) await limited.stat(`k${i}`);
    // 12 requests at 4/s with a burst of 4: at least 2 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    await limited.close();
  });
});
