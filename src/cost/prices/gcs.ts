import type { PriceProfile } from "../profile.js";

/**
 * Google Cloud Storage, region us-east1 (South Carolina), list prices.
 * Source: https://cloud.google.com/storage/pricing — read 2026-11-24: storage per GB-month for
 * us-east1 from the page's own table (archived copies), minimum durations (30/90/365 days) and
 * retrieval per GB from it and Google's storage-class documentation. Operation prices (Class A
 * writes, Class B reads, per 1,000) are the well-known regional list prices. A lifecycle
 * SetStorageClass is billed as a Class A operation at the destination class's rate. Every
 * class, ARCHIVE included, is read directly: nothing here must be thawed.
 */
export const GCS_PROFILE: PriceProfile = {
  name: "gcs",
  region: "us-east1",
  source: "https://cloud.google.com/storage/pricing",
  asOf: "2026-11-24",
  defaultClass: "STANDARD",
  flat: false,
  // Premium-tier internet egress, first TB a month, worldwide except China and Australia (well-known).
  egressPerGB: 0.12,
  classes: {
    STANDARD: {
      storagePerGBMonth: 0.02,
      minStorageDays: 0,
      minBillableBytes: 0,
      putPer1000: 0.005,
      getPer1000: 0.0004,
      transitionPer1000: 0.005,
      retrievalPerGB: 0,
    },
    NEARLINE: {
      storagePerGBMonth: 0.01,
      minStorageDays: 30,
      minBillableBytes: 0,
      putPer1000: 0.01,
      getPer1000: 0.001,
      transitionPer1000: 0.01,
      retrievalPerGB: 0.01,
    },
    COLDLINE: {
      storagePerGBMonth: 0.004,
      minStorageDays: 90,
      minBillableBytes: 0,
      putPer1000: 0.02,
      getPer1000: 0.01,
      transitionPer1000: 0.02,
      retrievalPerGB: 0.02,
    },
    ARCHIVE: {
      storagePerGBMonth: 0.0012,
      minStorageDays: 365,
      minBillableBytes: 0,
      putPer1000: 0.05,
      getPer1000: 0.05,
      transitionPer1000: 0.05,
      retrievalPerGB: 0.05,
    },
  },
};
