import type { Capabilities } from "../backend.js";
import type { SeedClasses } from "../descriptor.js";

/**
 * Amazon S3's storage classes. The embedded store uses the same names, so a policy written
 * against it carries over to S3 unchanged. GLACIER and DEEP_ARCHIVE must be restored before a read.
 */
export const S3_STORAGE_CLASSES = [
  "STANDARD",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER_IR",
  "GLACIER",
  "DEEP_ARCHIVE",
] as const;

export const S3_ARCHIVE_CLASSES: readonly string[] = ["GLACIER", "DEEP_ARCHIVE"];

/** What S3 and the embedded store (which behaves like a bucket) can both do. */
export const S3_CAPABILITIES: Capabilities = {
  storageClasses: S3_STORAGE_CLASSES,
  archiveClasses: S3_ARCHIVE_CLASSES,
  userMetadata: true,
  fileAttributes: false,
  serverSideCopy: true,
};

/** The seed rule's classes in S3's names (the embedded store's too). */
export const S3_SEED_CLASSES: SeedClasses = { archive: "GLACIER", cool: "STANDARD_IA", hot: "STANDARD" };
