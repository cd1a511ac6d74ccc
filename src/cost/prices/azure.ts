import { HOUR_MS, type PriceProfile } from "../profile.js";

/**
 * Azure Blob Storage, block blobs in a general-purpose v2 account, LRS, East US, first 50 TB,
 * pay-as-you-go. Source: https://azure.microsoft.com/en-us/pricing/details/storage/blobs/ —
 * read 2026-11-24 through copies of its table (storage per GB, operations per 10,000 and
 * retrieval per GB for Hot, Cool, Cold and Archive); early-deletion periods and rehydration
 * times from https://learn.microsoft.com/en-us/azure/storage/blobs/access-tiers-overview and
 * …/archive-rehydrate-overview. Azure quotes operations per 10,000; they are per 1,000 here.
 * A move to a cooler tier (Set Blob Tier) is billed as a write to the destination tier.
 */
export const AZURE_PROFILE: PriceProfile = {
  name: "azure",
  region: "eastus (LRS)",
  source: "https://azure.microsoft.com/en-us/pricing/details/storage/blobs/",
  asOf: "2026-11-24",
  defaultClass: "Hot",
  flat: false,
  // Internet egress over Microsoft's network, first 10 TB after the free 100 GB (well-known).
  egressPerGB: 0.087,
  classes: {
    Hot: {
      storagePerGBMonth: 0.018,
      minStorageDays: 0,
      minBillableBytes: 0,
      putPer1000: 0.0065,
      getPer1000: 0.0005,
      transitionPer1000: 0.0065,
      retrievalPerGB: 0,
    },
    Cool: {
      storagePerGBMonth: 0.01,
      minStorageDays: 30,
      minBillableBytes: 0,
      putPer1000: 0.013,
      getPer1000: 0.0013,
      transitionPer1000: 0.013,
      retrievalPerGB: 0.01,
    },
    Cold: {
      storagePerGBMonth: 0.0036,
      minStorageDays: 90,
      minBillableBytes: 0,
      putPer1000: 0.0234,
      getPer1000: 0.013,
      transitionPer1000: 0.0234,
      retrievalPerGB: 0.03,
    },
    Archive: {
      storagePerGBMonth: 0.00099,
      minStorageDays: 180,
      minBillableBytes: 0,
      putPer1000: 0.013,
      // A rehydrated blob is read as a Hot blob; the archive read itself is the restore's per-1,000 price.
      getPer1000: 0.0005,
      transitionPer1000: 0.013,
      retrievalPerGB: 0,
      archive: {
        tiers: {
          // High priority: "may complete in under one hour" for blobs under 10 GB. Its prices
          // ($0.10/GB, $65 per 10,000 reads) are well-known, not confirmed by search.
          expedited: { perGB: 0.1, per1000: 6.5, latencyMs: HOUR_MS },
          // Standard priority: "may take up to 15 hours".
          standard: { perGB: 0.02, per1000: 0.65, latencyMs: 15 * HOUR_MS },
        },
      },
    },
  },
};
