import { HOUR_MS, KIB, type PriceProfile } from "../profile.js";

/**
 * Amazon S3, US East (N. Virginia), first 50 TB tier, on-demand list prices.
 * Source: https://aws.amazon.com/s3/pricing/ — read 2026-11-24 through pages that quote it
 * (the page itself renders its figures by script): storage and retrieval per GB from a cost
 * guide dated May 2026 (usage.ai), request prices from c3x.dev's request matrix, restore
 * latencies from https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html.
 * Figures marked "well-known" were not found in what search returned and are the long-standing list price.
 */
const MIN_IA_OBJECT = 128 * KIB;
/** GLACIER and DEEP_ARCHIVE: a 32 KiB index billed at the class rate, 8 KiB of metadata at STANDARD. */
const ARCHIVE_OVERHEAD = { classBytes: 32 * KIB, defaultClassBytes: 8 * KIB };

export const AWS_PROFILE: PriceProfile = {
  name: "aws",
  region: "us-east-1",
  source: "https://aws.amazon.com/s3/pricing/",
  asOf: "2026-11-24",
  defaultClass: "STANDARD",
  flat: false,
  // Data transfer out to the internet, first 10 TB/month after the free 100 GB (well-known).
  egressPerGB: 0.09,
  classes: {
    STANDARD: {
      storagePerGBMonth: 0.023,
      minStorageDays: 0,
      minBillableBytes: 0,
      putPer1000: 0.005,
      getPer1000: 0.0004,
      // Lifecycle never moves objects up to STANDARD: getting there is a COPY, priced as a PUT.
      transitionPer1000: 0.005,
      retrievalPerGB: 0,
    },
    INTELLIGENT_TIERING: {
      // Priced as its Frequent Access tier: where AWS moves an object later is not ours to predict.
      storagePerGBMonth: 0.023,
      minStorageDays: 0,
      minBillableBytes: 0,
      // $0.0025 per 1,000 objects a month; objects under 128 KiB are not monitored (well-known).
      monitoring: { per1000ObjectsMonth: 0.0025, minBytes: MIN_IA_OBJECT },
      putPer1000: 0.005,
      getPer1000: 0.0004,
      transitionPer1000: 0.01, // well-known
      retrievalPerGB: 0,
    },
    STANDARD_IA: {
      storagePerGBMonth: 0.0125,
      minStorageDays: 30,
      minBillableBytes: MIN_IA_OBJECT,
      putPer1000: 0.01,
      getPer1000: 0.001,
      transitionPer1000: 0.01,
      retrievalPerGB: 0.01,
    },
    ONEZONE_IA: {
      storagePerGBMonth: 0.01,
      minStorageDays: 30,
      minBillableBytes: MIN_IA_OBJECT,
      putPer1000: 0.01,
      getPer1000: 0.001,
      transitionPer1000: 0.01,
      retrievalPerGB: 0.01,
    },
    GLACIER_IR: {
      storagePerGBMonth: 0.004,
      minStorageDays: 90,
      minBillableBytes: MIN_IA_OBJECT,
      putPer1000: 0.02,
      getPer1000: 0.01,
      transitionPer1000: 0.02, // well-known
      retrievalPerGB: 0.03,
    },
    GLACIER: {
      storagePerGBMonth: 0.0036,
      minStorageDays: 90,
      minBillableBytes: 0,
      overhead: ARCHIVE_OVERHEAD,
      putPer1000: 0.03,
      getPer1000: 0.0004,
      transitionPer1000: 0.03, // well-known
      retrievalPerGB: 0,
      archive: {
        tiers: {
          // Restore request prices per 1,000 ($10 expedited, $0.05 standard) from AWS re:Post's worked example.
          expedited: { perGB: 0.03, per1000: 10, latencyMs: 5 * 60_000 },
          standard: { perGB: 0.01, per1000: 0.05, latencyMs: 5 * HOUR_MS },
          bulk: { perGB: 0, per1000: 0, latencyMs: 12 * HOUR_MS },
        },
      },
    },
    DEEP_ARCHIVE: {
      storagePerGBMonth: 0.00099,
      minStorageDays: 180,
      minBillableBytes: 0,
      overhead: ARCHIVE_OVERHEAD,
      putPer1000: 0.05, // well-known
      getPer1000: 0.0004,
      transitionPer1000: 0.05, // well-known
      retrievalPerGB: 0,
      archive: {
        tiers: {
          // Per-1,000 restore request prices ($0.10, $0.025) are well-known; per-GB ones were confirmed.
          standard: { perGB: 0.02, per1000: 0.1, latencyMs: 12 * HOUR_MS },
          bulk: { perGB: 0.0025, per1000: 0.025, latencyMs: 48 * HOUR_MS },
        },
      },
    },
  },
};
