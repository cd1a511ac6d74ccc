import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { ByteBudget } from "../../src/transfer/byte-budget.js";

describe("ByteBudget", () => {
  it("never lets holders exceed the cap, whatever the mix", async () => {
    const budget = new ByteBudget(100);
    let held = 0;
    let maxHeld = 0;
    const sizes = [60, 1, 1, 90, 5, 40, 40, 1, 100, 30, 3];
    await Promise.all(
      sizes.map(async (size, i) => {
        const granted = await budget.acquire(size);
        held += granted;
        maxHeld = Math.max(maxHeld, held);
        await sleep(1 + (i % 3));
        held -= granted;
        budget.release(granted);
      }),
    );
    expect(maxHeld).toBeLessThanOrEqual(100);
    expect(budget.peak).toBe(maxHeld);
  });

  it("serves waiters first come, first served, so a large one is not starved by small ones", async () => {
    const budget = new ByteBudget(10);
    const order: string[] = [];
    const first = await budget.acquire(8);
    const large = budget.acquire(10).then(() => order.push("large"));
    const small = budget.acquire(1).then(() => order.push("small"));
    budget.release(first);
    await large;
    expect(order).toEqual(["large"]);
    budget.release(10);
    await small;
    expect(order).toEqual(["large", "small"]);
  });

  it("grants a request larger than the whole budget alone, rather than never", async () => {
    const budget = new ByteBudget(10);
    expect(await budget.acquire(50)).toBe(10);
  });
});
