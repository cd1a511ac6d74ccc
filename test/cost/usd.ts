import { expect } from "vitest";

export const KIB = 1024;
export const GIB = 1024 ** 3;

/** Money equal to rounding: prices multiply decimals that binary floats cannot hold exactly. */
export function expectUsd(actual: number, expected: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(
    1e-15 + 1e-9 * Math.abs(expected),
  );
}
