import type { RestoreTier } from "../backends/backend.js";
import { UsageError } from "../config/errors.js";

/**
 * What a price profile says about one storage class. Money is USD; "GB" is 2^30 bytes, as
 * the providers bill it (GCS says GiB outright); a month is 30 days wherever days are prorated.
 */
export interface ClassPrice {
  storagePerGBMonth: number;
  /** Deleting or moving an object younger than this is billed as if it had stayed this long. */
  minStorageDays: number;
  /** Smaller objects are billed as this size (128 KiB on the S3 IA classes and GLACIER_IR). */
  minBillableBytes: number;
  /**
   * Bytes billed per object on top of its size (S3 GLACIER and DEEP_ARCHIVE keep an index of
   * 32 KiB at the class's rate and 8 KiB of metadata at the profile's default class rate).
   */
  overhead?: { classBytes: number; defaultClassBytes: number };
  /** S3 INTELLIGENT_TIERING's monitoring fee, only on objects of `minBytes` and more. */
  monitoring?: { per1000ObjectsMonth: number; minBytes: number };
  /** PUT, COPY, POST, LIST: an upload into this class, or a copy that rewrites into it. */
  putPer1000: number;
  /** GET: one read of an object in this class (after its restore, for an archive class). */
  getPer1000: number;
  /** A lifecycle (or set-tier) move into this class from a warmer one. */
  transitionPer1000: number;
  /** Per GB read, for classes read directly (IA, GLACIER_IR, Cool, Nearline, …). */
  retrievalPerGB: number;
  /** Present on classes that must be thawed before a read: the restore tiers they offer. */
  archive?: { tiers: Partial<Record<RestoreTier, RestoreTierPrice>> };
}

export interface RestoreTierPrice {
  perGB: number;
  per1000: number;
  /** How long the provider says a restore at this tier takes, at most or typically. */
  latencyMs: number;
}

/** The profiles a location can be priced by (its URL's, or its `price.profile`). */
export const PROFILE_NAMES = ["aws", "azure", "gcs", "local", "onprem"] as const;
export type LocationProfileName = (typeof PROFILE_NAMES)[number];
/**
 * On-premises media priced per TB-year from published research-computing rates
 * (prices/onprem.ts): what `strata cost compare` sets beside the clouds. Not a location's
 * profile: a POSIX tree's own price is `onprem` (perTBMonth).
 */
export const ONPREM_MEDIA = ["disk", "tape"] as const;
export type OnpremMedium = (typeof ONPREM_MEDIA)[number];
export type ProfileName = LocationProfileName | OnpremMedium;

export interface PriceProfile {
  name: ProfileName;
  /** Which region and redundancy the figures are for. */
  region: string;
  /** Where the figures were read, and when. */
  source: string;
  asOf: string;
  defaultClass: string;
  /** Every class name costs the same (a POSIX tree, an on-premises store): names are not checked. */
  flat: boolean;
  /** Data transfer out to the internet, per GB (the first tier of the provider's table). */
  egressPerGB: number;
  classes: Record<string, ClassPrice>;
}

export const GIB = 1024 ** 3;
export const KIB = 1024;
export const DAYS_PER_MONTH = 30;
export const HOUR_MS = 3_600_000;

/** A class name as the profile spells it; undefined means the profile's default class. */
export function resolveClass(profile: PriceProfile, storageClass: string | undefined): string {
  if (storageClass === undefined || profile.flat) return profile.defaultClass;
  if (profile.classes[storageClass]) return storageClass;
  const folded = Object.keys(profile.classes).find((name) => name.toLowerCase() === storageClass.toLowerCase());
  if (folded) return folded;
  throw new UsageError(
    `storage class "${storageClass}" has no price in profile ${profile.name} (${Object.keys(profile.classes).join(", ")})`,
  );
}

export function classPrice(profile: PriceProfile, storageClass: string | undefined): ClassPrice {
  return profile.classes[resolveClass(profile, storageClass)] as ClassPrice;
}
