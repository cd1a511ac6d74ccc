import type { Capabilities } from "../backend.js";
import type { SeedClasses } from "../descriptor.js";

/** GCS reads every class directly, ARCHIVE included, so nothing ever needs a restore. */
export const GCS_STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"] as const;

export const GCS_CAPABILITIES: Capabilities = {
  storageClasses: GCS_STORAGE_CLASSES,
  archiveClasses: [],
  userMetadata: true,
  fileAttributes: false,
  serverSideCopy: true,
};

export const GCS_SEED_CLASSES: SeedClasses = { archive: "ARCHIVE", cool: "NEARLINE", hot: "STANDARD" };
