import type { Capabilities } from "../backend.js";
import type { SeedClasses } from "../descriptor.js";

/** Access tiers of a block blob; the first is what Strata treats as the default. */
export const AZURE_TIERS = ["Hot", "Cool", "Cold", "Archive"] as const;
export type AzureTier = (typeof AZURE_TIERS)[number];

export const AZURE_CAPABILITIES: Capabilities = {
  storageClasses: AZURE_TIERS,
  archiveClasses: ["Archive"],
  userMetadata: true,
  fileAttributes: false,
  serverSideCopy: true,
};

export const AZURE_SEED_CLASSES: SeedClasses = { archive: "Archive", cool: "Cool", hot: "Hot" };
