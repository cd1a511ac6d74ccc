import { describe, expect, it } from "vitest";
import { breakEvenMonth, cumulative, projectLinear, returnOnInvestment } from "../../src/cost/forecast.js";
import { expectUsd } from "./usd.js";

/*
 * A migration worked by hand: as-is $1,000 a month growing $10 a month; with the policies $600
 * a month growing $6 a month (the same growth at the post-plan rate); $3,000 paid once.
 * Saving in month m = 400 + 4 (m − 1); cumulative saving after m months = 400 m + 2 m (m − 1).
 *   m = 7: 2,800 + 84 = 2,884 < 3,000;  m = 8: 3,200 + 112 = 3,312 ≥ 3,000 → break-even month 8.
 * 36 months: as-is Σ = 36 × 1,000 + 10 × (35 × 36 / 2) = 36,000 + 6,300 = 42,300;
 *            with Σ = 36 × 600 + 6 × 630 = 21,600 + 3,780 = 25,380.
 * 60 months: as-is Σ = 60,000 + 10 × 1,770 = 77,700; with Σ = 36,000 + 6 × 1,770 = 46,620.
 * ROI over 36 months = (42,300 − 25,380 − 3,000) / 3,000 = 13,920 / 3,000 = 4.64.
 */
describe("forecast arithmetic", () => {
  const asIs = projectLinear({ base: 1000, perMonth: 10 }, 60);
  const withPolicies = projectLinear({ base: 600, perMonth: 6 }, 60);

  it("projects linear growth from month 1", () => {
    expect(asIs.slice(0, 3)).toEqual([1000, 1010, 1020]);
    expect(asIs[59]).toBe(1590);
  });

  it("adds up 3- and 5-year totals", () => {
    expectUsd(cumulative(asIs, 36), 42_300);
    expectUsd(cumulative(withPolicies, 36), 25_380);
    expectUsd(cumulative(asIs, 60), 77_700);
    expectUsd(cumulative(withPolicies, 60), 46_620);
    expectUsd(cumulative(asIs), 77_700);
  });

  it("breaks even in the first month whose cumulative saving covers the one-time cost", () => {
    expect(breakEvenMonth(asIs, withPolicies, 3000)).toBe(8);
    expect(breakEvenMonth(asIs, withPolicies, 3312)).toBe(8);
    expect(breakEvenMonth(asIs, withPolicies, 3312.01)).toBe(9);
    // Never within the horizon: 7 months save 2,884.
    expect(breakEvenMonth(asIs.slice(0, 7), withPolicies.slice(0, 7), 3000)).toBeUndefined();
    // A plan that costs more every month never breaks even.
    expect(breakEvenMonth(withPolicies, asIs, 1)).toBeUndefined();
  });

  it("returns the saving net of the one-time cost per dollar of it", () => {
    expectUsd(returnOnInvestment(42_300, 25_380, 3000) as number, 4.64);
    expect(returnOnInvestment(42_300, 25_380, 0)).toBeUndefined();
  });
});
