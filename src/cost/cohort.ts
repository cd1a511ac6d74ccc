import type { RestoreTier } from "../backends/backend.js";
import { classPrice, GIB, type PriceProfile, type RestoreTierPrice, resolveClass } from "./profile.js";

/*
 * Many objects priced at once, exactly as pricing each one and adding up would (model.ts): a
 * cohort keeps, for each minimum billable size that matters, the sum of its objects' sizes
 * raised to it and how many reach it. Memory is one cohort per group, whatever the file count.
 */

export interface Cohort {
  objects: number;
  bytes: number;
  /** Σ max(size, minBytes): the bytes billed where objects under minBytes are billed as minBytes. */
  raisedBytes(minBytes: number): number;
  /** How many objects are minBytes or larger (INTELLIGENT_TIERING monitors only those). */
  objectsAtLeast(minBytes: number): number;
}

/** Every size threshold a profile's classes price by: what a cohort must keep for them. */
export function sizeThresholds(profiles: readonly PriceProfile[]): number[] {
  const sizes = new Set<number>();
  for (const profile of profiles) {
    for (const price of Object.values(profile.classes)) {
      if (price.minBillableBytes > 0) sizes.add(price.minBillableBytes);
      if (price.monitoring) sizes.add(price.monitoring.minBytes);
    }
  }
  return [...sizes].sort((a, b) => a - b);
}

/** A cohort built object by object (the rows of a query, streamed). */
export class CohortTally implements Cohort {
  objects = 0;
  bytes = 0;
  private readonly raised = new Map<number, number>();
  private readonly atLeast = new Map<number, number>();

  constructor(readonly thresholds: readonly number[]) {
    for (const size of thresholds) {
      this.raised.set(size, 0);
      this.atLeast.set(size, 0);
    }
  }

  add(size: number): void {
    this.objects += 1;
    this.bytes += size;
    for (const threshold of this.thresholds) {
      this.raised.set(threshold, (this.raised.get(threshold) as number) + Math.max(size, threshold));
      if (size >= threshold) this.atLeast.set(threshold, (this.atLeast.get(threshold) as number) + 1);
    }
  }

  raisedBytes(minBytes: number): number {
    if (minBytes === 0) return this.bytes;
    return known(this.raised.get(minBytes), minBytes);
  }

  objectsAtLeast(minBytes: number): number {
    if (minBytes === 0) return this.objects;
    return known(this.atLeast.get(minBytes), minBytes);
  }
}

function known(value: number | undefined, threshold: number): number {
  if (value === undefined) throw new Error(`cohort does not track objects against ${threshold} bytes`);
  return value;
}

/** Σ monthlyStorageCost over the cohort: billable sizes, per-object index and metadata, monitoring. */
export function cohortMonthlyStorage(profile: PriceProfile, storageClass: string | undefined, cohort: Cohort): number {
  const price = classPrice(profile, storageClass);
  const classBytes = cohort.raisedBytes(price.minBillableBytes) + cohort.objects * (price.overhead?.classBytes ?? 0);
  let cost = (classBytes / GIB) * price.storagePerGBMonth;
  if (price.overhead) {
    const metadataBytes = cohort.objects * price.overhead.defaultClassBytes;
    cost += (metadataBytes / GIB) * classPrice(profile, undefined).storagePerGBMonth;
  }
  if (price.monitoring) {
    cost += (cohort.objectsAtLeast(price.monitoring.minBytes) * price.monitoring.per1000ObjectsMonth) / 1000;
  }
  return cost;
}

/** Restoring `objects` objects of `bytes` in all at one tier: per-request and per-GB fees. */
export function restoreFees(tier: RestoreTierPrice, objects: number, bytes: number): number {
  return (objects * tier.per1000) / 1000 + (bytes / GIB) * tier.perGB;
}

export interface TierChoice {
  tier: RestoreTier;
  cost: number;
  /** The tier asked for, when the class does not offer it. */
  lacking?: RestoreTier;
}

/**
 * The restore of `objects` objects (`bytes` in all) from an archive class: at `wanted` when the
 * class offers it, else (or when nothing is asked) at the tier that costs least for these.
 * Undefined for a class read directly.
 */
export function restoreTierFor(
  profile: PriceProfile,
  storageClass: string | undefined,
  objects: number,
  bytes: number,
  wanted?: RestoreTier,
): TierChoice | undefined {
  const tiers = classPrice(profile, storageClass).archive?.tiers;
  if (!tiers) return undefined;
  const offered = wanted === undefined ? undefined : tiers[wanted];
  if (wanted !== undefined && offered) return { tier: wanted, cost: restoreFees(offered, objects, bytes) };
  let best: TierChoice | undefined;
  for (const [tier, price] of Object.entries(tiers) as [RestoreTier, RestoreTierPrice][]) {
    const cost = restoreFees(price, objects, bytes);
    if (!best || cost < best.cost) best = { tier, cost };
  }
  if (!best) throw new Error(`${resolveClass(profile, storageClass)} offers no restore tier`);
  return wanted === undefined ? best : { ...best, lacking: wanted };
}
