/**
 * Strata's cost model: price profiles and pure functions over them. Money is USD as plain
 * numbers, "GB" is 2^30 bytes, a month is 30 days; every function prices ONE object.
 * docs/cost-model.md gives the price table's sources, the formulas and the assumptions.
 *
 * Profiles
 *   profileFor({ kind, url, price? })   the location's profile: the one its backend's descriptor
 *                                       names (s3 → aws, azure, gcs, local, posix → onprem)
 *                                       merged with its `price:` (priceOverrideSchema, in
 *                                       locationSchema); throws UsageError on a class it lacks
 *   AWS_PROFILE, AZURE_PROFILE, GCS_PROFILE, LOCAL_PROFILE, onpremProfile(perTBMonth = 10)
 *   resolveClass(profile, name?)        a class as the profile spells it (default when absent)
 *   mediumProfiles(costs, nowMs)        on-premises disk and tape per TB-year (prices/onprem.ts),
 *                                       published rates or strata.yaml's `costs.onprem` (costsSchema)
 *
 * Prices of one object
 *   monthlyStorageCost(profile, class, bytes)       minimum billable size, overhead, monitoring
 *   putCost, transitionCost(profile, from, to, bytes) → { requests, retrieval }
 *   earlyDeletionCharge(profile, class, ageDays, bytes)
 *   readCost, restoreCost(…, tier), retrievalCost(profile, class, bytes, tier?)
 *   restoredCopyCost(profile, bytes, days = 1)      a thawed copy kept at the default class
 *   repackCost(profile, { size, newSize, … })       whether rewriting a pack's live members pays
 *   cheapestRetrieval(profile, class, bytes, maxLatencyMs?) → { cost, tier?, latencyMs } | undefined
 *
 * Placement
 *   seedClass({ size, atimeUs }, nowMs, classes)   the seed's rule, in a backend's seedClasses
 *   accessRateEstimate({ atimeUs, mtimeUs }, nowMs) expected reads per month
 *   chooseClass(input, profile) → { class, move, costs, excluded }   cost tiering over a horizon
 *
 * Cohorts (many like objects priced at once, exactly as one by one: cohort.ts)
 *   CohortTally, sizeThresholds(profiles), cohortMonthlyStorage, restoreTierFor(…, wanted?)
 *
 * Plan figures (per object; add them up with sumDeltas)
 *   copyDelta, transitionDelta, releaseDelta, deleteDelta (delete and purge), restoreDelta
 *   → { monthly, oneTime: { requests, earlyDeletion, retrieval, egress } }; oneTimeTotal
 */
export {
  type Cohort,
  CohortTally,
  cohortMonthlyStorage,
  restoreFees,
  restoreTierFor,
  sizeThresholds,
} from "./cohort.js";
export { type CostsConfig, costsSchema, mediumProfiles } from "./costs-config.js";
export {
  type CostDelta,
  copyDelta,
  deleteDelta,
  type OneTimeCosts,
  oneTimeTotal,
  type Placement,
  releaseDelta,
  restoreDelta,
  sumDeltas,
  transitionDelta,
} from "./delta.js";
export {
  accessRateEstimate,
  type ClassChoice,
  type ClassChoiceInput,
  type ClassCost,
  cheapestRetrieval,
  chooseClass,
  DEFAULT_RESTORE_DAYS,
  earlyDeletionCharge,
  MAX_ACCESSES_PER_MONTH,
  type MoveCost,
  monthlyStorageCost,
  NEVER_READ_ACCESSES_PER_MONTH,
  putCost,
  type Retrieval,
  readCost,
  restoreCost,
  restoredCopyCost,
  retrievalCost,
  seedClass,
  transitionCost,
} from "./model.js";
export {
  type ClassPriceOverride,
  impliedProfile,
  type PricedLocation,
  type PriceOverride,
  priceOverrideSchema,
  profileFor,
} from "./override.js";
export { AWS_PROFILE } from "./prices/aws.js";
export { AZURE_PROFILE } from "./prices/azure.js";
export { GCS_PROFILE } from "./prices/gcs.js";
export { DEFAULT_ONPREM_PER_TB_MONTH, LOCAL_PROFILE, onpremProfile } from "./prices/local.js";
export { DEFAULT_MEDIUM_PRICES, type MediumPrice, mediumProfile } from "./prices/onprem.js";
export {
  type ClassPrice,
  type OnpremMedium,
  type PriceProfile,
  type ProfileName,
  type RestoreTierPrice,
  resolveClass,
} from "./profile.js";
export { type RepackCost, type RepackInput, repackCost } from "./repack.js";
