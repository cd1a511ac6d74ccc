import { earlyDeletionCharge, monthlyStorageCost, putCost } from "./model.js";
import { classPrice, DAYS_PER_MONTH, GIB, type PriceProfile } from "./profile.js";

/** One pack as `pack gc` weighs it: its bytes, the bytes still referenced, and its age in its class. */
export interface RepackInput {
  storageClass: string | undefined;
  /** Bytes of the pack object now, and of the pack that would replace it (live frames and the tar end). */
  size: number;
  newSize: number;
  /** Ranged reads to rewrite it: one per live frame at most (gc reads adjacent frames in one). */
  liveFrames: number;
  ageDays: number;
  horizonMonths: number;
}

/** What keeping a pack and rewriting it cost over the horizon (USD), and whether rewriting pays. */
export interface RepackCost {
  /** Keeping it: its storage over the horizon, and any minimum duration still unserved at the end. */
  keep: number;
  /** Rewriting it, by part. */
  storage: number;
  earlyDeletion: number;
  requests: number;
  reads: number;
  egress: number;
  /** keep − (storage + earlyDeletion + requests + reads + egress): positive when rewriting saves. */
  saving: number;
  repack: boolean;
}

/**
 * Whether rewriting a pack's live members into a new pack pays over the horizon, as restic's
 * prune decides but priced: the storage it saves against the old pack's early-deletion charge
 * (its minimum duration not yet served), the reads of its live frames (requests, retrieval and
 * egress: gc reads them here) and the two PUTs of the new pack and its index. The new pack's own
 * minimum duration counts against it when the horizon is shorter. A tie rewrites: on a store
 * that bills nothing, rewriting frees disk and costs nothing.
 */
export function repackCost(profile: PriceProfile, input: RepackInput): RepackCost {
  const { storageClass, size, newSize, liveFrames, ageDays, horizonMonths } = input;
  const horizonDays = horizonMonths * DAYS_PER_MONTH;
  const keep =
    monthlyStorageCost(profile, storageClass, size) * horizonMonths +
    earlyDeletionCharge(profile, storageClass, ageDays + horizonDays, size);
  const storage =
    monthlyStorageCost(profile, storageClass, newSize) * horizonMonths +
    earlyDeletionCharge(profile, storageClass, horizonDays, newSize);
  const earlyDeletion = earlyDeletionCharge(profile, storageClass, ageDays, size);
  const requests = putCost(profile, storageClass, 2);
  const price = classPrice(profile, storageClass);
  const reads = (newSize / GIB) * price.retrievalPerGB + (liveFrames * price.getPer1000) / 1000;
  const egress = (newSize / GIB) * profile.egressPerGB;
  const saving = keep - (storage + earlyDeletion + requests + reads + egress);
  return { keep, storage, earlyDeletion, requests, reads, egress, saving, repack: saving >= 0 && newSize < size };
}
