/*
 * Forecast arithmetic: pure functions of monthly figures, no catalog. Month 1 is the month
 * starting now; a series holds one figure per month, month m at index m − 1.
 * docs/cost-model.md ("Forecast") gives the formulas in words.
 */

/** A monthly cost that changes by the same amount every month: base in month 1, + perMonth each month after. */
export interface LinearCost {
  base: number;
  perMonth: number;
}

/** cost(m) = base + perMonth × (m − 1), for m = 1..months. */
export function projectLinear(cost: LinearCost, months: number): number[] {
  return Array.from({ length: months }, (_, i) => cost.base + cost.perMonth * i);
}

/** The sum of the first `months` figures of a series (all of it when shorter). */
export function cumulative(series: readonly number[], months = series.length): number {
  let sum = 0;
  for (let i = 0; i < Math.min(months, series.length); i++) sum += series[i] as number;
  return sum;
}

/**
 * The first month m whose cumulative saving, Σ_{k ≤ m} (asIs(k) − withPolicies(k)), covers the
 * one-time cost; undefined when it never does within the series.
 */
export function breakEvenMonth(
  asIs: readonly number[],
  withPolicies: readonly number[],
  oneTime: number,
): number | undefined {
  let saved = 0;
  for (let i = 0; i < Math.min(asIs.length, withPolicies.length); i++) {
    saved += (asIs[i] as number) - (withPolicies[i] as number);
    if (saved >= oneTime) return i + 1;
  }
  return undefined;
}

/**
 * Return on the one-time cost over a horizon: (Σ as-is − Σ with policies − one-time) / one-time,
 * the monthly sums over the same months. Undefined without a one-time cost (nothing invested).
 */
export function returnOnInvestment(asIsTotal: number, withPoliciesTotal: number, oneTime: number): number | undefined {
  if (!(oneTime > 0)) return undefined;
  return (asIsTotal - withPoliciesTotal - oneTime) / oneTime;
}
