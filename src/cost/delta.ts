import type { RestoreTier } from "../backends/backend.js";
import {
  DEFAULT_RESTORE_DAYS,
  earlyDeletionCharge,
  monthlyStorageCost,
  putCost,
  readCost,
  restoredCopyCost,
  retrievalCost,
  transitionCost,
} from "./model.js";
import { classPrice, GIB, type PriceProfile } from "./profile.js";

/*
 * What one planned action does to the bill, per object: the change in the monthly storage
 * charge, and the one-time charges apart. A plan's figures are sums of these (sumDeltas).
 */

export interface OneTimeCosts {
  /** PUT, COPY, transition and restore requests. */
  requests: number;
  earlyDeletion: number;
  /** Per-GB retrieval and GET fees of reading the source, restores included. */
  retrieval: number;
  /** Transfer out of the source's provider. */
  egress: number;
}

export interface CostDelta {
  monthly: number;
  oneTime: OneTimeCosts;
}

/** Where an object is, as far as prices go; no class means the profile's default. */
export interface Placement {
  profile: PriceProfile;
  storageClass?: string | undefined;
}

const NONE: OneTimeCosts = { requests: 0, earlyDeletion: 0, retrieval: 0, egress: 0 };

/**
 * A new replica: its storage every month; once, the PUT, the read of the source and, when the
 * bytes leave the source's provider, its egress (copies within one profile are taken to stay in
 * one region, where transfer is free). An archived source is read as its restored copy: the thaw
 * is a restore action of its own.
 */
export function copyDelta(from: Placement, to: Placement, sizeBytes: number): CostDelta {
  const leaves = from.profile.name !== to.profile.name;
  return {
    monthly: monthlyStorageCost(to.profile, to.storageClass, sizeBytes),
    oneTime: {
      ...NONE,
      requests: putCost(to.profile, to.storageClass),
      retrieval: readCost(from.profile, from.storageClass, sizeBytes),
      egress: leaves ? (sizeBytes / GIB) * from.profile.egressPerGB : 0,
    },
  };
}

/** A class change in place: the new class's storage less the old's; once, the move and early deletion. */
export function transitionDelta(
  at: PriceProfile,
  fromClass: string | undefined,
  toClass: string | undefined,
  sizeBytes: number,
  ageDays: number,
): CostDelta {
  const move = transitionCost(at, fromClass, toClass, sizeBytes);
  return {
    monthly: monthlyStorageCost(at, toClass, sizeBytes) - monthlyStorageCost(at, fromClass, sizeBytes),
    oneTime: {
      ...NONE,
      requests: move.requests,
      retrieval: move.retrieval,
      earlyDeletion: earlyDeletionCharge(at, fromClass, ageDays, sizeBytes),
    },
  };
}

/** Releasing a POSIX file to a stub: its on-premises storage stops; nothing is paid once. */
export function releaseDelta(source: Placement, sizeBytes: number): CostDelta {
  return { monthly: -monthlyStorageCost(source.profile, source.storageClass, sizeBytes), oneTime: { ...NONE } };
}

/** Deleting (or purging) an object: its storage stops; once, the early-deletion charge. */
export function deleteDelta(at: Placement, sizeBytes: number, ageDays: number): CostDelta {
  return {
    monthly: -monthlyStorageCost(at.profile, at.storageClass, sizeBytes),
    oneTime: { ...NONE, earlyDeletion: earlyDeletionCharge(at.profile, at.storageClass, ageDays, sizeBytes) },
  };
}

/**
 * Bringing an object back to `to` (a released POSIX path, or --to DIR): a copy whose read of an
 * archived source includes the thaw at `tier` (default: the cheapest) and the restored copy
 * kept `days` at the source.
 */
export function restoreDelta(
  from: Placement,
  to: Placement,
  sizeBytes: number,
  tier?: RestoreTier,
  days = DEFAULT_RESTORE_DAYS,
): CostDelta {
  const copy = copyDelta(from, to, sizeBytes);
  let retrieval = retrievalCost(from.profile, from.storageClass, sizeBytes, tier);
  if (classPrice(from.profile, from.storageClass).archive) retrieval += restoredCopyCost(from.profile, sizeBytes, days);
  return { ...copy, oneTime: { ...copy.oneTime, retrieval } };
}

export function sumDeltas(deltas: Iterable<CostDelta>): CostDelta {
  const sum: CostDelta = { monthly: 0, oneTime: { ...NONE } };
  for (const delta of deltas) {
    sum.monthly += delta.monthly;
    for (const key of Object.keys(NONE) as (keyof OneTimeCosts)[]) sum.oneTime[key] += delta.oneTime[key];
  }
  return sum;
}

export function oneTimeTotal(delta: CostDelta): number {
  const { requests, earlyDeletion, retrieval, egress } = delta.oneTime;
  return requests + earlyDeletion + retrieval + egress;
}
