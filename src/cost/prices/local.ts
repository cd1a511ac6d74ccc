import { type ClassPrice, GIB, type PriceProfile } from "../profile.js";
import { AWS_PROFILE } from "./aws.js";

/** A class that bills nothing: the base of the free and the flat profiles. */
export const FREE: ClassPrice = {
  storagePerGBMonth: 0,
  minStorageDays: 0,
  minBillableBytes: 0,
  putPer1000: 0,
  getPer1000: 0,
  transitionPer1000: 0,
  retrievalPerGB: 0,
};

const INSTANT = { perGB: 0, per1000: 0, latencyMs: 0 };

/**
 * The embedded object store (`local:`): S3's class names, nothing billed. GLACIER and
 * DEEP_ARCHIVE still must be restored, instantly as far as prices go (its `restoreDelay` is a
 * testing device, not a service level).
 */
export const LOCAL_PROFILE: PriceProfile = {
  name: "local",
  region: "this machine",
  source: "none: the embedded store costs nothing beyond its disk",
  asOf: "2026-11-24",
  defaultClass: "STANDARD",
  flat: false,
  egressPerGB: 0,
  classes: Object.fromEntries(
    Object.entries(AWS_PROFILE.classes).map(([name, price]) => [
      name,
      price.archive ? { ...FREE, archive: { tiers: { expedited: INSTANT, standard: INSTANT, bulk: INSTANT } } } : FREE,
    ]),
  ),
};

/** What an on-premises tier costs when the config says nothing: $10 per TB-month. */
export const DEFAULT_ONPREM_PER_TB_MONTH = 10;
/** TB here is 1024 GB, as GB is 2^30 bytes throughout. */
export const GB_PER_TB = 1024;

/** The class name of an on-premises profile, which prices every class name the same. */
export const ONPREM_CLASS = "POSIX";

/** A POSIX tree (Lustre, GPFS, BeeGFS, NFS) or any on-premises store: a flat price per TB-month. */
export function onpremProfile(perTBMonth = DEFAULT_ONPREM_PER_TB_MONTH): PriceProfile {
  return {
    name: "onprem",
    region: "on premises",
    source: `configured: $${perTBMonth} per TB-month (${GIB * GB_PER_TB} bytes)`,
    asOf: "2026-11-24",
    defaultClass: ONPREM_CLASS,
    flat: true,
    egressPerGB: 0,
    classes: { [ONPREM_CLASS]: { ...FREE, storagePerGBMonth: perTBMonth / GB_PER_TB } },
  };
}
